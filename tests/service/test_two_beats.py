"""Two `celery beat` processes at once (a duplicated scheduler): 0 sent twice."""

import os
import time
from collections import Counter

import pytest

from notifications.models import Message
from tickets.models import FollowUp, FollowUpState

from .conftest import bulk_due_followups, figure, set_sms_policy, wait_until

pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COUNT = int(os.environ.get("SERVICE_TWO_BEATS_COUNT", "500"))


def test_two_beats_send_each_message_once(service_env, cluster, settings):
    fake = service_env.fake
    set_sms_policy("offset_seconds", 3)
    ids = bulk_due_followups(COUNT)
    keys = {f"followup:{pk}:customer" for pk in ids}

    workers = [cluster.worker(i) for i in range(2)]
    beats = [cluster.beat(0), cluster.beat(1)]
    start = time.monotonic()
    wait_until(
        lambda: keys <= {r["idempotency_key"] for r in fake.received()},
        timeout=240,
        interval=1,
        what=f"{COUNT} messages at the provider",
    )
    elapsed = time.monotonic() - start
    time.sleep(5)
    counts = Counter(r["idempotency_key"] for r in fake.received())
    duplicates = {k: n for k, n in counts.items() if n > 1}
    dispatch_runs = sum(p.log_text().count("Sending due task dispatch-due-followups") for p in beats)
    figure(
        f"two-beats: {COUNT} due, 2 beats ({dispatch_runs} dispatch ticks sent), 2 workers: "
        f"{len(duplicates)} sent twice, {len(keys - counts.keys())} lost, {elapsed:.1f} s"
    )
    assert all(p.log_text().count("Sending due task dispatch-due-followups") > 1 for p in beats), "a beat idled"
    assert not duplicates, duplicates
    assert set(counts) == keys
    assert FollowUp.objects.filter(pk__in=ids, state=FollowUpState.DONE).count() == COUNT
    wait_until(lambda: Message.objects.filter(state=Message.State.SENT).count() == COUNT, timeout=10, what="rows sent")
    assert not cluster.errors(), "\n".join(cluster.errors())
    assert all(w.alive for w in workers) and all(b.alive for b in beats)
