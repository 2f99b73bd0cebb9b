"""Seed 003 in the console: the agent says who is calling; a sign-up is sent to the business team
with the intro e-mail and the call-back promised (Chromium, also 390 px wide)."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from cstrack.calendar import KST
from tickets.models import Action, FollowUp, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_logs_a_business_sign_up_by_who_is_calling(page, login, snap, agent):
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 0, tzinfo=KST), tick=True):  # Monday, in hours
        login(agent)
        page.goto("/tickets/new/")
        page.get_by_label("티켓 유형").select_option(label="비즈니스 이관")
        page.get_by_label("이관 유형").select_option(label="가입 문의 (소개서 메일 발송)")
        page.get_by_label("기업명").fill("한빛물류")
        page.get_by_label("담당자 이름").fill("정담당")
        page.get_by_label("담당자 이메일").fill("biz.contact@hanbit.example")
        page.get_by_label("문의 내용").fill("임직원 업무 이동용 가입 문의")
        page.get_by_label("개인정보 근거").select_option("newly_collected")
        # Who is calling is left out: the server's message appears next to that field.
        page.get_by_role("button", name="접수하기").click()
        caller = page.locator(".field", has=page.get_by_label("문의하신 분"))
        expect(caller.locator(".error")).to_have_text("필수 항목입니다.")
        assert Ticket.objects.count() == 0

        page.get_by_label("문의하신 분").select_option(label="비즈니스 미가입 (가입·도입 문의)")
        page.get_by_role("button", name="접수하기").click()
        expect(page.locator(".messages")).to_contain_text("티켓을 접수했습니다")
        expect(page.locator("#route")).to_have_text("비즈니스팀으로 이관")
        snap("signup-routed")
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator("#route")).to_be_visible()
        snap("signup-routed-390")

    ticket = Ticket.objects.get()
    assert ticket.routed_to == "business_team" and ticket.details["caller_type"] == "prospect"
    actions = set(FollowUp.objects.filter(ticket=ticket).values_list("action", flat=True))
    assert {Action.CUSTOMER_MESSAGE, Action.CALL_BACK} <= actions
