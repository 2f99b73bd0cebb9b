"""Batched delivery: one claim per batch, Solapi's send-many, one keep-alive connection, and each
message's own result (sent, refused, unknown) recorded on its row."""

import threading

import pytest
from django.db import connection

from notifications import services
from notifications.models import Message
from notifications.providers import gateway, memory
from notifications.providers.solapi import SolapiProvider

from .conftest import kst
from .test_deliver import _like_a_sqlite_file

pytestmark = pytest.mark.django_db
State = Message.State


def phone(i: int) -> str:
    return f"010-3000-{i:04d}"


@pytest.fixture
def many(enqueue):
    def _many(n, **kwargs):
        return [enqueue(recipient=phone(i), **kwargs) for i in range(n)]

    return _many


def states(messages):
    return sorted(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("state", flat=True))


class TestSolapiBatch:
    def test_one_request_for_the_whole_batch_and_every_row_recorded(self, many, solapi_settings, fake_provider):
        messages = many(30)
        outcomes = services.messages_deliver([m.pk for m in messages])
        assert outcomes == {m.pk: "sent" for m in messages}
        stats = fake_provider.stats()
        assert stats["batches"] == 1 and stats["accepted"] == 30
        refs = {r["idempotency_key"]: r["provider_ref"] for r in fake_provider.received()}
        for row in Message.objects.filter(pk__in=[m.pk for m in messages]):
            assert row.state == State.SENT and row.attempts == 1 and row.provider == "solapi"
            assert row.provider_ref == refs[row.idempotency_key]  # each row its own reference
            assert row.lease_until is None and row.sent_at is not None

    def test_batches_follow_the_batch_size(self, many, solapi_settings, fake_provider, settings):
        settings.DELIVERY_BATCH_SIZE = 4
        messages = many(10)
        services.messages_deliver([m.pk for m in messages])
        assert fake_provider.stats()["batches"] == 3
        assert states(messages) == [State.SENT] * 10

    def test_a_message_refused_in_the_batch_is_dead_the_others_sent(
        self, many, solapi_settings, fake_provider, monkeypatch
    ):
        messages = many(3)
        # Solapi refuses a message it cannot take (here: a sender that is not digits) in
        # failedMessageList and sends the rest; only that row is dead-lettered.
        bad = messages[1]

        class Refusing(SolapiProvider):
            def _payload(self, message):
                payload = super()._payload(message)
                if message.pk == bad.pk:
                    payload["from"] = "not-digits"
                return payload

        monkeypatch.setattr(services, "get_provider", lambda channel: Refusing())
        outcomes = services.messages_deliver([m.pk for m in messages])
        assert outcomes[bad.pk] == "dead"
        assert [outcomes[m.pk] for m in messages if m.pk != bad.pk] == ["sent", "sent"]
        dead = Message.objects.get(pk=bad.pk)
        assert dead.state == State.DEAD and dead.last_error == "solapi: status 1062"
        assert fake_provider.count(bad.idempotency_key) == 0

    def test_batch_timeout_is_looked_up_per_message_never_resent(self, many, solapi_settings, fake_provider):
        solapi_settings.PROVIDER_TIMEOUT = 0.5
        fake_provider.configure(timeout_sleep=1.5)
        messages = many(5)
        fake_provider.fail_next("timeout")  # the provider takes the batch, the answer is lost
        outcomes = services.messages_deliver([m.pk for m in messages])
        assert set(outcomes.values()) == {"retry"}
        rows = Message.objects.filter(pk__in=[m.pk for m in messages])
        assert all(r.needs_lookup and r.state == State.RETRY for r in rows)
        rows.update(next_attempt_at=kst(2020, 1, 1, 12))
        outcomes = services.messages_deliver([m.pk for m in messages])
        assert set(outcomes.values()) == {"recovered"}
        assert fake_provider.duplicates() == {}
        assert fake_provider.stats()["accepted"] == 5

    def test_503_for_the_batch_retries_every_message(self, many, solapi_settings, fake_provider):
        messages = many(4)
        fake_provider.fail_next(503)
        outcomes = services.messages_deliver([m.pk for m in messages])
        assert set(outcomes.values()) == {"retry"}
        assert fake_provider.stats()["accepted"] == 0


