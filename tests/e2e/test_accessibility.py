"""axe-core (shipped inside the axe-playwright-python package, never fetched from a CDN) on every
console page, as each role, at a desktop (1440×900) and a phone (390×844) width: no serious or
critical violation, and no page wider than the screen.

A page that a role may not open (403) is skipped for that role; every page must be checked by at
least one role. Add new console pages to PAGES."""

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe

from cstrack import calendar
from tickets.lifecycle import services
from tickets.models import Board, Macro

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
BLOCKING = {"serious", "critical"}

# name -> path template; {ref} is a ticket with follow-ups, a re-contact and history.
PAGES = {
    "login": "/login/",
    "agent-home": "/agent/",
    "new-ticket": "/tickets/new/",
    "new-ticket-kind": "/tickets/new/?kind=driver-penalty-request",
    "new-ticket-errors": "POST /tickets/new/",
    "ticket": "/tickets/{ref}/",
    "ops-queue": "/ops/",
    "ops-queue-selected": "/ops/?board=penalty-koc&ticket={ref}",
    "supervisor": "/supervisor/",
    "dead-letters": "/supervisor/messages/",
    "bulk-review": "BULK /",
    "promise-report": "/supervisor/reports/",
    "profile": "/profile/",
}


@pytest.fixture
def axe():
    return Axe()


@pytest.fixture
def world(make_ticket, agent, dead_messages):
    """A ticket with overdue follow-ups, a re-contact and a call-back owned by the agent."""
    with time_machine.travel(calendar.days_ago(calendar.now(), 5), tick=False):
        ticket = make_ticket(customer_phone="010-2222-3333", consent_basis="newly_collected")
    make_ticket(driver_id="DRV-100")
    services.ticket_log_recontact(ticket, actor=services.Actor.for_user(agent), note="처리 결과 문의")
    dead_messages(2)
    Macro.objects.create(
        name="경고 후 종결", kind=ticket.kind, outcome="warning", to_status="resolved", note="경고 안내"
    )
    return {"ref": ticket.reference}


def _open(page, path):
    if path.startswith("BULK "):
        # The bulk form sent without a reason: the selection comes back with the error.
        page.goto(path[5:])
        boxes = page.locator('input[name="ticket"]')
        if not boxes.count():
            return 403  # this role has no queue with bulk work
        boxes.first.check()
        page.locator("#bulk-form button[type=submit]").click()
        page.wait_for_load_state()
        return 400
    if path.startswith("POST "):
        # A failed submit: the server answers 400 with the errors next to the fields.
        response = page.goto(path[5:] + "?kind=driver-penalty-request")
        if response.status != 200:
            return response.status
        page.get_by_role("button", name="접수하기").click()
        page.wait_for_load_state()
        return 400
    response = page.goto(path)
    return response.status if response else 0


def _blocking(results):
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


def _overflow(page):
    """How many CSS pixels the document is wider than the screen (0 = no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.mark.parametrize("role", ["agent", "operator", "supervisor", "admin"])
def test_every_page_passes_axe_at_both_widths(request, role, page, login, axe, world, snap):
    if role == "admin":
        from tests.conftest import make_user

        user = make_user("admin1", is_superuser=True, is_staff=True)
    else:
        user = request.getfixturevalue(role)
    if role == "operator":
        user.boards.add(*Board.objects.all())
    login(user)
    problems, seen = {}, []
    for width, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        for name, template in PAGES.items():
            status = _open(page, template.format(**world))
            if status == 403:
                continue
            assert status in (200, 400), f"{name} as {role}: HTTP {status}"
            seen.append(name)
            found = _blocking(axe.run(page))
            wider = _overflow(page)
            if wider > 0:
                found.append(f"page is {wider}px wider than the {viewport['width']}px screen")
            if found:
                problems[f"{name} @ {width}"] = found
            if width == "phone" or name in ("ticket", "supervisor"):
                snap(f"{name}-{width}")
    assert not problems, "\n".join(f"{where}: {p}" for where, found in problems.items() for p in found)
    assert seen, f"{role} could open no page"
