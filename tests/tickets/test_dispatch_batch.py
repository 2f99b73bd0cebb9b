"""The dispatcher carries a batch out as a set: a constant number of statements per batch, and a
row that fails neither loses nor repeats the others."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cstrack.errors import DomainValidationError
from notifications import services as outbox_services
from notifications.models import Message
from tickets import webhooks
from tickets.followups import dispatcher
from tickets.lifecycle import services
from tickets.models import Action, Board, EventType, FollowUp, FollowUpState, Ticket, TicketEvent

from .conftest import at, kst

pytestmark = pytest.mark.django_db
ST = FollowUpState
PENALTY = "driver-penalty-request"


@pytest.fixture(autouse=True)
def _supervisor_emails(db):
    Board.objects.update(supervisor_email="lead@staff.example")


def _penalties(create, operator_actor, with_outcome: int, without: int) -> list[Ticket]:
    """Penalty requests received Thu 2026-11-19 14:00 KST (SMS and breach alert due D+3 10:00);
    the first `with_outcome` get an outcome the next day."""
    with at(2026, 11, 19, 14, 0):
        tickets = [create(PENALTY) for _ in range(with_outcome + without)]
    with at(2026, 11, 20, 11, 0):
        for ticket in tickets[:with_outcome]:
            services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)
    return tickets


def _dispatch_counting(batch_size=200):
    with at(2026, 11, 22, 10, 0), CaptureQueriesContext(connection) as ctx:
        result = dispatcher.dispatch_due(batch_size=batch_size)
    return result, len(ctx.captured_queries)


def test_statements_per_batch_do_not_grow_with_its_rows(create, operator_actor, django_capture_on_commit_callbacks):
    """Sent SMS, held SMS, breach alerts, breach events and their webhook deliveries: the same
    statements for 3 due rows as for 15."""
    sub = webhooks.subscription_create(name="crm", target_url="https://crm.example/hook", event_types=["breached"])
    _penalties(create, operator_actor, with_outcome=1, without=1)
    small, small_count = _dispatch_counting()
    assert (small.claimed, small.done, small.skipped, small.held) == (3, 2, 0, 1)

    FollowUp.objects.all().delete()
    Message.objects.all().delete()
    tickets = _penalties(create, operator_actor, with_outcome=5, without=5)
    with django_capture_on_commit_callbacks() as callbacks:
        large, large_count = _dispatch_counting()
    assert len(callbacks) == 2  # deliveries published once for the follow-ups' messages, once for the webhooks
    assert (large.claimed, large.done, large.skipped, large.held, large.failed) == (15, 10, 0, 5, 0)
    assert large_count == small_count, (small_count, large_count)

    # What the set-based writes produced, row by row.
    for ticket in tickets[:5]:
        sms = FollowUp.objects.get(ticket=ticket, action=Action.CUSTOMER_MESSAGE)
        assert sms.state == ST.DONE and sms.message.idempotency_key == f"followup:{sms.pk}:customer"
        # The alert was settled when the outcome came (before the batch): not claimed.
        assert FollowUp.objects.get(ticket=ticket, action=Action.ALERT_SUPERVISOR).state != ST.SCHEDULED
    breaches = TicketEvent.objects.filter(type=EventType.BREACHED, ticket__in=tickets)
    assert sorted(breaches.values_list("ticket_id", flat=True)) == sorted(t.pk for t in tickets[5:])
    for ticket in tickets[5:]:
        assert FollowUp.objects.get(ticket=ticket, action=Action.CUSTOMER_MESSAGE).state == ST.HELD
        alert = FollowUp.objects.get(ticket=ticket, action=Action.ALERT_SUPERVISOR)
        assert alert.state == ST.DONE and alert.message.idempotency_key == f"followup:{alert.pk}:email"
        assert Ticket.objects.get(pk=ticket.pk).breached_at == kst(2026, 11, 22, 10, 0)
    hooks = Message.objects.filter(channel="webhook")
    assert sorted(hooks.values_list("idempotency_key", flat=True)) == sorted(
        f"webhook:{sub.pk}:{event.pk}" for event in breaches
    )
    # The next due time was refreshed: only the held SMS remain pending.
    assert not Ticket.objects.filter(pk__in=[t.pk for t in tickets[:5]], next_due_at__isnull=False).exists()


def test_a_failing_row_neither_loses_nor_repeats_the_others(
    create, operator_actor, published, django_capture_on_commit_callbacks, monkeypatch
):
    tickets = _penalties(create, operator_actor, with_outcome=4, without=0)
    bad = tickets[1]
    Ticket.objects.filter(pk=bad.pk).update(customer_phone="+821099990000")
    real_recipient = outbox_services._recipient

    def refuse_one(channel, recipient):  # the outbox refuses this one recipient
        if getattr(recipient, "e164", recipient) == "+821099990000":
            raise DomainValidationError({"recipient": ["수신 거부된 번호"]})
        return real_recipient(channel, recipient)

    monkeypatch.setattr(outbox_services, "_recipient", refuse_one)
    bad_sms = FollowUp.objects.get(ticket=bad, action=Action.CUSTOMER_MESSAGE)

    with django_capture_on_commit_callbacks(execute=True):
        result, _ = _dispatch_counting()
    assert (result.claimed, result.done, result.skipped, result.failed) == (4, 3, 0, 1)
    sent = Message.objects.filter(channel="sms")
    assert sorted(sent.values_list("idempotency_key", flat=True)) == sorted(
        f"followup:{FollowUp.objects.get(ticket=t, action=Action.CUSTOMER_MESSAGE).pk}:customer"
        for t in tickets
        if t != bad
    )
    # Published once each, and nothing for the rows of the rolled-back bulk attempt.
    assert sorted(published.ids()) == sorted(sent.values_list("pk", flat=True))
    bad_sms.refresh_from_db()
    assert (bad_sms.state, bad_sms.attempts, bad_sms.message_id) == (ST.SCHEDULED, 1, None)
    assert bad_sms.due_at == kst(2026, 11, 22, 10, 1)

    # The retries touch the failing row alone; after the third it is marked failed.
    for minute, attempts in ((2, 2), (5, 3)):
        with at(2026, 11, 22, 10, minute), django_capture_on_commit_callbacks(execute=True):
            again = dispatcher.dispatch_due()
        assert (again.claimed, again.failed, again.done) == (1, 1, 0)
        bad_sms.refresh_from_db()
        assert bad_sms.attempts == attempts
    assert bad_sms.state == ST.FAILED
    assert sent.count() == 3 and sorted(published.ids()) == sorted(sent.values_list("pk", flat=True))


def test_a_failed_bulk_leaves_no_partial_writes(create, operator_actor, monkeypatch):
    """When the bulk path raises after some of its writes, they are rolled back before the rows
    are carried out one by one: every event and message exists once."""
    tickets = _penalties(create, operator_actor, with_outcome=0, without=3)
    real_update = dispatcher._update_followups  # the batch's last write
    calls = {"n": 0}

    def fail_first_update(now, **columns):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("connection lost mid-batch")
        return real_update(now, **columns)

    monkeypatch.setattr(dispatcher, "_update_followups", fail_first_update)
    result, _ = _dispatch_counting()
    assert (result.claimed, result.done, result.held, result.failed) == (6, 3, 3, 0)
    assert calls["n"] == 1 + 6  # the bulk attempt, then one per row
    assert TicketEvent.objects.filter(type=EventType.BREACHED).count() == 3
    assert Message.objects.filter(channel="email").count() == 3
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], breached_at__isnull=False).count() == 3


def test_the_batch_update_sets_each_row_its_own_values_and_leaves_the_rest(create, operator_actor):
    """_update_followups (one statement: a CASE per column on SQLite, unnest on PostgreSQL)."""
    tickets = _penalties(create, operator_actor, with_outcome=2, without=1)
    rows = list(FollowUp.objects.filter(ticket__in=tickets).order_by("pk"))
    done, skipped, untouched = rows[0], rows[1], rows[2]
    FollowUp.objects.filter(pk=skipped.pk).update(completed_at=kst(2026, 11, 21, 9, 0))
    before = {row.pk: row for row in FollowUp.objects.filter(pk__in=[r.pk for r in rows])}
    now = kst(2026, 11, 22, 10, 0)
    with at(2026, 11, 22, 10, 0):
        dispatcher._update_followups(
            now,
            state={done.pk: ST.DONE, skipped.pk: ST.SKIPPED},
            reason={done.pk: "보냄", skipped.pk: "생략"},
            completed_at={done.pk: now, skipped.pk: None},  # None writes NULL
            message_id={},  # a column no row names changes nothing
        )
    after = {row.pk: row for row in FollowUp.objects.filter(pk__in=[r.pk for r in rows])}
    assert (after[done.pk].state, after[done.pk].reason, after[done.pk].completed_at) == (ST.DONE, "보냄", now)
    assert (after[skipped.pk].state, after[skipped.pk].reason, after[skipped.pk].completed_at) == (
        ST.SKIPPED,
        "생략",
        None,
    )
    assert after[done.pk].message_id == before[done.pk].message_id
    assert after[done.pk].updated_at == now
    unchanged = ("state", "reason", "completed_at", "message_id", "updated_at", "due_at")
    for row in rows[2:]:
        assert [getattr(after[row.pk], f) for f in unchanged] == [getattr(before[row.pk], f) for f in unchanged]
    assert untouched.pk not in (done.pk, skipped.pk)
