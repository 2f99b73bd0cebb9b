"""Bulk work and the reschedule warning, walked in Chromium as the supervisor who does them.

The "bulk-reassign ten tickets" journey is measured here (clicks, keys and page loads) and the
figures are recorded in docs/console-journeys.md."""

import re
from datetime import datetime

import pytest
import time_machine
from playwright.sync_api import expect

from cstrack import calendar
from notifications.models import Message
from tickets.models import Action, Board, EventType, FollowUp, FollowUpState, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
def loads(page):
    """Counts full page loads of the main frame from the moment it is read."""
    counter = {"n": 0}
    page.on("load", lambda _page: counter.__setitem__("n", counter["n"] + 1))
    return counter


def _overdue(make_ticket, n):
    with time_machine.travel(calendar.days_ago(calendar.now(), 5), tick=False):
        return [make_ticket() for _ in range(n)]


def test_supervisor_bulk_reassigns_ten_tickets(page, login, snap, loads, supervisor, operator, make_ticket):
    tickets = _overdue(make_ticket, 12)
    wanted = tickets[:10]
    page.set_viewport_size(DESKTOP)
    login(supervisor)
    expect(page).to_have_url(re.compile(r"/supervisor/$"))
    loads["n"] = 0
    clicks = keys = 0

    for t in wanted:  # a keyboard user: focus the row's box and press Space
        page.get_by_label(f"{t.reference} 선택").focus()
        page.keyboard.press("Space")
        keys += 1
    expect(page.locator("[data-selected-count=ticket]")).to_have_text("(10건 선택)")
    page.get_by_label("작업").select_option("assign")  # already the default; counted anyway
    clicks += 1
    page.get_by_label("새 담당자").select_option(label=operator.username)
    clicks += 1
    page.get_by_label("사유 (티켓마다 이력에 남습니다)").fill("휴가자 담당 건 재배정")
    keys += 1
    snap("selected")
    page.get_by_role("button", name=re.compile("선택한 티켓 일괄 처리하기")).click()
    clicks += 1
    expect(page.locator(".messages")).to_contain_text("10건을 처리했습니다.")
    snap("done")

    assert loads["n"] == 1, "one page load: the POST answers with a redirect back to the queue"
    assert (clicks, keys) == (3, 11)
    assert Ticket.objects.filter(pk__in=[t.pk for t in wanted], assignee=operator).count() == 10
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets[10:]], assignee=operator).count() == 0
    for t in wanted:
        assert t.events.filter(type=EventType.ASSIGNED, data__note="휴가자 담당 건 재배정").count() == 1
    print(f"JOURNEY bulk-reassign-10: clicks={clicks} keys={keys} page_loads={loads['n']}")


def test_bulk_error_path_on_a_phone(page, login, snap, supervisor, operator, make_ticket):
    tickets = _overdue(make_ticket, 3)
    page.set_viewport_size(PHONE)
    login(supervisor)
    page.get_by_label("보이는 티켓 모두 선택").check()
    expect(page.locator("[data-selected-count=ticket]")).to_have_text("(3건 선택)")
    page.get_by_label("새 담당자").select_option(label=operator.username)
    page.get_by_role("button", name=re.compile("선택한 티켓 일괄 처리하기")).click()

    # No reason: the selection comes back ticked, the message sits by the field, focus on it.
    reason = page.get_by_label("사유 (티켓마다 이력에 남습니다)")
    expect(reason).to_be_focused()
    expect(page.locator(".has-error .error")).to_contain_text("사유를 입력해 주세요")
    for t in tickets:
        expect(page.get_by_label(t.reference, exact=True)).to_be_checked()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    snap("missing-reason")
    page.get_by_label(tickets[2].reference, exact=True).uncheck()
    reason.fill("담당 조정")
    page.get_by_role("button", name=re.compile("선택한 티켓 일괄 처리하기")).click()
    expect(page.locator(".messages")).to_contain_text("2건을 처리했습니다.")
    expect(page).to_have_url(re.compile(r"/supervisor/$"))
    assert Ticket.objects.filter(assignee=operator).count() == 2


