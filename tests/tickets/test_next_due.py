"""Ticket.next_due_at is the earliest pending due time of the ticket's follow-ups, whatever
changed them: the overdue queue reads that column alone."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.db.models import Min
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import DomainError
from tickets import selectors
from tickets.followups import changes as followup_changes
from tickets.followups import dispatcher, scheduling
from tickets.lifecycle import services
from tickets.models import PENDING_FOLLOWUP_STATES, Action, FollowUp, Status, Ticket
from tickets.privacy import consent, contact

from .conftest import PHONE_E164, at, kst

pytestmark = pytest.mark.django_db

START = kst(2026, 11, 20, 10, 0)  # a Friday morning


def expected_next_due(ticket_id):
    pending = FollowUp.objects.filter(ticket_id=ticket_id, state__in=PENDING_FOLLOWUP_STATES)
    return pending.aggregate(m=Min("due_at"))["m"]


def assert_consistent():
    for ticket_id, stored in Ticket.objects.values_list("pk", "next_due_at"):
        assert stored == expected_next_due(ticket_id), f"ticket {ticket_id}"


def _penalty(make_ticket):
    return make_ticket(customer_phone=PHONE_E164, consent_basis="newly_collected")


OPERATIONS = [
    "dispatch",
    "start",
    "wait",
    "resume",
    "outcome",
    "resolve",
    "close",
    "cancel",
    "recontact",
    "complete",
    "reschedule",
    "drop",
    "withdraw",
    "purge",
]


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 72), st.integers(0, 10)), max_size=14))
def test_next_due_follows_every_change(make_ticket, supervisor, steps):
    boss = Actor.for_user(supervisor)
    with time_machine.travel(START, tick=False) as clock:
        tickets = [_penalty(make_ticket), make_ticket()]
        assert_consistent()
        for op, hours, pick in steps:
            clock.shift(timedelta(hours=hours))
            ticket = Ticket.objects.get(pk=tickets[pick % len(tickets)].pk)
            pending = list(FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES).order_by("pk"))
            try:
                if op == "dispatch":
                    dispatcher.dispatch_due()
                elif op in ("start", "wait", "resume", "resolve", "close", "cancel"):
                    target = {
                        "start": Status.IN_PROGRESS,
                        "wait": Status.WAITING_CUSTOMER,
                        "resume": Status.IN_PROGRESS,
                        "resolve": Status.RESOLVED,
                        "close": Status.CLOSED,
                        "cancel": Status.CANCELLED,
                    }[op]
                    services.ticket_transition(ticket, to_status=target, actor=boss)
                elif op == "outcome":
                    services.ticket_record_outcome(ticket, outcome="warning", actor=boss)
                elif op == "recontact":
                    services.ticket_log_recontact(ticket, actor=boss, note="재문의")
                elif op == "complete":
                    callbacks = [fu for fu in pending if fu.action == Action.CALL_BACK]
                    if callbacks:
                        followup_changes.followup_complete(callbacks[pick % len(callbacks)], actor=boss)
                elif op == "reschedule" and pending:
                    followup_changes.followup_reschedule(
                        pending[pick % len(pending)],
                        due_at=calendar.after_seconds(calendar.now(), (pick - 5) * 3600),
                        reason="고객 요청",
                        actor=boss,
                    )
                elif op == "drop" and pending:
                    followup_changes.followup_cancel(pending[pick % len(pending)], reason="중복", actor=boss)
                elif op == "withdraw":
                    consent.ticket_withdraw_consent(ticket, actor=boss, note="철회")
                elif op == "purge":
                    contact.ticket_purge_contact(ticket, actor=boss, reason="요청")
            except DomainError:
                pass  # not allowed in this state: nothing changed, still consistent
            assert_consistent()


def test_overdue_queue_reads_next_due(make_ticket, supervisor):
    with at(2026, 11, 20, 10, 0):
        ticket = _penalty(make_ticket)
    first_due = expected_next_due(ticket.pk)
    assert first_due is not None and Ticket.objects.get(pk=ticket.pk).next_due_at == first_due
    with time_machine.travel(first_due - timedelta(seconds=1), tick=False):
        assert ticket not in selectors.overdue_tickets()
    with time_machine.travel(first_due + timedelta(seconds=1), tick=False):
        [row] = selectors.overdue_tickets()
        assert row == ticket and row.oldest_due == first_due
        # Every pending duty cancelled: nothing is due any more, so it leaves the queue.
        boss = Actor.for_user(supervisor)
        for fu in FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES):
            followup_changes.followup_cancel(fu, reason="정리", actor=boss)
        assert Ticket.objects.get(pk=ticket.pk).next_due_at is None
        assert list(selectors.overdue_tickets()) == []


def test_a_stale_copy_saved_later_keeps_the_engines_value(make_ticket, supervisor):
    with at(2026, 11, 20, 10, 0):
        ticket = _penalty(make_ticket)
        stale = Ticket.objects.get(pk=ticket.pk)
        for fu in FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES):
            followup_changes.followup_cancel(fu, reason="정리", actor=Actor.for_user(supervisor))
        stale.title = "제목 변경"
        stale.save()
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.title, stored.next_due_at) == ("제목 변경", None)


def test_migration_backfill_and_refresh_all_recompute_from_follow_ups(make_ticket):
    from importlib import import_module

    backfill = import_module("tickets.migrations.0009_ticket_next_due_at").backfill_next_due
    with at(2026, 11, 20, 10, 0):
        tickets = [_penalty(make_ticket) for _ in range(3)]
    Ticket.objects.update(next_due_at=None)
    backfill(apps, None)
    assert_consistent()
    assert all(Ticket.objects.get(pk=t.pk).next_due_at is not None for t in tickets)
    Ticket.objects.update(next_due_at=START)
    assert scheduling.refresh_all_next_due(batch_size=2) == 3
    assert_consistent()
    Ticket.objects.update(next_due_at=None)
    out = io.StringIO()
    call_command("refresh_next_due", batch_size=2, stdout=out)
    assert "3건" in out.getvalue()
    assert_consistent()


def test_summary_counts_each_ticket_once_across_its_two_parts(make_ticket, supervisor):
    boss = Actor.for_user(supervisor)
    with at(2026, 11, 20, 10, 0):
        overdue_only, breached_only, both, not_yet = (_penalty(make_ticket) for _ in range(4))
    Ticket.objects.filter(pk__in=[breached_only.pk, both.pk]).update(breached_at=START)
    with at(2026, 11, 20, 11, 0):
        for fu in FollowUp.objects.filter(ticket=breached_only, state__in=PENDING_FOLLOWUP_STATES):
            followup_changes.followup_cancel(fu, reason="정리", actor=boss)
        far = calendar.after_seconds(START, 90 * 86400)
        for fu in FollowUp.objects.filter(ticket=not_yet, state__in=PENDING_FOLLOWUP_STATES):
            followup_changes.followup_reschedule(fu, due_at=far, reason="고객 요청", actor=boss)
    moment = expected_next_due(overdue_only.pk) + timedelta(hours=1)
    with time_machine.travel(moment, tick=False):
        queue = selectors.overdue_tickets()
        assert set(queue) == {overdue_only, breached_only, both}
        summary = selectors.overdue_summary(queue)
    assert (summary["total"], summary["breached"]) == (3, 2)
    assert sum(summary["by_age"].values()) == sum(summary["by_kind"].values()) == 3
    assert sum(summary["by_board"].values()) == sum(summary["by_assignee"].values()) == 3
