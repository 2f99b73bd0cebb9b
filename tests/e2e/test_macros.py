"""Applying a macro from the ticket page, as operations staff, on a phone and by keyboard."""

import re

import pytest
from playwright.sync_api import expect

from tickets.lifecycle import services
from tickets.models import EventType, Macro, Status, TicketKind

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operations_apply_a_macro_by_keyboard_on_a_phone(page, login, snap, operator, make_ticket):
    kind = TicketKind.objects.get(code="driver-penalty-request")
    Macro.objects.create(
        name="조치 없음 종결", kind=kind, outcome="no_action", to_status=Status.RESOLVED, note="위반 아님 확인"
    )
    Macro.objects.create(
        name="경고 후 종결", kind=kind, outcome="warning", to_status=Status.RESOLVED, note="1회 경고 안내"
    )
    ticket = make_ticket()
    page.set_viewport_size({"width": 390, "height": 844})
    login(operator)
    page.goto(f"/tickets/{ticket.reference}/")
    card = page.get_by_role("region", name="매크로 (한 번에 처리)")
    expect(card).to_contain_text("처리 결과: 경고")
    # Keyboard: the radio group moves with the arrow keys; Enter submits.
    card.get_by_label("조치 없음 종결").focus()
    page.keyboard.press("ArrowDown")
    expect(card.get_by_label("경고 후 종결")).to_be_checked()
    snap("chosen")
    page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_contain_text("'경고 후 종결' 매크로를 적용했습니다")
    expect(page.locator(".timeline")).to_contain_text("'경고 후 종결' 매크로: 처리 결과: 경고")
    ticket.refresh_from_db()
    assert ticket.outcome == "warning" and ticket.status == Status.RESOLVED
    assert ticket.events.filter(type=EventType.MACRO).count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    snap("applied")


def test_a_refused_macro_says_why_and_changes_nothing(page, login, snap, supervisor, make_ticket):
    kind = TicketKind.objects.get(code="driver-penalty-request")
    Macro.objects.create(name="경고 후 종결", kind=kind, outcome="warning", note="경고 안내")
    ticket = make_ticket()
    login(supervisor)
    page.goto(f"/tickets/{ticket.reference}/")
    # Meanwhile a colleague records another outcome on the same ticket.
    services.ticket_record_outcome(
        ticket, outcome="no_action", actor=services.Actor.for_user(supervisor), reason="확인"
    )
    page.get_by_role("button", name="선택한 매크로 적용").click()
    error = page.locator("#macros .errors")
    expect(error).to_contain_text("이미 기록")
    expect(error).to_be_focused()
    snap("refused")
    assert ticket.events.filter(type=EventType.MACRO).count() == 0
    expect(page).to_have_url(re.compile(rf"/tickets/{ticket.reference}/macros/apply/$"))
