"""The README's run command seeds demo data and promises a reminder e-mail about a minute later."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from cstrack.calendar import KST
from notifications.models import Message
from tickets.followups import dispatcher
from tickets.models import PENDING_FOLLOWUP_STATES, FollowUp, FollowUpState, Status, Ticket

pytestmark = pytest.mark.django_db
START = datetime(2026, 11, 23, 10, 0, tzinfo=KST)


def test_seed_demo_shows_every_status_and_fires_the_demo_reminder_once():
    with time_machine.travel(START, tick=False):
        call_command("seed_demo", demo_delay=60)
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Status.values)
    # Aged tickets and the demo duty went in around the engine: their next due time is still right.
    for ticket in Ticket.objects.all():
        pending = FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES).order_by("due_at").first()
        assert ticket.next_due_at == (pending.due_at if pending else None), ticket.reference
    demo = FollowUp.objects.get(policy__code="demo-penalty-owner-reminder")
    assert demo.due_at == START + timedelta(seconds=60)
    assert FollowUp.objects.filter(ticket=demo.ticket, policy=demo.policy).count() == 1
    with time_machine.travel(START + timedelta(seconds=59), tick=False):
        dispatcher.dispatch_due()
    assert FollowUp.objects.get(pk=demo.pk).state == FollowUpState.SCHEDULED
    with time_machine.travel(START + timedelta(seconds=60), tick=False):
        dispatcher.dispatch_due()
        dispatcher.dispatch_due()
    assert FollowUp.objects.get(pk=demo.pk).state == FollowUpState.DONE
    reminder = Message.objects.filter(idempotency_key__startswith=f"followup:{demo.pk}:")
    assert reminder.count() == 1 and reminder.get().channel == "email"


def test_seed_demo_run_twice_adds_no_tickets():
    with time_machine.travel(START, tick=False):
        call_command("seed_demo", demo_delay=60)
        count = Ticket.objects.count()
        call_command("seed_demo", demo_delay=60)
    assert Ticket.objects.count() == count
