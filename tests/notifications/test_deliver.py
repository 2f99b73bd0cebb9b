"""message_deliver, message_retry_dead and outbox_sweep through the in-memory provider."""

import contextlib
import logging
import random
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import OperationalError, connection

from cstrack import calendar
from cstrack.errors import Conflict, NotFound
from notifications import services
from notifications.models import Message
from notifications.providers import memory

from .conftest import PHONE_E164, PHONE_VARIANTS, kst

pytestmark = pytest.mark.django_db
State = Message.State


def reload(message):
    return Message.objects.get(pk=message.pk)


def test_success_through_memory_provider(enqueue):
    message = enqueue(body="[테스트] 처리가 끝났습니다.")
    assert services.message_deliver(message.pk) == "sent"
    message = reload(message)
    assert message.state == State.SENT
    assert message.attempts == 1
    assert message.provider == "memory"
    assert message.provider_ref.startswith("mem-")
    assert message.sent_at is not None
    assert message.lease_until is None and message.next_attempt_at is None
    [sent] = memory.outbox()
    assert sent["to"] == PHONE_E164
    assert sent["type"] == "SMS"
    assert sent["text"] == "[테스트] 처리가 끝났습니다."
    assert sent["idempotency_key"] == message.idempotency_key


def test_second_deliver_is_a_no_op(enqueue):
    message = enqueue()
    assert services.message_deliver(message.pk) == "sent"
    assert services.message_deliver(message.pk) == "skipped"
    assert memory.sent_count(message.idempotency_key) == 1


def test_unknown_id_is_skipped(db):
    assert services.message_deliver(999_999) == "skipped"


def test_not_due_is_skipped(enqueue):
    message = enqueue(not_before=calendar.now() + timedelta(hours=1))
    assert services.message_deliver(message.pk) == "skipped"
    assert memory.outbox() == []