class TestKeepAlive:
    def test_gateway_batch_goes_in_one_request(self, many, gateway_settings, fake_provider, monkeypatch):
        monkeypatch.setattr(gateway.HttpGatewayProvider, "_no_batch", set())
        messages = many(12)
        assert set(services.messages_deliver([m.pk for m in messages]).values()) == {"sent"}
        stats = fake_provider.stats()
        assert (stats["accepted"], stats["requests"], stats["batches"]) == (12, 1, 1)
        refs = {r["idempotency_key"]: r["provider_ref"] for r in fake_provider.received()}
        assert all(m.provider_ref == refs[m.idempotency_key] for m in Message.objects.all())

    def test_a_gateway_without_batch_gets_one_request_per_message_over_one_connection(
        self, many, gateway_settings, fake_provider, monkeypatch
    ):
        monkeypatch.setattr(gateway.HttpGatewayProvider, "_no_batch", set())
        gateway.close_client()
        messages = many(12)
        fake_provider.fail_next(404)  # the batch endpoint is not there: nothing was taken
        services.messages_deliver([m.pk for m in messages])
        stats = fake_provider.stats()
        assert stats["accepted"] == 12 and stats["requests"] == 1 + 12
        assert stats["connections"] == 1  # keep-alive: one TCP connection for all 13 requests
        assert gateway_settings.HTTP_GATEWAY_URL in gateway.HttpGatewayProvider._no_batch

    def test_a_new_process_gets_its_own_client(self, monkeypatch):
        first = gateway.client()
        assert gateway.client() is first
        monkeypatch.setattr(gateway.os, "getpid", lambda: -1)  # as after a fork
        assert gateway.client() is not first


class TestClaim:
    def test_only_due_rows_are_claimed_and_stale_leases_are_flagged(self, many, settings):
        settings.SMS_PROVIDER = "memory"
        due, later, held, stale = many(4)
        now = services.calendar.now()
        Message.objects.filter(pk=later.pk).update(next_attempt_at=now + services.timedelta(hours=1))
        Message.objects.filter(pk=held.pk).update(state=State.SENDING, lease_until=now + services.timedelta(minutes=1))
        Message.objects.filter(pk=stale.pk).update(state=State.SENDING, lease_until=now - services.timedelta(seconds=1))
        memory.record(stale.idempotency_key)  # the dead worker had sent it
        outcomes = services.messages_deliver([due.pk, later.pk, held.pk, stale.pk])
        assert outcomes == {due.pk: "sent", later.pk: "skipped", held.pk: "skipped", stale.pk: "recovered"}
        assert memory.sent_count(stale.idempotency_key) == 1

    def test_quiet_hours_release_the_whole_batch(self, many):
        import time_machine

        messages = many(3, respect_quiet_hours=True)
        Message.objects.update(next_attempt_at=kst(2026, 3, 2, 21, 30))
        with time_machine.travel(kst(2026, 3, 2, 22, 0), tick=False):
            outcomes = services.messages_deliver([m.pk for m in messages])
        assert set(outcomes.values()) == {"deferred"}
        rows = Message.objects.all()
        assert {r.next_attempt_at for r in rows} == {kst(2026, 3, 3, 8, 0)}
        assert {r.state for r in rows} == {State.PENDING} and memory.outbox() == []


