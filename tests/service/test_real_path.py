"""The real path: ticket -> FollowUp row -> beat -> dispatch -> outbox -> worker -> provider (HTTP).

Real PostgreSQL, real Redis, `celery worker` and `celery beat` processes, the fake Solapi over
HTTP on loopback.
"""

import time

import pytest

from cstrack import calendar
from cstrack.actors import Actor
from notifications.models import Message
from notifications.providers.solapi import national_number
from tickets.lifecycle import services
from tickets.models import FollowUp, FollowUpState, Ticket

from .conftest import PENALTY_DETAILS, SMS_POLICY, Api, api_available, figure, role_user, set_sms_policy, wait_until

pytestmark = [pytest.mark.service, pytest.mark.django_db(transaction=True)]

PHONE = "010-3456-7890"


@pytest.fixture
def users():
    from tickets.models import Board

    ops = role_user("svc-ops", "operations")
    Board.objects.get(code="penalty-koc").members.add(ops)  # operations see their boards' tickets
    return role_user("svc-agent", "agent"), ops


def test_penalty_feedback_sms_reaches_the_provider_once(service_env, cluster, users, settings):
    service_env.provider = "solapi"
    service_env.apply_to(settings)
    fake = service_env.fake
    agent, ops = users
    started = time.monotonic()
    set_sms_policy("offset_seconds", 3)

    worker = cluster.worker(0, concurrency=2)
    beat = cluster.beat(0)
    cluster.wait_ready([worker])

    via_api = api_available()
    payload = dict(
        kind="driver-penalty-request",
        details=dict(PENALTY_DETAILS),
        driver_id="DRV-100",
        member_id="M-12345",
        customer_phone=PHONE,
        consent_basis="existing_member",
    )
    if via_api:
        created = Api(agent).create_ticket(**payload)
        ticket = Ticket.objects.get(reference=created["reference"])
    else:  # tickets/api not built: the service the API calls
        ticket = services.ticket_create(actor=Actor.for_user(agent), **payload)
    fu = FollowUp.objects.get(ticket=ticket, policy__code=SMS_POLICY)
    assert fu.state == FollowUpState.SCHEDULED
    # Due after 3 s; without an outcome the dispatcher holds it.
    wait_until(
        lambda: FollowUp.objects.get(pk=fu.pk).state == FollowUpState.HELD,
        timeout=30,
        what="the follow-up to be held for the outcome",
    )
    assert not fake.received()

    if via_api:
        Api(ops).record_outcome(ticket.reference, "warning")
    else:
        services.ticket_record_outcome(ticket, outcome="warning", actor=Actor.for_user(ops))
    outcome_at = time.monotonic()
    key = f"followup:{fu.pk}:customer"
    wait_until(lambda: fake.count(key) >= 1, timeout=60, what="the SMS at the provider")
    latency = time.monotonic() - outcome_at

    # A few more beat ticks (dispatch every 1 s, sweep every 2 s): still exactly one.
    time.sleep(6)
    received = [r for r in fake.received() if r["idempotency_key"] == key]
    assert len(received) == 1, received
    assert len(fake.received()) == 1
    sms = received[0]
    assert sms["api"] == "solapi"
    assert sms["to"] == national_number("+821034567890") == "01034567890"
    assert sms["sender"] == "15990000"
    assert calendar.month_day_label(PENALTY_DETAILS["incident_date"]) in sms["text"]  # "11월 20일"

    wait_until(
        lambda: Message.objects.filter(idempotency_key=key, state=Message.State.SENT).exists(),
        timeout=10,
        what="the Message row to be recorded as sent",
    )
    message = Message.objects.get(idempotency_key=key)
    assert message.state == Message.State.SENT
    assert message.provider == "solapi"
    assert message.provider_ref == sms["provider_ref"]
    assert message.attempts == 1
    fu.refresh_from_db()
    assert fu.state == FollowUpState.DONE
    assert fu.message_id == message.pk
    assert worker.alive and beat.alive
    assert not cluster.errors(), "\n".join(cluster.errors())
    figure(
        f"real-path: 1 SMS at the provider (solapi over HTTP), 0 duplicates after 6 s more, "
        f"outcome->provider {latency:.1f} s, test {time.monotonic() - started:.1f} s "
        f"(ticket and outcome via {'REST API, session auth' if via_api else 'tickets.services: /api/v1/tickets/ not built'})"
    )
