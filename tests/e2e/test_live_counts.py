"""The navigation counts refresh without a reload (supervisor, at a phone width)."""

import re

import pytest
from playwright.sync_api import expect

from notifications.models import Message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_counts_appear_and_refresh_without_a_reload(page, login, snap, supervisor, dead_messages, make_ticket):
    dead_messages(1)
    page.set_viewport_size({"width": 390, "height": 844})
    loads = {"n": 0}
    login(supervisor)
    page.on("load", lambda _p: loads.__setitem__("n", loads["n"] + 1))
    dead_link = page.get_by_role("link", name=re.compile("발송 실패 메시지"))
    expect(dead_link.locator("[data-count-slot=dead]")).to_have_text("1건 발송 실패")
    expect(dead_link).to_have_accessible_name(re.compile(r"발송 실패 메시지 1\s*건 발송 실패"))
    expect(page.locator("[data-count-slot=overdue]")).to_be_hidden()  # nothing overdue: no badge
    snap("one")

    Message.objects.update(idempotency_key="e2e:first")  # the fixture numbers its keys from 0 again
    dead_messages(1)  # another message dies while the page is open
    # The tab coming back into view refreshes at once (otherwise the minute timer does).
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(dead_link.locator("[data-count-slot=dead]")).to_have_text("2건 발송 실패")
    assert loads["n"] == 0, "the counts changed without a page load"
    snap("two")


def test_signed_out_counts_stop_quietly(page, login, agent):
    login(agent)
    page.context.clear_cookies()
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_timeout(300)
    expect(page.get_by_role("heading", level=1)).to_be_visible()  # no error, no navigation
