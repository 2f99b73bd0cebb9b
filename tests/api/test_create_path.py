"""The create path's round trips: the reply is the ticket as written (no re-read), the webhook
subscriptions are read once per request, follow-ups go in one insert, no savepoints."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import Message
from tickets import webhooks
from tickets.models import FollowUp, Ticket, TicketEvent

from .helpers import penalty_body

pytestmark = pytest.mark.django_db


def _statements(queries, text: str) -> int:
    return sum(1 for q in queries if text in q["sql"])


@pytest.fixture
def subscriptions(db):
    return [webhooks.subscription_create(name=f"hook-{i}", target_url=f"https://hooks.example/{i}") for i in range(2)]


def test_create_answers_with_the_ticket_as_stored_in_few_round_trips(api, subscriptions):
    with CaptureQueriesContext(connection) as ctx:
        response = api.post("/api/v1/tickets/", penalty_body(), format="json")
    queries = list(ctx.captured_queries)  # now: the next request resets the connection's log
    assert response.status_code == 201, response.json()
    body = response.json()
    # The reply equals what a fresh read of the ticket gives.
    fresh = api.get(f"/api/v1/tickets/{body['reference']}/").json()
    assert {k: fresh[k] for k in body} == body

    ticket = Ticket.objects.get(reference=body["reference"])
    assert FollowUp.objects.filter(ticket=ticket).count() == 2
    events = list(TicketEvent.objects.filter(ticket=ticket).order_by("id").values_list("type", flat=True))
    assert events == ["created", "consent"]
    assert Message.objects.filter(channel="webhook").count() == 2 * len(events)
    # One transaction (a savepoint here only because the test itself runs in a transaction).
    assert sum(q["sql"].startswith("SAVEPOINT") for q in queries) == 1
    assert _statements(queries, 'FROM "tickets_webhooksubscription"') == 1
    assert _statements(queries, 'INTO "tickets_followup"') == 1
    assert _statements(queries, 'INTO "tickets_ticketevent"') == 1
    assert _statements(queries, "tickets_dailysequence") == 1
    assert not _statements(queries, 'SELECT "tickets_ticket"')  # no re-read for the response


def test_subscriptions_are_read_once_per_request(api, subscriptions):
    reference = api.post("/api/v1/tickets/", penalty_body(), format="json").json()["reference"]
    with CaptureQueriesContext(connection) as ctx:
        response = api.post(f"/api/v1/tickets/{reference}/transitions/", {"to_status": "cancelled"}, format="json")
    queries = list(ctx.captured_queries)
    assert response.status_code == 200, response.json()
    types = list(TicketEvent.objects.filter(ticket__reference=reference).values_list("type", flat=True))
    assert "transitioned" in types and "followup" in types  # two record() calls in this request
    assert _statements(queries, 'FROM "tickets_webhooksubscription"') == 1
    assert Message.objects.filter(channel="webhook").count() == 2 * len(types)


def test_a_subscription_created_within_the_request_is_seen_by_later_events(make_ticket):
    ticket = make_ticket()
    with webhooks.subscriptions_read_once():
        assert webhooks.active_subscriptions() == []
        sub = webhooks.subscription_create(name="late", target_url="https://hooks.example/late")
        assert webhooks.active_subscriptions() == [sub]
        webhooks.subscription_deactivate(sub)
        assert webhooks.active_subscriptions() == []
    assert ticket.pk
