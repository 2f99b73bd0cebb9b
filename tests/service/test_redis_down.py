"""Redis down while agents work: requests still succeed quickly; once Redis is back, every
message goes out once (the outbox sweep re-queues what could not be published).

Uses a PRIVATE redis-server on a free port (stopped and started by the test), never the shared one.
"""

import time
from collections import Counter

import pytest

from cstrack.actors import Actor
from notifications.models import Message
from tickets.followups import dispatcher
from tickets.lifecycle import services
from tickets.models import FollowUp, FollowUpState

from .conftest import (
    PENALTY_DETAILS,
    SMS_POLICY,
    Api,
    api_available,
    broker,
    figure,
    phone_for,
    role_user,
    set_sms_policy,
    wait_until,
)

pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TICKETS = 20
MAX_REQUEST_SECONDS = 5.0
OUTAGE_SECONDS = 12.0


def test_requests_succeed_while_redis_is_down_and_delivery_catches_up(service_env, cluster, private_redis, settings):
    fake = service_env.fake
    service_env.redis_url = private_redis.url
    service_env.extra.update(MESSAGE_LEASE_SECONDS=10)
    settings.REDIS_URL = private_redis.url
    from tickets.models import Board, Ticket

    agent, ops = role_user("svc-agent", "agent"), role_user("svc-ops", "operations")
    Board.objects.get(code="penalty-koc").members.add(ops)
    via_api = api_available()
    agent_api, ops_api = Api(agent), Api(ops)
    set_sms_policy("offset_seconds", 0)  # due at once

    worker = cluster.worker(0, concurrency=2)
    beat = cluster.beat(0)
    cluster.wait_ready([worker])

    durations = []
    with broker(private_redis.url):
        private_redis.stop()
        down_at = time.monotonic()
        tickets = []
        for i in range(TICKETS):
            payload = dict(
                kind="driver-penalty-request",
                details=dict(PENALTY_DETAILS),
                driver_id=f"DRV-{i}",
                member_id=f"M-{i}",
                customer_phone=phone_for(i),
                consent_basis="existing_member",
            )
            t0 = time.monotonic()
            if via_api:
                ticket = Ticket.objects.get(reference=agent_api.create_ticket(**payload)["reference"])
            else:  # tickets/api not built: the service the API calls
                ticket = services.ticket_create(actor=Actor.for_user(agent), **payload)
            durations.append(("create", time.monotonic() - t0))
            t0 = time.monotonic()
            if via_api:
                ops_api.record_outcome(ticket.reference, "warning")
            else:
                services.ticket_record_outcome(ticket, outcome="warning", actor=Actor.for_user(ops))
            durations.append(("outcome", time.monotonic() - t0))
            tickets.append(ticket)
        # A worker that already held a dispatch task when Redis went away: the outbox rows are
        # written, each publish of deliver_message fails fast and is left for the sweep.
        t0 = time.monotonic()
        result = dispatcher.dispatch_due()
        dispatch_seconds = time.monotonic() - t0
        # (A dispatch task the worker received just before the outage may have taken some.)
        assert Message.objects.filter(state=Message.State.PENDING).count() == TICKETS
        # Keep Redis down long enough for beat, worker and several sweep ticks to notice.
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        outage = time.monotonic() - down_at
        private_redis.start()  # same port
    up_at = time.monotonic()

    keys = {f"followup:{fu.pk}:customer" for fu in FollowUp.objects.filter(policy__code=SMS_POLICY)}
    assert len(keys) == TICKETS
    try:
        wait_until(
            lambda: keys <= {r["idempotency_key"] for r in fake.received()},
            timeout=90,
            what="all messages at the provider after Redis came back",
        )
    except AssertionError as exc:
        states = dict(Counter(Message.objects.values_list("state", flat=True)))
        raise AssertionError(f"{exc}; messages {states}; received {len(fake.received())}\n{cluster.tails()}") from None
    caught_up = time.monotonic() - up_at
    time.sleep(5)  # a few more sweeps and dispatch ticks
    counts = Counter(r["idempotency_key"] for r in fake.received())
    duplicates = {k: n for k, n in counts.items() if n > 1}
    slowest = max(durations, key=lambda d: d[1])
    figure(
        f"redis-down: {len(durations)} {'API' if via_api else 'service'} requests ({TICKETS} creates + {TICKETS} outcomes) with Redis stopped, "
        f"slowest {slowest[1] * 1000:.0f} ms ({slowest[0]}), in-process dispatch of {result.done} with failed "
        f"publishes {dispatch_seconds:.2f} s, outage {outage:.1f} s; after restart all {len(keys & counts.keys())}/"
        f"{TICKETS} delivered in {caught_up:.1f} s, {len(duplicates)} duplicates; beat alive={beat.alive}, "
        f"worker alive={worker.alive}"
    )
    assert all(d < MAX_REQUEST_SECONDS for _, d in durations), durations
    assert not duplicates, duplicates
    assert set(counts) == keys
    wait_until(
        lambda: Message.objects.filter(state=Message.State.SENT).count() == TICKETS,
        timeout=10,
        what="all Message rows sent",
    )
    assert FollowUp.objects.filter(policy__code=SMS_POLICY, state=FollowUpState.DONE).count() == TICKETS
    assert worker.alive, "the worker died while Redis was down"
    assert beat.alive, "celery beat died while Redis was down"
