"""10,000 due follow-ups, 4 worker processes, one SIGKILLed every 2 s (and restarted):
0 lost, 0 sent twice. SERVICE_KILL_COUNT overrides the count (default 10,000)."""

import os
import random
import time
from collections import Counter

import pytest

from notifications.models import Message
from tickets.models import FollowUp, FollowUpState

from .conftest import bulk_due_followups, figure, set_sms_policy

pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COUNT = int(os.environ.get("SERVICE_KILL_COUNT", "10000"))
WORKERS = 4
KILL_EVERY = float(os.environ.get("SERVICE_KILL_EVERY", "2"))
# Workers are killed until everything has arrived or KILL_PHASE has passed (a slow machine);
# then, with no more kills, everything must arrive within RECOVERY: one requeue window (60 s)
# plus the lease (10 s) plus sweep ticks and a margin.
KILL_PHASE = float(os.environ.get("SERVICE_KILL_DEADLINE", "600"))
RECOVERY = float(os.environ.get("SERVICE_KILL_RECOVERY", "150"))


def test_sigkill_a_worker_every_2s_loses_nothing_and_sends_nothing_twice(service_env, cluster, settings):
    fake = service_env.fake
    # A killed worker's row stays "sending" until its lease runs out; then the sweep hands it to
    # another worker, which looks it up at the provider before any resend. A task the killed
    # worker had received but not yet claimed is gone with it (Redis would hand it back only after
    # the hour-long visibility timeout): the sweep queues its row again once
    # OUTBOX_REQUEUE_AFTER_SECONDS have passed. Both windows are shortened, as in production
    # tuning for a fast recovery, so that every recovery path has to work inside the deadline.
    service_env.extra.update(
        MESSAGE_LEASE_SECONDS=10,
        OUTBOX_REQUEUE_AFTER_SECONDS=60,
        PROVIDER_TIMEOUT=3,
        FOLLOWUP_BATCH_SIZE=os.environ.get("SERVICE_KILL_BATCH", "200"),
    )
    service_env.apply_to(settings)
    set_sms_policy("offset_seconds", 3)

    t0 = time.monotonic()
    ids = bulk_due_followups(COUNT)
    expected = {f"followup:{pk}:customer" for pk in ids}
    created_in = time.monotonic() - t0
    assert len(expected) == COUNT

    workers = [cluster.worker(i) for i in range(WORKERS)]
    cluster.beat(0)
    rng = random.Random(42)
    kills = 0
    start = time.monotonic()
    next_kill = start + KILL_EVERY
    next_report = start + 15
    delivered = 0
    next_count = start
    while True:
        now = time.monotonic()
        if now >= next_count:  # copying 10k records holds the fake's lock: not too often
            counts = Counter(r["idempotency_key"] for r in fake.received())
            delivered = len(expected & counts.keys())
            next_count = now + 1.0
        if delivered == COUNT:
            break
        if now - start > KILL_PHASE + RECOVERY:
            break
        if now >= next_kill and now - start <= KILL_PHASE:
            i = rng.randrange(WORKERS)
            workers[i].kill()
            workers[i] = cluster.worker(i)
            kills += 1
            next_kill += KILL_EVERY
        if now >= next_report:
            print(f"  kill-test progress: {delivered}/{COUNT} at the provider after {now - start:.0f} s, {kills} kills")
            next_report += 15
        time.sleep(0.2)
    elapsed = time.monotonic() - start

    # Stop killing; let beat and sweep tick a few more times: nothing may arrive twice later.
    time.sleep(6)
    counts = Counter(r["idempotency_key"] for r in fake.received())
    duplicates = {k: n for k, n in counts.items() if n > 1}
    lost = expected - counts.keys()
    states = Counter(Message.objects.values_list("state", flat=True))
    fu_states = Counter(FollowUp.objects.filter(pk__in=ids).values_list("state", flat=True))
    recovered = Message.objects.filter(state=Message.State.SENT, attempts=0).count()
    figure(
        f"kill-test: {COUNT} due, {len(lost)} lost, {len(duplicates)} duplicates, {elapsed:.1f} s "
        f"({WORKERS} workers x concurrency 1, SIGKILL every {KILL_EVERY:.0f} s: {kills} kills; "
        f"rows created in {created_in:.1f} s; messages {dict(states)}; follow-ups {dict(fu_states)}; "
        f"{recovered} recovered by look-up; provider stats {fake.stats()})"
    )
    assert not duplicates, f"sent twice: {list(duplicates.items())[:10]}"
    assert not lost, f"{len(lost)} of {COUNT} never reached the provider within {KILL_PHASE + RECOVERY:.0f} s"
    assert fu_states == {FollowUpState.DONE: COUNT}
    assert states == {Message.State.SENT: COUNT}
