"""The access policy in the browser: an operations user on one board, on a phone-width screen,
cannot reach another board's ticket nor complete its call back with a crafted form."""

import pytest
from playwright.sync_api import expect

from cstrack import roles
from cstrack.actors import SYSTEM
from tests.conftest import make_user
from tickets.lifecycle import services
from tickets.models import Action, Board, FollowUp, FollowUpState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_operations_cannot_complete_another_boards_callback(page, login, snap, make_ticket):
    koc_ops = make_user("ops-koc", roles.OPERATIONS)
    koc_ops.boards.add(Board.objects.get(code="penalty-koc"))
    own = make_ticket()  # a penalty request: the KOC board
    other = make_ticket(kind="pet-cs-inquiry", details={"issue_type": "payment", "description": "결제 문의"})
    for ticket in (own, other):
        services.ticket_log_recontact(ticket, actor=SYSTEM, note="재문의")
    own_fu = FollowUp.objects.get(ticket=own, action=Action.CALL_BACK)
    other_fu = FollowUp.objects.get(ticket=other, action=Action.CALL_BACK)

    page.set_viewport_size(PHONE)
    login(koc_ops)
    assert page.goto(f"/tickets/{other.reference}/").status == 404
    snap("other-board-ticket")

    page.goto(f"/tickets/{own.reference}/")
    form = page.locator(f"li[data-followup='{own_fu.pk}'] form.inline")
    expect(form).to_have_attribute("action", f"/followups/{own_fu.pk}/complete/")
    # What a crafted request would do: the same form, pointed at the other board's call back.
    form.evaluate("(f, url) => f.setAttribute('action', url)", f"/followups/{other_fu.pk}/complete/")
    form.get_by_label("통화 메모").fill("통화함")
    with page.expect_navigation() as refused:
        form.get_by_role("button", name="회신 전화 완료").click()
    assert refused.value.status == 404
    snap("crafted-form-refused")
    assert FollowUp.objects.get(pk=other_fu.pk).state == FollowUpState.SCHEDULED

    # Their own board's call back completes as before.
    page.goto(f"/tickets/{own.reference}/")
    form.get_by_label("통화 메모").fill("통화함")
    form.get_by_role("button", name="회신 전화 완료").click()
    expect(page.locator(".messages")).to_contain_text("회신 전화를 완료로 기록했습니다")
    assert FollowUp.objects.get(pk=own_fu.pk).state == FollowUpState.DONE
