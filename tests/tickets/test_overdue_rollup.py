"""The overdue queue's shared rollup: the same summary as counting the queue live, narrowed by
kind, board and breached; read from the cache while fresh, counted again when stale."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cstrack import calendar
from tickets import selectors
from tickets.lifecycle import services
from tickets.models import Ticket

from .conftest import VALID, at, kst

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shared_queue_summary")]


@pytest.fixture
def queue(create, operator, actor):
    """Penalty requests (two boards) and pet inquiries, one assigned, two breached (one with no
    pending duty), overdue by 2026-11-25 12:00 KST at different ages."""
    penalty = "driver-penalty-request"
    tickets = []
    for day in (19, 20, 23):
        with at(2026, 11, day, 14, 0):
            tickets.append(create(penalty))
            tickets.append(create(penalty, details={**VALID[penalty][0], "penalty_board": "gwangju_kmcc"}))
            tickets.append(create("pet-cs-inquiry"))
    services.ticket_assign(tickets[0], actor=actor, assignee=operator)
    Ticket.objects.filter(pk__in=[tickets[1].pk, tickets[5].pk]).update(breached_at=kst(2026, 11, 24, 9, 0))
    Ticket.objects.filter(pk=tickets[5].pk).update(next_due_at=None)  # breached, no pending duty
    return tickets


MOMENT = kst(2026, 11, 25, 12, 0)


@pytest.mark.parametrize(
    ("kind", "board", "breached"),
    [("", "", False), ("driver-penalty-request", "", False), ("", "penalty-gwangju", False), ("", "", True)],
)
def test_the_rollup_gives_the_live_summary(queue, kind, board, breached):
    with time_machine.travel(MOMENT, tick=False):
        live_qs = selectors.overdue_tickets()
        if kind:
            live_qs = live_qs.filter(kind__code=kind)
        if board:
            live_qs = live_qs.filter(board__code=board)
        if breached:
            live_qs = live_qs.filter(breached_at__isnull=False)
        live = selectors.overdue_summary(live_qs)
        shared = selectors.overdue_summary_shared(kind=kind, board=board, breached_only=breached)
    assert live["total"] > 0
    assert shared == live


def test_fresh_rollup_is_read_without_queries_and_recounted_when_stale(queue, operator_actor):
    with time_machine.travel(MOMENT, tick=False):
        first = selectors.overdue_summary_shared()
        ticket = selectors.overdue_tickets().filter(breached_at__isnull=True).first()
    with time_machine.travel(MOMENT + timedelta(seconds=30), tick=False):
        services.ticket_transition(ticket, to_status="cancelled", actor=operator_actor)
        with CaptureQueriesContext(connection) as ctx:
            cached = selectors.overdue_summary_shared()
        assert len(ctx.captured_queries) == 0
        assert cached == first and cached["as_of"] == MOMENT  # up to a minute old, and says so
    with time_machine.travel(MOMENT + timedelta(seconds=61), tick=False):
        recounted = selectors.overdue_summary_shared()
        assert (
            recounted["total"] == first["total"] - 1 == selectors.overdue_summary(selectors.overdue_tickets())["total"]
        )
        assert recounted["as_of"] == calendar.now()


def test_switched_off_it_gives_nothing_to_read(settings, queue):
    settings.QUEUE_SUMMARY_MAX_AGE_SECONDS = 0
    assert selectors.overdue_summary_shared(MOMENT) is None
