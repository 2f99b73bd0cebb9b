"""List endpoints run the same number of queries for 1 row and for 50."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tickets.followups import dispatcher
from tickets.lifecycle import services

pytestmark = pytest.mark.django_db
KST = dt.timezone(dt.timedelta(hours=9))

LISTS = [
    "/api/v1/tickets/",
    "/api/v1/tickets/?overdue=true",
    "/api/v1/followups/",
    "/api/v1/messages/",
    "/api/v1/queues/overdue/",
    "/api/v1/kinds/",
]


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url + ("&" if "?" in url else "?") + "page_size=100")
    assert response.status_code == 200, response.json()
    return len(ctx.captured_queries), response.json()


def _make(make_ticket, agent, n, start=0):
    with time_machine.travel(dt.datetime(2026, 11, 2, 14, 0, tzinfo=KST), tick=False):
        for i in range(start, start + n):
            ticket = make_ticket(
                customer_phone="010-1234-5678", consent_basis="newly_collected", assignee=agent, driver_id=f"DRV-{i}"
            )
            from cstrack.actors import SYSTEM

            if i % 2 == 0:  # half get an outcome (D+3 SMS), half stay overdue (breach alert)
                services.ticket_record_outcome(ticket, outcome="warning", actor=SYSTEM)  # agents may not
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=KST), tick=False):
        dispatcher.dispatch_due()


@pytest.mark.parametrize("scope", ["all", "kinds"])
def test_list_query_counts_do_not_grow_with_rows(client_for, make_ticket, agent, scope):
    kinds = () if scope == "all" else ("driver-penalty-request",)
    client = client_for(name=f"counter-{scope}", kinds=kinds)
    client.get("/api/v1/kinds/")  # last_used_at is written on the first request only
    _make(make_ticket, agent, 2)
    with time_machine.travel(dt.datetime(2026, 11, 20, 12, 0, tzinfo=KST), tick=False):
        one = {url: _count(client, url) for url in LISTS}
        _make(make_ticket, agent, 98, start=2)
        fifty = {url: _count(client, url) for url in LISTS}
    for url in LISTS:
        (q1, body1), (q50, body50) = one[url], fifty[url]
        if url != "/api/v1/kinds/":
            assert len(body1["results"]) >= 1 and len(body50["results"]) >= 50, url
        assert q1 == q50, f"{url}: {q1} queries for 1 row, {q50} for 50"


def test_session_list_query_counts(session_client, operator, make_ticket, agent):
    _make(make_ticket, agent, 1)
    from tickets.models import Board

    operator.boards.add(Board.objects.get(code="penalty-koc"))
    client = session_client(operator)
    one, _ = _count(client, "/api/v1/tickets/")
    _make(make_ticket, agent, 49)
    fifty, body = _count(client, "/api/v1/tickets/")
    assert len(body["results"]) == 50 and one == fifty
