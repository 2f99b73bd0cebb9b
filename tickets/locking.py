"""Row locks on tickets: every change to a ticket re-reads it under a lock first, so concurrent
changes to one ticket run one at a time."""

from .models import Ticket


def locked_ticket(ticket: Ticket | int) -> Ticket:
    """Re-read the ticket under a row lock (inside the caller's transaction)."""
    # of=self: lock the ticket row only, not the joined kind/board rows (which would make every
    # change to any ticket of a kind wait for every other one on PostgreSQL).
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("kind", "board", "schema_version")
        .get(pk=getattr(ticket, "pk", ticket))
    )
