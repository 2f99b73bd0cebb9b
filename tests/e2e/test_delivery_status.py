"""The supervisor sees what became of customer messages: on the ticket page (accepted, delivered,
the channel that carried it) and among the dead letters (route and the provider's code), on a
desktop and a 390 px phone screen."""

import pytest
from playwright.sync_api import expect

from notifications import services as outbox
from notifications.models import Message
from tickets.models import FollowUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def message_for(followup, key, **state):
    message = outbox.message_enqueue(
        channel="sms", recipient="010-2345-6789", idempotency_key=key, body="[cstrack] 처리가 끝났습니다."
    )
    Message.objects.filter(pk=message.pk).update(**state)
    FollowUp.objects.filter(pk=followup.pk).update(message=message)
    return message


def test_supervisor_sees_delivery_results_and_retries_a_dead_letter(page, login, snap, supervisor, make_ticket):
    ticket = make_ticket()
    first, second = FollowUp.objects.filter(ticket=ticket).order_by("id")[:2]
    message_for(first, "e2e:delivered", state="delivered", message_type="ATA", sent_as="ATA", report_code="4000")
    dead = message_for(
        second, "e2e:dead", state="dead", sent_as="SMS", on_fallback=True, message_type="ATA", fallback_type="SMS",
        report_code="3059", last_error="수신 실패(결과 코드 3059)",
    )  # fmt: skip

    login(supervisor)
    page.goto(f"/tickets/{ticket.reference}/")
    delivered = page.locator(f'[data-followup="{first.pk}"] [data-message-status]')
    expect(delivered).to_have_text("카카오 알림톡 · 수신 확인")
    failed = page.locator(f'[data-followup="{second.pk}"] [data-message-status]')
    expect(failed).to_have_text("대체 발송 단문(SMS) · 발송 실패")
    expect(failed).to_have_class("badge msg-failed danger")
    snap("ticket-page")

    page.goto("/supervisor/messages/")
    row = page.locator("#dead tr", has_text=dead.recipient_masked)
    expect(row).to_contain_text("대체 발송 단문(SMS)")
    expect(row).to_contain_text("3059")
    snap("dead-letters")

    # Someone else retries it first: our click is refused with a clear message, nothing breaks.
    outbox.message_retry_dead(dead.pk, "someone")
    row.get_by_role("button", name=f"메시지 {dead.pk} 다시 보내기").click()
    expect(page.locator(".messages")).to_contain_text("발송 실패(보류) 상태의 메시지만")
    Message.objects.filter(pk=dead.pk).update(state="dead")
    page.reload()
    page.locator("#dead tr", has_text=dead.recipient_masked).get_by_role("button").click()
    expect(page.locator(".messages")).to_contain_text(f"메시지 #{dead.pk}")
    assert Message.objects.get(pk=dead.pk).state == Message.State.PENDING

    # A phone screen: the ticket page and the dead letters stay usable (the table scrolls).
    page.set_viewport_size({"width": 390, "height": 844})
    Message.objects.filter(pk=dead.pk).update(state="dead")
    page.goto("/supervisor/messages/")
    expect(page.locator("#dead")).to_be_visible()
    box = page.locator(".scroll-x:has(#dead)").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # the table scrolls inside its box
    page.locator(".scroll-x:has(#dead)").evaluate("el => el.scrollLeft = el.scrollWidth")
    expect(page.locator("#dead").get_by_role("button")).to_be_in_viewport()
    snap("dead-letters-390")
    page.goto(f"/tickets/{ticket.reference}/")
    badge = page.locator(f'[data-followup="{second.pk}"] [data-message-status]')
    badge.scroll_into_view_if_needed()  # the columns stack on a phone: follow-ups are further down
    expect(badge).to_be_in_viewport()
    box = badge.bounding_box()
    assert box["x"] + box["width"] <= 390, box
    snap("ticket-page-390")
