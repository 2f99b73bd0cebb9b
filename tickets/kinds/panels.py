"""What the console and the API show for a ticket because of its kind's behaviours (the
season-pass coupon and refund, the driver's penalty history): one place both ask."""

from tickets import selectors
from tickets.kinds import behaviours
from tickets.models import Ticket


def season_pass(ticket: Ticket) -> dict | None:
    """Coupon eligibility this month and, where the pass figures are recorded, the refund (seed
    002); None for a kind without the season-pass behaviour."""
    if not behaviours.uses(ticket.kind, behaviours.SEASON_PASS):
        return None
    return {
        "coupon": selectors.season_pass_coupon_status(ticket),
        "refund_krw": selectors.season_pass_refund(ticket),
    }


def penalty_history(ticket: Ticket) -> tuple[list, dict] | None:
    """The driver's earlier penalty requests and their counts; None when the kind does not show
    them or the ticket names no driver."""
    if not (behaviours.uses(ticket.kind, behaviours.PENALTY_HISTORY) and ticket.driver_id):
        return None
    return selectors.driver_penalty_history_with_counts(ticket.driver_id)


def route(ticket: Ticket) -> str:
    """Where the call was sent (business-hours routing), in words for the agent; "" if nowhere."""
    return behaviours.ROUTES.get(ticket.routed_to, "")
