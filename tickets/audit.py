"""The audit trail: the one way a ticket event is written.

`record()` appends the event and, in the same transaction, everything that follows from an
event: today the webhook deliveries (outbox messages, one per matching subscription). It is
called explicitly by the services; there are no signals, so a bulk insert or a raw save cannot
skip the fan-out unnoticed, and a reader finds every consequence of an event here.
"""

from cstrack import calendar
from cstrack.actors import Actor

from . import webhooks
from .models import Ticket, TicketEvent


def actor_user(actor: Actor):
    """The user row behind an actor, or None for the system and API integrations."""
    return actor.user if getattr(actor.user, "pk", None) else None


def event(ticket: Ticket, type_: str, actor: Actor, *, at=None, **data) -> TicketEvent:
    """An unsaved event, for `record_many`."""
    return TicketEvent(
        ticket=ticket,
        type=type_,
        actor=actor_user(actor),
        actor_label=actor.label,
        at=at or calendar.now(),
        data=data,
    )


def record(ticket: Ticket, type_: str, actor: Actor, *, at=None, **data) -> TicketEvent:
    return record_many([event(ticket, type_, actor, at=at, **data)])[0]


def record_many(events: list[TicketEvent]) -> list[TicketEvent]:
    """Append these events (built with `event()`) in one INSERT and fan them out together: the
    same path as `record`, with a constant number of statements for any number of events."""
    if not events:
        return []
    TicketEvent.objects.bulk_create(events)
    webhooks.publish_many(events)
    return events
