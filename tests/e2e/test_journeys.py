"""The four journeys of docs/console-journeys.md, walked as the role that makes them, counting
clicks and page loads, at a desk (1440 px) and on a phone (390 px). The counts asserted here are
the "after" column of that page; the screenshots are the ones it shows."""

import re

import pytest
from playwright.sync_api import expect

from cstrack import calendar
from tickets.lifecycle import services
from tickets.models import Action, FollowUp, FollowUpState, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desk": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
PHONE = {"customer_phone": "010-8080-2020", "consent_basis": "newly_collected"}


class Counter:
    """Page loads (main-frame navigations after the start) and clicks made by the test."""

    def __init__(self, page):
        self.page, self.loads, self.clicks = page, 0, 0
        page.on("framenavigated", lambda frame: self._navigated(frame))

    def _navigated(self, frame):
        if frame == self.page.main_frame:
            self.loads += 1

    def start(self):
        self.loads, self.clicks = 0, 0

    def click(self, locator):
        self.clicks += 1
        locator.click()
        self.page.wait_for_load_state()


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def width(request, page):
    page.set_viewport_size(WIDTHS[request.param])
    return request.param


def test_log_a_penalty_request(page, login, snap, agent, width):
    login(agent)
    count = Counter(page)
    count.start()
    count.click(page.get_by_role("link", name="티켓 접수", exact=True))
    page.get_by_label("티켓 유형").select_option(label="대리 기사 페널티 요청")
    page.wait_for_load_state()
    count.clicks += 1  # choosing the kind
    page.get_by_label("고객 연락처").fill("010-2222-3333")
    page.get_by_label("기사 ID").fill("DRV-777")
    page.get_by_label("접수 게시판").select_option(label="KOC")
    page.get_by_label("콜 구분").select_option(label="자사콜(일반)")
    page.get_by_label("위반 항목").select_option(label="배정 후 일방 취소/노쇼")
    page.get_by_label("이용(발생) 일자").fill("2026-11-20")
    page.get_by_label("신고 내용").fill("배정 후 연락 없이 취소됨")
    page.get_by_label("개인정보 근거").select_option("newly_collected")
    snap(f"{width}-form")
    count.click(page.get_by_role("button", name="접수하기"))
    expect(page.locator(".messages")).to_contain_text("티켓을 접수했습니다")
    snap(f"{width}-done")
    assert Ticket.objects.count() == 1
    assert (count.clicks, count.loads) == (3, 3)


def test_find_a_customer_history_by_phone(page, login, snap, agent, make_ticket, width):
    older = make_ticket(**PHONE)
    services.ticket_transition(older, to_status="cancelled", actor=services.Actor.for_user(agent), note="중복")
    newer = make_ticket(**PHONE)
    services.ticket_log_recontact(newer, actor=services.Actor.for_user(agent), note="결과 문의 재인입")
    login(agent)
    count = Counter(page)
    count.start()
    box = page.get_by_role("search").get_by_label("티켓·고객 찾기")
    box.fill(PHONE["customer_phone"])
    box.press("Enter")
    page.wait_for_load_state()
    results = page.locator("#search-results")
    expect(results).to_contain_text(older.reference)
    expect(results).to_contain_text(newer.reference)
    expect(page.locator("body")).not_to_contain_text("8080-2020")
    snap(f"{width}-results")
    count.click(page.get_by_role("link", name="이 전화번호의 이력"))
    history = page.locator("#person-history")
    expect(history).to_contain_text("결과 문의 재인입")
    expect(page.locator("h1")).to_contain_text("010-****-2020")
    snap(f"{width}-history")
    assert (count.clicks, count.loads) == (1, 2)


def test_complete_a_callback(page, login, snap, agent, make_ticket, width):
    ticket = make_ticket(**PHONE)
    services.ticket_log_recontact(ticket, actor=services.Actor.for_user(agent), note="처리 결과를 못 받았다고 함")
    fu = FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK)
    FollowUp.objects.filter(pk=fu.pk).update(due_at=calendar.after_seconds(calendar.now(), -600))
    login(agent)  # lands on 내 회신 전화
    count = Counter(page)
    count.start()
    item = page.locator(f'[data-callback="{fu.pk}"]')
    expect(page.locator("#callbacks-overdue")).to_contain_text(ticket.reference)
    expect(item).to_contain_text("처리 결과를 못 받았다고 함")
    snap(f"{width}-list")
    count.click(item.get_by_role("button", name="번호 보기"))
    dial = page.locator(f'[data-callback="{fu.pk}"]').get_by_role("link", name=re.compile("전화 걸기"))
    expect(dial).to_have_attribute("href", "tel:+821080802020")
    snap(f"{width}-revealed")
    count.clicks += 1  # the tel: link hands the number to the phone; no page load
    item = page.locator(f'[data-callback="{fu.pk}"]')
    item.get_by_label("통화 결과").select_option(label="통화함")
    item.get_by_label("통화 메모").fill("결과 안내함")
    count.click(item.get_by_role("button", name="결과 기록"))
    expect(page.locator(".messages")).to_contain_text("회신 전화를 기록했습니다")
    fu.refresh_from_db()
    assert fu.state == FollowUpState.DONE
    assert (count.clicks, count.loads) == (3, 2)


def test_record_an_outcome(page, login, snap, operator, make_ticket, width):
    ticket = make_ticket()
    login(operator)  # lands on the board queue
    count = Counter(page)
    count.start()
    count.click(page.get_by_role("link", name=ticket.reference))
    page.get_by_label("결과", exact=True).select_option(label="경고")
    snap(f"{width}-pane")
    count.click(page.get_by_role("button", name="결과 기록"))
    expect(page.locator(".messages")).to_contain_text("처리 결과를 기록했습니다")
    expect(page.locator("#queue tr", has_text=ticket.reference)).to_have_count(0)  # finished: off the queue
    snap(f"{width}-done")
    assert (count.clicks, count.loads) == (2, 2)


def test_error_paths_on_a_phone(page, login, snap, agent, make_ticket):
    """At 390 px: a reveal without a reason is refused next to the call-back (nothing audited),
    a call-back's result must be one of the list, and a search that finds nothing says so."""
    from tickets.models import EventType, TicketEvent

    page.set_viewport_size(WIDTHS["phone"])
    ticket = make_ticket(**PHONE)
    services.ticket_log_recontact(ticket, actor=services.Actor.for_user(agent), note="재문의")
    fu = FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK)
    login(agent)
    item = page.locator(f'[data-callback="{fu.pk}"]')
    item.get_by_label("조회 사유 (기록됩니다)").fill("")
    item.get_by_role("button", name="번호 보기").click()
    expect(page.locator(f'[data-callback="{fu.pk}"] .error')).to_contain_text("사유를 입력해 주세요")
    snap("reveal-without-reason")
    assert not TicketEvent.objects.filter(type=EventType.CONTACT_REVEALED).exists()
    box = page.get_by_role("search").get_by_label("티켓·고객 찾기")
    box.fill("DRV-없음")
    box.press("Enter")
    expect(page.locator("main")).to_contain_text("일치하는 티켓이 없습니다")
    snap("nothing-found")