class TestPublish:
    def test_sweep_publishes_one_task_per_batch(self, many, published, settings):
        settings.DELIVERY_BATCH_SIZE = 4
        messages = many(10)
        Message.objects.update(queued_at=None)
        published.calls.clear()
        assert services.outbox_sweep() == 10
        assert [len(args[0]) for args in published.calls] == [4, 4, 2]
        assert sorted(published.ids()) == sorted(m.pk for m in messages)

    def test_publish_on_commit_batches_and_marks_a_failed_publish(
        self, many, monkeypatch, settings, django_capture_on_commit_callbacks
    ):
        from notifications.tasks import deliver_message

        settings.DELIVERY_BATCH_SIZE = 2
        messages = many(3)
        calls = []

        def flaky(args=None, **kwargs):
            calls.append(args[0])
            if len(calls) == 2:
                raise ConnectionError("broker down")

        monkeypatch.setattr(deliver_message, "apply_async", flaky)
        with django_capture_on_commit_callbacks(execute=True):
            services.delivery_publish_on_commit([m.pk for m in messages])
        assert calls == [[messages[0].pk, messages[1].pk], [messages[2].pk]]
        assert Message.objects.get(pk=messages[2].pk).queued_at is None  # left for the sweep
        assert Message.objects.get(pk=messages[0].pk).queued_at is not None

    def test_the_task_takes_one_id_or_a_list(self, many):
        from notifications.tasks import deliver_message

        batch = many(3)
        assert deliver_message.run([m.pk for m in batch[1:]]) == {"sent": 2}
        assert deliver_message.run([m.pk for m in batch]) == {"sent": 1, "skipped": 2}

    def test_a_single_id_task_takes_other_due_messages_along(self, many, solapi_settings, fake_provider, settings):
        from notifications.tasks import deliver_message

        settings.DELIVERY_BATCH_SIZE = 4
        first, *others = many(6)
        later = others.pop()
        Message.objects.filter(pk=later.pk).update(next_attempt_at=kst(2099, 1, 1, 12))
        assert deliver_message.run(first.pk) == "sent"
        assert fake_provider.stats()["batches"] == 1
        # the named message and the three oldest due ones: four in one request
        assert states(others[:3]) == [State.SENT] * 3 and states([others[3]]) == [State.PENDING]
        # Its own task finds it sent, and takes along what is still due.
        assert deliver_message.run(others[0].pk) == "skipped"
        assert states([others[3]]) == [State.SENT]
        assert states([later]) == [State.PENDING]  # not due: never taken along
        assert fake_provider.duplicates() == {}


@pytest.mark.django_db(transaction=True)
def test_two_workers_with_overlapping_batches_send_each_message_once(settings):
    settings.SMS_PROVIDER = "memory"
    settings.DELIVERY_BATCH_SIZE = 7
    ids = [
        services.message_enqueue(channel="sms", recipient=phone(i), idempotency_key=f"overlap:{i}", body="본문").pk
        for i in range(40)
    ]
    memory.set_delay(0.002)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker(order):
        try:
            barrier.wait()
            with _like_a_sqlite_file():
                results.append(services.messages_deliver(order))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(o,)) for o in (ids, list(reversed(ids)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    sent = [pk for r in results for pk, outcome in r.items() if outcome == "sent"]
    assert sorted(sent) == sorted(ids)  # each id sent by exactly one of the two
    assert all(memory.sent_count(f"overlap:{i}") == 1 for i in range(40))


def test_a_batch_that_runs_out_of_lease_time_releases_the_rest_unsent(
    many, gateway_settings, fake_provider, monkeypatch
):
    monkeypatch.setattr(gateway.HttpGatewayProvider, "_no_batch", {gateway_settings.HTTP_GATEWAY_URL})  # one by one
    # deadline = lease - 2 x timeout - 1 s = 0: only the first send may start; the others go
    # back to waiting, due now and unqueued, with no attempt counted (the sweep picks them up).
    gateway_settings.MESSAGE_LEASE_SECONDS = 2
    gateway_settings.PROVIDER_TIMEOUT = 0.5
    first, *rest = many(3)
    outcomes = services.messages_deliver([first.pk] + [m.pk for m in rest])
    assert outcomes == {first.pk: "sent", **{m.pk: "released" for m in rest}}
    for row in Message.objects.filter(pk__in=[m.pk for m in rest]):
        assert (row.state, row.attempts, row.queued_at, row.lease_until) == (State.PENDING, 0, None, None)
    assert fake_provider.stats()["accepted"] == 1
    assert services.outbox_sweep() == 2


def test_provider_requests_are_not_logged_with_their_urls(enqueue, solapi_settings, fake_provider, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    message = enqueue(recipient="010-9876-5432")
    SolapiProvider().lookup(message.idempotency_key, message=message)  # GET ...?to=01098765432
    services.message_deliver(message.pk)
    assert fake_provider.stats()["lookups"] == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "01098765432" not in text and "9876" not in text
