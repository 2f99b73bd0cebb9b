"""Who owns a call-back: the ticket's assignee, or, on an unassigned ticket, the agent who logged
it. One rule for the "내 회신 전화" list (a query) and for what the owner may do (a predicate)."""

from django.db.models import Q


def callback_owner_q(user, prefix: str = "ticket__") -> Q:
    return Q(**{f"{prefix}assignee": user}) | Q(**{f"{prefix}assignee__isnull": True, f"{prefix}created_by": user})


def is_callback_owner(user, ticket) -> bool:
    if user is None or not getattr(user, "pk", None):
        return False
    if ticket.assignee_id is not None:
        return ticket.assignee_id == user.pk
    return ticket.created_by_id == user.pk
