"""Every console page runs a bounded number of queries, whatever the number of rows shown."""

from datetime import UTC, datetime

import pytest
import time_machine

from cstrack import calendar
from tickets.lifecycle import services
from tickets.models import Macro, Ticket

pytestmark = pytest.mark.django_db
MAX_QUERIES = 10
# The ticket page also lists the macros for its kind and board (one query, however many).
TICKET_PAGE_QUERIES = MAX_QUERIES + 1


@pytest.fixture(params=[1, 30], ids=["1-row", "30-rows"])
def rows(request):
    return request.param


def _get(client, url, django_assert_max_num_queries, status=200, budget=MAX_QUERIES):
    with django_assert_max_num_queries(budget):
        response = client.get(url)
    assert response.status_code == status, response.content[:500]
    return response


def test_agent_home(login, agent, callbacks_due, rows, django_assert_max_num_queries):
    callbacks_due(rows)
    client = login(agent)
    response = _get(client, "/agent/", django_assert_max_num_queries)
    assert response.content.decode().count('name="result"') == rows


def test_new_ticket_form(login, agent, rows, make_ticket, django_assert_max_num_queries):
    for _ in range(rows):
        make_ticket()
    client = login(agent)
    _get(client, "/tickets/new/", django_assert_max_num_queries)
    _get(client, "/tickets/new/?kind=driver-penalty-request", django_assert_max_num_queries)


def test_new_ticket_post_with_errors(login, agent, django_assert_max_num_queries):
    client = login(agent)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.post("/tickets/new/", {"kind": "driver-penalty-request"})
    assert response.status_code == 400


def test_matching_lookup(login, agent, make_ticket, rows, django_assert_max_num_queries):
    for _ in range(rows):
        make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    client = login(agent)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.post("/tickets/matching/", {"phone": "010-1234-5678"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == min(rows, 5)


@pytest.mark.parametrize("who", ["agent", "operator", "supervisor"])
def test_ticket_page(request, login, who, make_ticket, rows, django_assert_max_num_queries):
    user = request.getfixturevalue(who)
    ticket = make_ticket(driver_id="DRV-9")
    for _ in range(rows - 1):
        make_ticket(driver_id="DRV-9")  # penalty history rows
    actor = services.Actor.for_user(request.getfixturevalue("agent"))  # agents log re-contacts
    start = calendar.now()
    for i in range(rows):  # events and follow-ups; 11 minutes apart, so none is merged
        with time_machine.travel(calendar.after_seconds(start, i * 660), tick=False):
            services.ticket_log_recontact(ticket, actor=actor, note=f"재문의 {i}")
    assert ticket.recontacts.count() == rows
    for i in range(rows):
        Macro.objects.create(name=f"매크로 {i}", kind=ticket.kind, note="메모", to_status="in_progress")
    client = login(user)
    body = _get(
        client, f"/tickets/{ticket.reference}/", django_assert_max_num_queries, budget=TICKET_PAGE_QUERIES
    ).content.decode()
    assert body.count('name="macro"') == rows


def test_ops_queue(login, operator, make_ticket, rows, django_assert_max_num_queries):
    tickets = [make_ticket(driver_id="DRV-9") for _ in range(rows)]
    client = login(operator)
    response = _get(client, "/ops/?board=penalty-koc", django_assert_max_num_queries)
    assert response.content.decode().count("CS-") >= rows
    _get(client, f"/ops/?board=penalty-koc&ticket={tickets[0].reference}", django_assert_max_num_queries)


def test_supervisor_pages(login, supervisor, overdue_tickets, rows, django_assert_max_num_queries):
    tickets = overdue_tickets(rows)
    Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(breached_at=calendar.now())
    client = login(supervisor)
    response = _get(client, "/supervisor/", django_assert_max_num_queries)
    assert all(t.reference in response.content.decode() for t in tickets)
    _get(
        client,
        "/supervisor/?kind=driver-penalty-request&board=penalty-koc&agent=1&breached=1",
        django_assert_max_num_queries,
    )
    response = _get(client, "/supervisor/export.csv", django_assert_max_num_queries)
    assert response.content.decode("utf-8-sig").count("\n") == rows + 1
    _get(client, "/supervisor/breaches.svg", django_assert_max_num_queries)


def test_dead_letters(login, supervisor, dead_messages, rows, django_assert_max_num_queries):
    dead_messages(rows)
    client = login(supervisor)
    response = _get(client, "/supervisor/messages/", django_assert_max_num_queries)
    assert response.content.decode().count("gateway 503") == rows


@pytest.mark.parametrize("who", ["agent", "operator", "supervisor"])
def test_nav_counts(
    request, login, who, overdue_tickets, callbacks_due, dead_messages, rows, django_assert_max_num_queries
):
    overdue_tickets(rows)
    callbacks_due(rows)
    dead_messages(rows)
    body = _get(login(request.getfixturevalue(who)), "/counts/", django_assert_max_num_queries).content.decode()
    assert "data-count=" in body


def test_bulk_review_page(login, supervisor, overdue_tickets, rows, django_assert_max_num_queries):
    tickets = overdue_tickets(rows)
    client = login(supervisor)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.post("/bulk/tickets/", {"ticket": [t.reference for t in tickets], "operation": "assign"})
    assert response.status_code == 400 and response.content.decode().count("checked") >= rows


@pytest.fixture
def thousand_overdue(overdue_copies):
    """1,000 open overdue tickets: one through the service, 999 copies of its row."""
    return overdue_copies(1000)


@pytest.mark.parametrize(
    ("who", "url"),
    [
        ("supervisor", "/supervisor/"),
        ("supervisor", "/counts/"),
        ("operator", "/ops/?board=penalty-koc"),
        ("operator", "/counts/"),
        ("agent", "/counts/"),
    ],
)
def test_queue_pages_with_a_thousand_tickets(request, login, who, url, thousand_overdue, django_assert_max_num_queries):
    client = login(request.getfixturevalue(who))
    body = _get(client, url, django_assert_max_num_queries).content.decode()
    if url == "/counts/" and who != "agent":
        assert 'data-value="100"' in body  # capped: counting stops at 100 rows


def test_login_page(client, django_assert_max_num_queries):
    _get(client, "/login/", django_assert_max_num_queries)


def test_home_redirect(login, agent, django_assert_max_num_queries):
    client = login(agent)
    _get(client, "/", django_assert_max_num_queries, status=302)


def test_breaches_chart_counts_by_kst_day(login, supervisor, make_ticket):
    # 23:30 UTC on 20 November is 08:30 KST on 21 November: the breach counts on the KST day.
    moment = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    ticket = make_ticket()
    Ticket.objects.filter(pk=ticket.pk).update(breached_at=moment)
    client = login(supervisor)
    with time_machine.travel(moment, tick=False):
        response = client.get("/supervisor/breaches.svg")
    body = response.content.decode()
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "2026-11-21: 1" in body
    assert "2026-11-20: 0" in body