@time_machine.travel(datetime(2026, 11, 25, 11, 0, tzinfo=calendar.KST), tick=True)
def test_reschedule_into_saturday_night_warns_first(page, login, snap, supervisor, make_ticket):
    ticket = make_ticket()
    sms = FollowUp.objects.filter(ticket=ticket, action=Action.CUSTOMER_MESSAGE).first()
    assert sms is not None
    original_due = sms.due_at
    page.set_viewport_size(PHONE)
    login(supervisor)
    page.goto(f"/tickets/{ticket.reference}/")
    item = page.locator(f'[data-followup="{sms.pk}"]')
    item.get_by_text("기한 변경·취소").click()
    item.get_by_label("새 기한 (KST)").fill("2026-11-28T23:30")
    item.get_by_label("변경 사유").fill("고객 요청")
    item.get_by_role("button", name="기한 변경").click()

    item = page.locator(f'[data-followup="{sms.pk}"]')
    warning = item.locator(".warnings")
    expect(warning).to_contain_text("야간 시간대")
    expect(warning).to_contain_text("휴무일")
    expect(warning).to_be_focused()
    snap("warning")
    sms.refresh_from_db()
    assert sms.due_at == original_due  # nothing moved yet

    item.get_by_role("button", name="경고를 확인했고 그대로 변경합니다").click()
    expect(page.locator(".messages")).to_contain_text("후속 조치 기한을")
    sms.refresh_from_db()
    assert calendar.to_kst(sms.due_at) == datetime(2026, 11, 28, 23, 30, tzinfo=calendar.KST)
    assert sms.state in (FollowUpState.SCHEDULED, FollowUpState.HELD)
    event = ticket.events.get(type=EventType.FOLLOWUP, data__change="rescheduled")
    assert len(event.data["acknowledged"]) == 2


def test_operations_move_tickets_to_another_board(page, login, snap, operator, make_ticket):
    tickets = [make_ticket() for _ in range(3)]
    target = Board.objects.exclude(pk=tickets[0].board_id).order_by("pk").first()
    page.set_viewport_size(PHONE)
    login(operator)
    page.goto(f"/ops/?board={tickets[0].board.code}")
    for t in tickets[:2]:
        page.get_by_label(f"{t.reference} 선택").check()
    page.get_by_label("작업").select_option("board")
    expect(page.get_by_label("새 담당자")).to_be_hidden()  # only the fields of the chosen work
    page.get_by_label("옮길 게시판").select_option(label=target.name)
    page.get_by_label("사유 (티켓마다 이력에 남습니다)").fill("광주 접수 건으로 확인")
    snap("filled")
    page.get_by_role("button", name=re.compile("선택한 티켓 일괄 처리하기")).click()
    expect(page.locator(".messages")).to_contain_text("2건을 처리했습니다.")
    assert Ticket.objects.filter(board=target).count() == 2
    assert Ticket.objects.get(pk=tickets[2].pk).board_id == tickets[2].board_id


def test_supervisor_retries_dead_letters_in_bulk(page, login, snap, supervisor, dead_messages):
    dead = dead_messages(3)
    login(supervisor)
    page.goto("/supervisor/messages/")
    page.get_by_label("모든 메시지 선택").check()
    page.get_by_role("button", name="선택한 메시지 다시 보내기").click()
    # No reason: the selection comes back, focus on the reason.
    expect(page.get_by_label("다시 보내는 사유 (티켓 이력에 남습니다)")).to_be_focused()
    snap("missing-reason")
    page.get_by_label("다시 보내는 사유 (티켓 이력에 남습니다)").fill("발송사 장애 복구")
    page.get_by_role("button", name="선택한 메시지 다시 보내기").click()
    expect(page.locator(".messages")).to_contain_text("3건을 다시 발송 대기열에 넣었습니다.")
    assert Message.objects.filter(pk__in=[m.pk for m in dead], state=Message.State.DEAD).count() == 0
