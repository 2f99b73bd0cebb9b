"""The supervisor's promise report, walked in headless Chromium (wide and 390 px)."""

import re
from datetime import timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from cstrack import calendar
from cstrack.actors import Actor
from tickets.followups import changes
from tickets.lifecycle import services
from tickets.models import Action, FollowUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CALLBACK_RULE = "재인입 회신 전화 (1~2영업일)"


@pytest.fixture
def promise_history(make_ticket, agent):
    """Three call backs promised two weeks ago: kept on time, kept 3 hours late, broken."""
    actor = Actor.for_user(agent)
    start = calendar.next_business_moment(calendar.days_ago(calendar.now(), 14))
    tickets = {}
    for name in ("on_time", "late", "broken"):
        with time_machine.travel(start, tick=False):
            tickets[name] = make_ticket()
            services.ticket_log_recontact(tickets[name], actor=actor, note="회신 요청")
    callbacks = {n: FollowUp.objects.get(ticket=t, action=Action.CALL_BACK) for n, t in tickets.items()}
    with time_machine.travel(calendar.after_seconds(start, 3600), tick=False):
        changes.followup_complete(callbacks["on_time"], actor=actor)
    with time_machine.travel(callbacks["late"].due_at + timedelta(hours=3), tick=False):
        changes.followup_complete(callbacks["late"], actor=actor)
    return tickets


def test_supervisor_reads_the_promise_report_and_drills_down(page, login, snap, supervisor, promise_history):
    login(supervisor)
    page.get_by_role("link", name="약속 이행 보고").click()
    expect(page).to_have_url(re.compile(r"/supervisor/reports/"))
    expect(page.locator("svg.chart")).to_be_visible()
    page.get_by_label("약속 종류").select_option(label=CALLBACK_RULE)
    page.get_by_label("기간 단위").select_option(label="주별")
    page.get_by_role("button", name="보기").click()
    kpis = page.locator(".report-kpis")
    expect(kpis).to_contain_text("33.3%")  # 1 on time of 3 decided
    expect(kpis).to_contain_text("3.0시간")  # the late one's lateness
    snap("report")

    kpis.locator("div", has_text="불이행").get_by_role("link").click()
    drill = page.locator("#drill-table")
    expect(drill).to_contain_text(promise_history["broken"].reference)
    expect(drill).not_to_contain_text(promise_history["on_time"].reference)
    snap("drill-down")
    drill.get_by_role("link", name=promise_history["broken"].reference).click()
    expect(page).to_have_url(re.compile(rf"/tickets/{promise_history['broken'].reference}/"))


def test_report_filters_refuse_a_backwards_range(page, login, supervisor):
    login(supervisor)
    page.goto("/supervisor/reports/")
    page.get_by_label("시작일").fill("2026-12-10")
    page.get_by_label("종료일").fill("2026-12-01")
    page.get_by_role("button", name="보기").click()
    expect(page.locator("#report-filters")).to_contain_text("시작일이 종료일보다 늦습니다.")
    expect(page.get_by_label("시작일")).to_have_attribute("aria-invalid", "true")


WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
               && !e.closest('.scroll-x'))
  .map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)"""


def test_promise_report_on_a_390px_screen(browser, live_server, supervisor, promise_history, request):
    from tests.e2e.conftest import SCREENSHOTS

    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="ko-KR", timezone_id="Asia/Seoul", base_url=live_server.url
    )
    narrow = context.new_page()
    try:
        narrow.goto("/login/")
        narrow.get_by_label("아이디").fill(supervisor.username)
        narrow.get_by_label("비밀번호").fill(f"pw-{supervisor.username}")
        narrow.get_by_role("button", name="로그인").click()
        narrow.wait_for_load_state()
        narrow.goto("/supervisor/reports/?group_by=kind&figure=broken")
        expect(narrow.locator("svg.chart")).to_be_visible()
        expect(narrow.locator("#report-table")).to_be_visible()
        expect(narrow.locator("#drill-table")).to_contain_text(promise_history["broken"].reference)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        narrow.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
        # Nothing sticks out of the screen; the wide tables scroll inside their own box.
        assert narrow.evaluate(WIDEST) == []
    finally:
        context.close()
