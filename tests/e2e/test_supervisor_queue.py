"""The supervisor's overdue table, walked in Chromium as a supervisor: 50 rows, "더 보기" for the
next 50 (landing on the first row it added), a filter chosen wrong then right, the counts' age
shown, and no serious or critical axe violation at 1440 and 390 px wide."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.seedcodes import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = "#overdue tbody tr"
WIDTHS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def _blocking(page):
    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in violations if v["impact"] in ("serious", "critical")]


def test_fifty_rows_then_more_and_a_filter_wrong_then_right(page, login, snap, supervisor, overdue_copies):
    overdue_copies(120)
    login(supervisor)
    expect(page).to_have_url(re.compile(r"/supervisor/$"))
    expect(page.locator(ROWS)).to_have_count(50)
    expect(page.locator("#summary-as-of")).to_contain_text("기준 건수")
    more = page.get_by_role("link", name="더 보기 (최대 50건 추가)")
    expect(more).to_be_visible()
    for width, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        assert _blocking(page) == [], width
        assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
        snap(f"first-page-{width}")
    page.set_viewport_size(WIDTHS["desktop"])

    more.click()
    expect(page).to_have_url(re.compile(r"rows=100#row-51$"))
    expect(page.locator(ROWS)).to_have_count(100)
    expect(page.locator("#row-51")).to_be_in_viewport()  # lands on the first row it added
    page.keyboard.press("Tab")  # keyboard users continue from there: row 51's checkbox
    assert page.evaluate("document.activeElement.closest('tr') && document.activeElement.closest('tr').id") == "row-51"
    snap("after-more")
    page.get_by_role("link", name="더 보기 (최대 50건 추가)").click()
    expect(page.locator(ROWS)).to_have_count(120)
    expect(page.get_by_role("link", name="더 보기 (최대 50건 추가)")).to_have_count(0)

    # A wrong kind first: nothing overdue there, said in words; then the right one.
    page.get_by_label("유형").select_option(seed("pet-cs-inquiry"))
    page.get_by_role("button", name="적용").click()
    expect(page.locator(".empty")).to_have_text("기한을 넘긴 티켓이 없습니다.")
    expect(page).not_to_have_url(re.compile(r"rows="))  # a new filter starts at the first page
    page.get_by_label("유형").select_option(seed("driver-penalty-request"))
    page.get_by_role("button", name="적용").click()
    expect(page.locator(ROWS)).to_have_count(50)
    expect(page.locator(".summary")).to_contain_text("전체 120건")
    page.get_by_role("link", name="더 보기 (최대 50건 추가)").click()
    expect(page).to_have_url(re.compile(rf"kind={re.escape(seed('driver-penalty-request'))}&.*rows=100"))
    expect(page.locator(ROWS)).to_have_count(100)
    page.set_viewport_size(WIDTHS["phone"])
    assert _blocking(page) == []
    snap("filtered-more-phone")
