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


def test_seed_demo_fills_every_page_and_agrees_with_its_history(client):
    from django.contrib.auth.models import User

    from tickets.models import EventType, TicketEvent

    with time_machine.travel(START, tick=False):
        call_command("seed_demo", demo_delay=60)
        for ticket in Ticket.objects.all():
            created = TicketEvent.objects.get(ticket=ticket, type=EventType.CREATED)
            assert created.at == ticket.received_at, ticket.reference
            assert not TicketEvent.objects.filter(ticket=ticket, at__lt=ticket.received_at).exists()
            assert ticket.received_at <= START
        pages = {  # the list each page exists for
            ("agent", "/agent/"): 'class="callbacks"',
            ("ops", "/ops/"): 'id="queue"',
            ("supervisor", "/supervisor/"): 'id="overdue"',
            ("supervisor", "/supervisor/messages/"): 'id="dead"',
        }
        for (username, url), marker in pages.items():
            client.force_login(User.objects.get(username=username))
            assert marker in client.get(url).content.decode(), f"{url} is empty for {username}"
        client.force_login(User.objects.get(username="agent"))
        agent_home = client.get("/agent/").content.decode()
        assert 'id="callbacks-overdue"' in agent_home and 'id="callbacks-upcoming"' in agent_home
        client.force_login(User.objects.get(username="supervisor"))
        dead = client.get("/supervisor/messages/").content.decode()
        assert 'href="/tickets/CS-' in dead
