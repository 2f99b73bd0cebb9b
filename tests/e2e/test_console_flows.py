"""The four console flows, end to end in headless Chromium."""

import re

import pytest
import time_machine
from playwright.sync_api import expect

from cstrack import calendar
from tickets.models import EventType, FollowUp, ReContact, Status, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_logs_penalty_request(page, login, snap, agent):
    login(agent)
    expect(page).to_have_url(re.compile(r"/agent/$"))
    page.get_by_role("link", name="티켓 접수", exact=True).click()
    page.get_by_label("티켓 유형").select_option(label="대리 기사 페널티 요청")
    expect(page.get_by_role("group", name="대리 기사 페널티 요청")).to_be_visible()

    page.get_by_label("고객 연락처").fill("010-2222-3333")
    page.get_by_label("기사 ID").fill("DRV-777")
    page.get_by_label("접수 게시판").select_option(label="광주 KMCC")
    page.get_by_label("콜 구분").select_option(label="자사콜(일반)")
    page.get_by_label("이용(발생) 일자").fill("2026-11-20")
    page.get_by_label("신고 내용").fill("배정 후 연락 없이 취소됨")
    page.get_by_label("고객이 조치 결과 회신 요청").check()
    page.get_by_label("본인 확인을 마쳤습니다").check()
    page.get_by_label("개인정보 근거").select_option("newly_collected")
    # The violation is left out: the server's message appears next to that field.
    page.get_by_role("button", name="접수하기").click()
    violation = page.locator(".field", has=page.get_by_label("위반 항목"))
    expect(violation.locator(".error")).to_have_text("필수 항목입니다.")
    snap("form-errors")
    assert Ticket.objects.count() == 0

    page.get_by_label("위반 항목").select_option(label="배정 후 일방 취소/노쇼")
    page.get_by_role("button", name="접수하기").click()

    expect(page.locator(".messages")).to_contain_text("티켓을 접수했습니다")
    ticket = Ticket.objects.get()
    expect(page.get_by_role("heading", level=1)).to_contain_text(ticket.reference)
    expect(page.locator("#masked-phone")).to_contain_text("010-****-3333")
    expect(page.locator("body")).not_to_contain_text("010-2222-3333")
    assert ticket.board.code == "penalty-gwangju"
    assert ticket.details["violation"] == "no_show"
    assert ticket.identity_verified and ticket.consent_basis == "newly_collected"


def test_operations_records_outcome(page, login, snap, operator, make_ticket):
    earlier = make_ticket(driver_id="DRV-100")
    ticket = make_ticket(driver_id="DRV-100")
    login(operator)
    expect(page).to_have_url(re.compile(r"/ops/$"))
    page.get_by_role("link", name=ticket.reference).click()

    history = page.get_by_role("region", name=re.compile("DRV-100 페널티 요청 이력"))
    expect(history).to_contain_text("전체 2건")
    expect(history).to_contain_text(earlier.reference)
    snap("queue-with-history")

    page.get_by_label("결과", exact=True).select_option(label="경고")
    page.get_by_label("사유·메모").fill("1회 경고 후 재교육 예정")
    page.get_by_role("button", name="결과 기록").click()

    expect(page.locator(".messages")).to_contain_text("처리 결과를 기록했습니다")
    ticket.refresh_from_db()
    assert ticket.outcome == "warning"
    assert ticket.status == Status.ACTION_TAKEN
    expect(page).to_have_url(re.compile(r"/ops/\?board=penalty-koc&ticket=" + ticket.reference))


def test_supervisor_reschedules_overdue_followup(page, login, snap, supervisor, make_ticket):
    with time_machine.travel(calendar.days_ago(calendar.now(), 5), tick=False):
        ticket = make_ticket()
    overdue = FollowUp.objects.filter(ticket=ticket).order_by("id").first()
    assert overdue.due_at < calendar.now()

    login(supervisor)
    expect(page).to_have_url(re.compile(r"/supervisor/$"))
    row = page.locator("#overdue tr", has_text=ticket.reference)
    expect(row).to_contain_text("대리 기사 페널티 요청")
    page.get_by_label("게시판", exact=True).select_option(label=ticket.board.name)
    page.get_by_role("button", name="적용").click()
    expect(page.locator("svg.chart")).to_be_visible()
    snap("overdue-queue")
    row.get_by_role("link", name=ticket.reference).click()

    item = page.locator(f'[data-followup="{overdue.pk}"]')
    expect(item).to_contain_text("기한 지남")
    item.get_by_text("기한 변경·취소").click()
    new_due = calendar.to_kst(calendar.after_seconds(calendar.now(), 2 * 86400)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    item.get_by_label("새 기한 (KST)").fill(new_due.strftime("%Y-%m-%dT%H:%M"))
    item.get_by_label("변경 사유").fill("고객 요청으로 안내 일정 연기")
    item.get_by_role("button", name="기한 변경").click()

    expect(page.locator(".messages")).to_contain_text("후속 조치 기한을")
    expect(page.locator(".timeline")).to_contain_text("고객 요청으로 안내 일정 연기")
    overdue.refresh_from_db()
    assert overdue.due_at == new_due
    assert ticket.events.filter(type=EventType.FOLLOWUP, data__change="rescheduled").exists()


def test_agent_offered_matching_ticket_on_repeat_contact(page, login, snap, agent, make_ticket):
    existing = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    login(agent)
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto("/tickets/new/?kind=driver-penalty-request")
    phone = page.get_by_label("고객 연락처")
    phone.press_sequentially("010-9999-0000")  # a wrong number first: nothing offered
    offer = page.locator("#matches")
    page.wait_for_timeout(600)
    expect(offer).to_be_empty()
    phone.fill("")
    phone.press_sequentially("010-1234-5678")

    expect(offer).to_contain_text(existing.reference)
    expect(offer).to_contain_text("재인입으로 기록할까요?")
    snap("offer")
    # The lookup is a POST: the number typed never appears in a URL (history, access logs).
    assert not [u for u in urls if "5678" in u or "0000" in u], urls
    offer.get_by_role("link", name=re.compile("재인입 기록")).click()

    expect(page).to_have_url(re.compile(rf"/tickets/{existing.reference}/#recontact$"))
    page.get_by_label("고객 문의 메모").fill("처리 결과 문의 재인입")
    page.get_by_role("button", name="재인입 기록").click()

    promise = page.locator(".messages .promise")
    expect(promise).to_contain_text("1~2영업일")
    recontact = ReContact.objects.get(ticket=existing)
    expect(promise).to_contain_text(calendar.business_time_label(recontact.promised_by))
    assert Ticket.objects.count() == 1
