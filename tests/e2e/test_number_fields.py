"""A kind with number fields, logged from the console on a phone-sized screen: the browser's
number inputs reach the service as JSON numbers (the API takes nothing else), an out-of-range
amount comes back next to its field with everything typed kept, then the corrected form lands."""

import re

import pytest
from playwright.sync_api import expect

from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_agent_logs_a_season_pass_request_with_amounts(page, login, snap, agent):
    page.set_viewport_size(PHONE)
    login(agent)
    page.goto("/tickets/new/")
    page.get_by_label("티켓 유형").select_option(label="주차 정기권 차량 등록 요청")
    expect(page.get_by_role("group", name="주차 정기권 차량 등록 요청")).to_be_visible()

    page.get_by_label("고객 연락처").fill("010-4444-5555")
    page.get_by_label("차량 번호").fill("12가3456")
    page.get_by_label("주차장").fill("판교역 공영주차장")
    page.get_by_label("정기권 구분").select_option(label="연동")
    page.get_by_label("원인").select_option(label="운영사 정기권 등록 누락")
    page.get_by_label("발생일").fill("2026-11-20")
    page.get_by_label("출차 처리").select_option(label="이미 출차")
    page.get_by_label("정기권 결제액(원)").fill("100000")
    page.get_by_label("정기권 이용 가능 일수").fill("400")  # over the 366 the kind allows
    page.get_by_label("본인 확인을 마쳤습니다").check()
    page.get_by_label("개인정보 근거").select_option("newly_collected")
    page.get_by_label("정기권 이용 가능 일수").evaluate(
        "el => el.removeAttribute('max')"
    )  # the server's check, not the browser's
    page.get_by_role("button", name="접수하기").click()

    days = page.locator(".field", has=page.get_by_label("정기권 이용 가능 일수"))
    expect(days.locator(".error")).to_contain_text("366 이하")
    expect(page.get_by_label("정기권 결제액(원)")).to_have_value("100000")
    expect(page.get_by_label("차량 번호")).to_have_value("12가3456")
    snap("number-field-error-390")
    assert Ticket.objects.count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_label("정기권 이용 가능 일수").fill("30")
    page.get_by_role("button", name="접수하기").click()
    expect(page.locator(".messages")).to_contain_text("티켓을 접수했습니다")
    ticket = Ticket.objects.get()
    expect(page.get_by_role("heading", level=1)).to_contain_text(ticket.reference)
    assert ticket.details["pass_paid_amount"] == 100000 and ticket.details["pass_usable_days"] == 30
    assert page.url.endswith(f"/tickets/{ticket.reference}/") or re.search(ticket.reference, page.url)