def test_temporary_failures_back_off_then_dead_letter(enqueue, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    start = kst(2026, 11, 23, 10, 0)
    with time_machine.travel(start, tick=False) as clock:
        message = enqueue()
        memory.inject("temporary", "temporary", "temporary")

        assert services.message_deliver(message.pk) == "retry"
        m = reload(message)
        assert (m.state, m.attempts) == (State.RETRY, 1)
        assert start + timedelta(seconds=15) <= m.next_attempt_at <= start + timedelta(seconds=30)
        assert "temporary" in m.last_error
        assert services.message_deliver(message.pk) == "skipped"  # not due yet

        clock.move_to(m.next_attempt_at)
        assert services.message_deliver(message.pk) == "retry"
        m2 = reload(message)
        assert m2.attempts == 2
        delay = m2.next_attempt_at - m.next_attempt_at
        assert timedelta(seconds=30) <= delay <= timedelta(seconds=60)

        clock.move_to(m2.next_attempt_at)
        assert services.message_deliver(message.pk) == "dead"
        m3 = reload(message)
        assert (m3.state, m3.attempts, m3.next_attempt_at) == (State.DEAD, 3, None)
    assert memory.outbox() == []


def test_last_attempt_timing_out_gets_a_look_up_before_it_is_called_dead(enqueue, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 2
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
        message = enqueue()
        memory.inject("temporary", "timeout")  # the second attempt reached the provider, then timed out
        assert services.message_deliver(message.pk) == "retry"
        clock.move_to(reload(message).next_attempt_at)
        assert services.message_deliver(message.pk) == "retry"  # out of attempts, outcome unknown
        assert reload(message).needs_lookup
        clock.move_to(reload(message).next_attempt_at)
        assert services.message_deliver(message.pk) == "recovered"  # found at the provider: sent, not resent
    m = reload(message)
    assert m.state == State.SENT and memory.sent_count(message.idempotency_key) == 1
    assert m.attempts == 2  # the look-up sent nothing and is not counted as an attempt


def test_look_up_only_attempt_dead_letters_when_the_provider_never_got_it(enqueue, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 1
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
        message = enqueue()
        Message.objects.filter(pk=message.pk).update(needs_lookup=True, attempts=1, state=State.RETRY)
        clock.shift(timedelta(seconds=1))
        assert services.message_deliver(message.pk) == "dead"
    m = reload(message)
    assert (m.attempts, m.needs_lookup) == (1, False)
    assert m.last_error == "not at the provider after the last attempt"
    assert memory.outbox() == []


def test_look_up_only_attempt_that_cannot_reach_the_provider_dead_letters_as_uncertain(enqueue, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 2
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
        message = enqueue()
        Message.objects.filter(pk=message.pk).update(needs_lookup=True, attempts=2, state=State.RETRY)
        memory.inject("lookup_error")
        clock.shift(timedelta(seconds=1))
        assert services.message_deliver(message.pk) == "dead"
    m = reload(message)
    # Never resent blind; the operator sees it may have gone out.
    assert (m.attempts, m.needs_lookup) == (2, True)
    assert "불확실" in m.last_error
    assert memory.outbox() == []


def test_temporary_failure_then_success(enqueue):
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
        message = enqueue()
        memory.inject("temporary")
        assert services.message_deliver(message.pk) == "retry"
        clock.shift(timedelta(minutes=5))
        assert services.message_deliver(message.pk) == "sent"
    m = reload(message)
    assert (m.state, m.attempts, m.last_error) == (State.SENT, 2, "")
    assert memory.sent_count(message.idempotency_key) == 1


def test_permanent_failure_dead_letters_at_once(enqueue):
    message = enqueue()
    memory.inject("permanent")
    assert services.message_deliver(message.pk) == "dead"
    m = reload(message)
    assert (m.state, m.attempts) == (State.DEAD, 1)
    assert "permanent" in m.last_error
    assert all(v not in m.last_error for v in PHONE_VARIANTS)


def test_retry_delay_is_exponential_with_jitter_and_capped(settings):
    rng = random.Random(3)
    for attempts, (low, high) in {1: (15, 30), 2: (30, 60), 3: (60, 120), 8: (1800, 3600), 20: (1800, 3600)}.items():
        for _ in range(50):
            delay = services.retry_delay(attempts, rng=rng).total_seconds()
            assert low <= delay <= high
    assert len({services.retry_delay(4, rng=rng) for _ in range(10)}) > 1  # jittered


def test_crash_recovery_provider_already_has_it(enqueue):
    """A worker died after the provider took the message but before we recorded it."""
    now = calendar.now()
    message = enqueue()
    Message.objects.filter(pk=message.pk).update(state=State.SENDING, lease_until=now - timedelta(seconds=1))
    ref = memory.record(message.idempotency_key, to=PHONE_E164, text=message.body)

    assert services.message_deliver(message.pk) == "recovered"
    m = reload(message)
    assert (m.state, m.provider_ref, m.needs_lookup) == (State.SENT, ref, False)
    assert memory.sent_count(message.idempotency_key) == 1  # not resent


def test_crash_recovery_provider_does_not_have_it(enqueue):
    message = enqueue()
    Message.objects.filter(pk=message.pk).update(state=State.SENDING, lease_until=calendar.now() - timedelta(seconds=1))
    assert services.message_deliver(message.pk) == "sent"
    assert memory.sent_count(message.idempotency_key) == 1


def test_live_lease_is_not_taken_over(enqueue):
    message = enqueue()
    Message.objects.filter(pk=message.pk).update(
        state=State.SENDING, lease_until=calendar.now() + timedelta(seconds=60)
    )
    assert services.message_deliver(message.pk) == "skipped"
    assert memory.outbox() == []


def test_timeout_is_looked_up_before_resending(enqueue):
    """The provider took the message but the answer never came: the retry must not resend."""
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
        message = enqueue()
        memory.inject("timeout")
        assert services.message_deliver(message.pk) == "retry"
        assert reload(message).needs_lookup is True
        clock.shift(timedelta(minutes=5))
        assert services.message_deliver(message.pk) == "recovered"
    assert memory.sent_count(message.idempotency_key) == 1
    assert reload(message).state == State.SENT


def test_failed_lookup_does_not_resend_blind(enqueue):
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
        message = enqueue()
        Message.objects.filter(pk=message.pk).update(state=State.SENDING, lease_until=calendar.now() - timedelta(1))
        memory.inject("lookup_error")
        assert services.message_deliver(message.pk) == "retry"
        m = reload(message)
        assert m.needs_lookup is True and m.state == State.RETRY
        assert memory.outbox() == []
        clock.shift(timedelta(minutes=5))
        assert services.message_deliver(message.pk) == "sent"  # lookup answers "not there": send
    assert memory.sent_count(message.idempotency_key) == 1


def test_quiet_hours_at_send_time_defers_to_0800(enqueue):
    with time_machine.travel(kst(2026, 11, 23, 20, 59), tick=False) as clock:
        message = enqueue(respect_quiet_hours=True)  # due at 20:59, but the worker is late
        clock.move_to(kst(2026, 11, 23, 21, 30))
        assert services.message_deliver(message.pk) == "deferred"
    m = reload(message)
    assert (m.state, m.next_attempt_at, m.lease_until, m.attempts) == (
        State.PENDING,
        kst(2026, 11, 24, 8, 0),
        None,
        0,
    )
    assert memory.outbox() == []
    with time_machine.travel(kst(2026, 11, 24, 8, 0), tick=False):
        assert services.message_deliver(message.pk) == "sent"


def test_retry_is_not_scheduled_inside_quiet_hours(enqueue):
    with time_machine.travel(kst(2026, 11, 23, 20, 59, 50), tick=False):
        message = enqueue(respect_quiet_hours=True)
        memory.inject("temporary")
        assert services.message_deliver(message.pk) == "retry"
    assert reload(message).next_attempt_at == kst(2026, 11, 24, 8, 0)


def test_staff_email_at_night_goes_out(enqueue, settings):
    with time_machine.travel(kst(2026, 11, 23, 23, 0), tick=False):
        message = enqueue(channel="email", recipient="lead@staff.example", subject="[cstrack] 기한 초과", body="확인")
        assert services.message_deliver(message.pk) == "sent"
    [email] = mail.outbox
    assert email.to == ["lead@staff.example"]
    assert email.subject == "[cstrack] 기한 초과"
    assert email.extra_headers["X-Cstrack-Idempotency-Key"] == message.idempotency_key
    assert reload(message).provider == "email"


def test_missing_provider_configuration_dead_letters_clearly(enqueue, settings):
    settings.SMS_PROVIDER = "http"
    settings.HTTP_GATEWAY_URL = ""
    message = enqueue()
    assert services.message_deliver(message.pk) == "dead"
    assert "HTTP_GATEWAY_URL" in reload(message).last_error


def test_missing_sender_number_dead_letters_clearly(enqueue, settings):
    settings.SMS_PROVIDER = "solapi"
    settings.SOLAPI_API_KEY, settings.SOLAPI_API_SECRET = "k", "s"
    settings.SMS_SENDER_NUMBER = ""
    message = enqueue()
    assert services.message_deliver(message.pk) == "dead"
    assert "SMS_SENDER_NUMBER" in reload(message).last_error


def test_unexpected_exception_is_recorded_without_its_text(enqueue, monkeypatch):
    def boom(self, message):
        raise RuntimeError(f"cannot reach {message.recipient}")

    monkeypatch.setattr(memory.MemoryProvider, "send", boom)
    message = enqueue()
    assert services.message_deliver(message.pk) == "retry"
    m = reload(message)
    assert "RuntimeError" in m.last_error
    assert all(v not in m.last_error for v in PHONE_VARIANTS)
    assert m.needs_lookup is True


def test_no_phone_number_in_logs(enqueue, caplog):
    caplog.set_level(logging.DEBUG)
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
        message = enqueue()
        memory.inject("temporary", "timeout")
        services.message_deliver(message.pk)
        clock.shift(timedelta(minutes=5))
        services.message_deliver(message.pk)
        clock.shift(timedelta(minutes=5))
        services.message_deliver(message.pk)
    assert caplog.records
    assert all(v not in caplog.text for v in PHONE_VARIANTS)


class TestRetryDead:
    def test_requeues_dead_letter(self, enqueue, published, django_capture_on_commit_callbacks):
        message = enqueue()
        memory.inject("permanent")
        services.message_deliver(message.pk)
        published.calls.clear()
        with django_capture_on_commit_callbacks(execute=True):
            retried = services.message_retry_dead(message.pk, actor_label="super1")
        assert (retried.state, retried.attempts) == (State.PENDING, 0)
        assert retried.next_attempt_at <= calendar.now()
        assert published.ids() == [message.pk]
        assert services.message_deliver(message.pk) == "sent"

    def test_refuses_a_message_that_is_not_dead(self, enqueue):
        message = enqueue()
        with pytest.raises(Conflict):
            services.message_retry_dead(message.pk, actor_label="super1")

    def test_unknown_message(self, db):
        with pytest.raises(NotFound):
            services.message_retry_dead(123456, actor_label="super1")


class TestSweep:
    def test_queues_unqueued_due_retry_and_stale_rows_only(self, enqueue, published):
        with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False):
            now = calendar.now()
            fresh = enqueue()  # published at enqueue: the sweep leaves it to its task
            lost = enqueue()
            Message.objects.filter(pk=lost.pk).update(queued_at=None)  # the publish never happened
            retry = enqueue()
            Message.objects.filter(pk=retry.pk).update(  # queued for its first attempt, which failed
                state=State.RETRY, queued_at=now - timedelta(minutes=2), next_attempt_at=now - timedelta(seconds=1)
            )
            later = enqueue(not_before=now + timedelta(hours=1))
            stale = enqueue()
            Message.objects.filter(pk=stale.pk).update(state=State.SENDING, lease_until=now - timedelta(seconds=1))
            live = enqueue()
            Message.objects.filter(pk=live.pk).update(state=State.SENDING, lease_until=now + timedelta(seconds=60))
            sent = enqueue()
            services.message_deliver(sent.pk)
            published.calls.clear()

            assert services.outbox_sweep() == 3
            assert sorted(published.ids()) == sorted([lost.pk, retry.pk, stale.pk])
            assert fresh.pk not in published.ids() and later.pk not in published.ids()
            # A backlog is not queued again on the next tick; only the expired lease is.
            published.calls.clear()
            assert services.outbox_sweep() == 1
            assert published.ids() == [stale.pk]

    def test_a_task_lost_by_the_broker_is_queued_again_after_the_requeue_window(self, enqueue, published, settings):
        settings.OUTBOX_REQUEUE_AFTER_SECONDS = 300
        with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False):
            message = enqueue()
            published.calls.clear()
            assert services.outbox_sweep() == 0
        with time_machine.travel(kst(2026, 11, 23, 10, 5, 1), tick=False):
            assert services.outbox_sweep() == 1
            assert published.ids() == [message.pk]

    def test_a_failed_publish_at_enqueue_leaves_the_row_for_the_next_sweep(self, enqueue, published, monkeypatch):
        from notifications.tasks import deliver_message

        def down(*args, **kwargs):
            raise ConnectionError("broker down")

        monkeypatch.setattr(deliver_message, "apply_async", down)
        message = enqueue()
        assert reload(message).queued_at is None
        monkeypatch.undo()
        published.calls.clear()
        assert services.outbox_sweep() == 1

    def test_respects_limit(self, enqueue, published):
        for _ in range(5):
            enqueue()
        Message.objects.update(queued_at=None)
        published.calls.clear()
        assert services.outbox_sweep(limit=2) == 2

    def test_broker_down_stops_quietly(self, enqueue, published, monkeypatch):
        from notifications.tasks import deliver_message

        enqueue()
        Message.objects.update(queued_at=None)

        def down(*args, **kwargs):
            raise ConnectionError("broker down")

        monkeypatch.setattr(deliver_message, "apply_async", down)
        assert services.outbox_sweep() == 0
        assert Message.objects.filter(queued_at__isnull=True).count() == 1

    def test_sweep_then_deliver_catches_up_a_lost_publish(self, enqueue, published):
        message = enqueue()
        Message.objects.filter(pk=message.pk).update(queued_at=None)  # the broker lost this publish
        published.calls.clear()
        services.outbox_sweep()
        for pk in published.ids():
            services.message_deliver(pk)
        assert reload(message).state == State.SENT


class TestTasks:
    def test_names_and_thin_calls(self, enqueue):
        from notifications.tasks import deliver_message, sweep_outbox

        assert deliver_message.name == "notifications.deliver_message"
        assert sweep_outbox.name == "notifications.sweep_outbox"
        message = enqueue()
        assert deliver_message.run(message.pk) == "sent"
        assert deliver_message.run(message.pk) == "skipped"  # a redelivered task does nothing
        assert sweep_outbox.run() == 0


def _wait_while_locked(execute, sql, params, many, context):
    deadline = time.monotonic() + 10
    while True:
        try:
            return execute(sql, params, many, context)
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _like_a_sqlite_file():
    """The test database on SQLite is a shared-cache in-memory database, which answers a
    concurrent writer with SQLITE_LOCKED at once instead of making it wait as the real file
    database does (busy timeout). Wait and retry the statement as the busy handler would. On
    PostgreSQL nothing is changed: the row lock decides."""
    if connection.vendor != "sqlite":
        return contextlib.nullcontext()
    return connection.execute_wrapper(_wait_while_locked)


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliver_sends_once(settings):
    """Two workers get the same id at the same moment: exactly one sends."""
    message = services.message_enqueue(channel="sms", recipient="010-2222-3333", idempotency_key="race:1", body="본문")
    memory.set_delay(0.3)  # keep the first sender inside its lease while the second tries
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            with _like_a_sqlite_file():
                results.append(services.message_deliver(message.pk))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert sorted(results) == ["sent", "skipped"]
    assert memory.sent_count("race:1") == 1
    assert Message.objects.get(pk=message.pk).state == State.SENT


class TestCancelAndForget:
    def test_cancel_stops_unsent_messages_and_leaves_the_rest(self, enqueue):
        with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False):
            waiting, retrying, dead, sending, sent = (enqueue(idempotency_key=f"k-{i}") for i in range(5))
            Message.objects.filter(pk=retrying.pk).update(state=State.RETRY, attempts=1)
            Message.objects.filter(pk=dead.pk).update(state=State.DEAD, attempts=6)
            Message.objects.filter(pk=sending.pk).update(
                state=State.SENDING, lease_until=calendar.now() + timedelta(minutes=2)
            )
            assert services.message_deliver(sent.pk) == "sent"
            ids = [m.pk for m in (waiting, retrying, dead, sending, sent)]
            assert services.messages_cancel(ids, reason="동의 철회") == 3
            states = dict(Message.objects.filter(pk__in=ids).values_list("pk", "state"))
            assert states == {
                waiting.pk: State.CANCELLED,
                retrying.pk: State.CANCELLED,
                dead.pk: State.CANCELLED,
                sending.pk: State.SENDING,  # a worker has it in hand: cannot be called back
                sent.pk: State.SENT,
            }
            assert services.message_deliver(waiting.pk) == "skipped"
            with pytest.raises(Conflict):
                services.message_retry_dead(dead.pk, "supervisor")
        assert len(memory.outbox()) == 1

    def test_a_message_whose_recipient_was_erased_mid_send_is_never_sent(self, enqueue):
        with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
            message = enqueue()
            # A worker died holding it; meanwhile the contact was purged.
            Message.objects.filter(pk=message.pk).update(state=State.SENDING, lease_until=calendar.now())
            assert services.messages_forget_recipient([message.pk]) == 1
            clock.shift(timedelta(seconds=1))
            assert services.message_deliver(message.pk) == "dead"
        m = reload(message)
        assert (m.recipient, m.recipient_masked, m.last_error) == ("", "", "recipient erased")
        assert memory.outbox() == []
