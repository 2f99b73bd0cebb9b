"""Known histories of promises, built through the services on a controlled clock.

Each function returns the ticket it built; the clock is left wherever the history ended."""

from datetime import datetime

import time_machine

from cstrack.actors import Actor
from cstrack.calendar import KST
from tickets.followups import changes, dispatcher
from tickets.lifecycle import services
from tickets.models import Action, FollowUp, Status

CALLBACK = "recontact-callback"


def kst(*args) -> datetime:
    return datetime(*args, tzinfo=KST)


def at(*args):
    return time_machine.travel(kst(*args), tick=False)


def callback_of(ticket) -> FollowUp:
    return FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK, policy__code=CALLBACK)


def recontacted(create, actor, when, kind="pet-cs-inquiry", **kwargs):
    """A ticket received and re-contacted at `when`: a call back promised by business day 2."""
    with at(*when):
        ticket = create(kind, **kwargs)
        services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=actor)
        services.ticket_log_recontact(ticket, actor=actor, note="처리 결과를 다시 물어봄")
    return ticket


def call_back_at(ticket, actor, when):
    with at(*when):
        changes.followup_complete(callback_of(ticket), actor=actor)


def transition_at(ticket, actor, when, to_status):
    with at(*when):
        ticket.refresh_from_db()
        services.ticket_transition(ticket, to_status=to_status, actor=actor)


def dispatch_at(when):
    with at(*when):
        dispatcher.dispatch_due()


def supervisor(user):
    return Actor.for_user(user)
