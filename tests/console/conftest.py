import pytest
import time_machine

from cstrack import calendar
from tickets.lifecycle import services
from tickets.models import Action, FollowUp


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def overdue_tickets(make_ticket):
    """make n penalty tickets received five days ago: their D+3 duties are overdue now."""

    def _make(n, **kwargs):
        with time_machine.travel(calendar.days_ago(calendar.now(), 5), tick=False):
            return [make_ticket(**kwargs) for _ in range(n)]

    return _make


@pytest.fixture
def callbacks_due(make_ticket, agent):
    """n tickets with a re-contact whose call back is due (moved to an hour ago)."""

    def _make(n):
        tickets = [make_ticket() for _ in range(n)]
        for t in tickets:
            services.ticket_log_recontact(t, actor=services.Actor.for_user(agent), note="재문의")
        FollowUp.objects.filter(action=Action.CALL_BACK).update(due_at=calendar.after_seconds(calendar.now(), -3600))
        return tickets

    return _make


@pytest.fixture
def operator(operator):
    """Operations staff work their boards' queues: this one is on every board."""
    from tickets.models import Board

    operator.boards.add(*Board.objects.all())
    return operator
