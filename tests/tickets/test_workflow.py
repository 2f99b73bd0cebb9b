"""The whole transition map: every allowed pair succeeds, every other pair is a 409 that
names both states and writes nothing."""

import itertools

import pytest

from cstrack.errors import Conflict, TransitionNotAllowed
from tickets.lifecycle import services
from tickets.lifecycle.workflow import TRANSITIONS, allowed_targets
from tickets.locking import locked_ticket
from tickets.models import EventType, Status, Ticket, TicketEvent

pytestmark = pytest.mark.django_db
S = Status
ALL_PAIRS = list(itertools.product(Status.values, Status.values))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def bring_to(ticket, state, actor, operator_actor):
    """Put a penalty ticket (its kind has outcomes) in `state` through the services, with the
    outcome already recorded wherever a completing move could need it."""
    t = services.ticket_transition
    if state == S.RECEIVED:
        return ticket
    if state == S.WAITING_CUSTOMER:
        return t(ticket, to_status=S.WAITING_CUSTOMER, actor=actor)
    if state == S.CANCELLED:
        return t(ticket, to_status=S.CANCELLED, actor=actor)
    ticket = services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)
    assert ticket.status == S.ACTION_TAKEN
    if state == S.ACTION_TAKEN:
        return ticket
    if state == S.IN_PROGRESS:
        return t(ticket, to_status=S.IN_PROGRESS, actor=actor)
    ticket = t(ticket, to_status=S.RESOLVED, actor=actor)
    if state == S.RESOLVED:
        return ticket
    return t(ticket, to_status=S.CLOSED, actor=actor)


def test_map_covers_every_status():
    assert set(TRANSITIONS) == set(Status.values)
    assert TRANSITIONS[S.CLOSED] == set() and TRANSITIONS[S.CANCELLED] == set()
    assert len(ALLOWED) == 14 and len(FORBIDDEN) == 49 - 14


@pytest.mark.parametrize(("from_status", "to_status"), ALLOWED)
def test_allowed_transition(make_ticket, actor, operator_actor, from_status, to_status):
    ticket = bring_to(make_ticket(), from_status, actor, operator_actor)
    assert ticket.status == from_status
    assert to_status in allowed_targets(ticket)
    events, version = TicketEvent.objects.filter(ticket=ticket).count(), ticket.version
    moved = services.ticket_transition(ticket, to_status=to_status, actor=actor, note="테스트")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert moved.status == stored.status == to_status
    assert stored.version == version + 1
    last = TicketEvent.objects.filter(ticket=ticket, type=EventType.TRANSITIONED).last()
    assert last.data == {"from": from_status, "to": to_status, "note": "테스트"}
    assert last.actor_label == actor.label
    assert TicketEvent.objects.filter(ticket=ticket).count() > events
    if to_status == S.RESOLVED:
        assert stored.resolved_at is not None
    if to_status in (S.CLOSED, S.CANCELLED):
        assert stored.closed_at is not None
    if to_status == S.WAITING_CUSTOMER:
        assert stored.paused_at is not None
    if from_status == S.WAITING_CUSTOMER:
        assert stored.paused_at is None


@pytest.mark.parametrize(("from_status", "to_status"), FORBIDDEN)
def test_forbidden_transition(make_ticket, actor, operator_actor, from_status, to_status):
    ticket = bring_to(make_ticket(), from_status, actor, operator_actor)
    assert to_status not in allowed_targets(ticket)
    events, version = TicketEvent.objects.filter(ticket=ticket).count(), ticket.version
    with pytest.raises(TransitionNotAllowed) as exc:
        services.ticket_transition(ticket, to_status=to_status, actor=actor)
    err = exc.value
    assert isinstance(err, Conflict) and err.status == 409 and err.code == "transition_not_allowed"
    assert (err.from_state, err.to_state) == (from_status, to_status)
    assert str(Status(from_status).label) in err.detail and str(Status(to_status).label) in err.detail
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.version) == (from_status, version)
    assert TicketEvent.objects.filter(ticket=ticket).count() == events


def test_unknown_status_is_refused(make_ticket, actor):
    ticket = make_ticket()
    with pytest.raises(TransitionNotAllowed) as exc:
        services.ticket_transition(ticket, to_status="archived", actor=actor)
    assert exc.value.to_state == "archived"
    assert Ticket.objects.get(pk=ticket.pk).status == S.RECEIVED


@pytest.mark.parametrize("to_status", [S.ACTION_TAKEN, S.RESOLVED])
def test_completing_needs_an_outcome_for_kinds_with_outcomes(make_ticket, actor, to_status):
    ticket = services.ticket_transition(make_ticket(), to_status=S.IN_PROGRESS, actor=actor)
    events = TicketEvent.objects.filter(ticket=ticket).count()
    with pytest.raises(Conflict) as exc:
        services.ticket_transition(ticket, to_status=to_status, actor=actor)
    assert exc.value.code == "outcome_required" and exc.value.status == 409
    assert Ticket.objects.get(pk=ticket.pk).status == S.IN_PROGRESS
    assert TicketEvent.objects.filter(ticket=ticket).count() == events


@pytest.mark.parametrize("to_status", [S.ACTION_TAKEN, S.RESOLVED])
def test_kind_without_outcomes_completes_freely(create, actor, to_status):
    ticket = services.ticket_transition(create("pet-cs-inquiry"), to_status=S.IN_PROGRESS, actor=actor)
    assert services.ticket_transition(ticket, to_status=to_status, actor=actor).status == to_status


def test_closed_ticket_cannot_be_updated_or_recontacted(make_ticket, actor, operator_actor):
    ticket = bring_to(make_ticket(), S.CLOSED, actor, operator_actor)
    with pytest.raises(Conflict):
        services.ticket_update(ticket, actor=actor, changes={"title": "x"})
    with pytest.raises(Conflict):
        services.ticket_log_recontact(ticket, actor=actor, note="재문의")


@pytest.mark.django_db(transaction=True)
def test_changing_one_ticket_does_not_wait_for_another_of_the_same_kind(make_ticket, actor):
    """The row lock taken by a service covers the ticket, not its kind or board."""
    import threading
    import time

    from django.db import connection, transaction

    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises every writer by design (IMMEDIATE transactions)")
    first, second = make_ticket(), make_ticket()
    locked, release = threading.Event(), threading.Event()

    def hold_first():
        try:
            with transaction.atomic():
                locked_ticket(first)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_first)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        services.ticket_update(second, actor=actor, changes={"priority": "urgent"})
        assert time.monotonic() - started < 2
    finally:
        release.set()
        holder.join(10)
    assert Ticket.objects.get(pk=second.pk).priority == "urgent"
