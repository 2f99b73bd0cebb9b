"""Who may see what: list views are narrowed here (not only single objects).

* An API key sees the kinds in its scope (all kinds if its list is empty).
* A console user whose only role is operations sees the tickets of the boards they belong to
  and the tickets assigned to them; agents, supervisors and administrators see every ticket.
Anything a caller may not see is reported as 404, never 403, so its existence does not leak.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from cstrack import roles
from cstrack.errors import NotFound, PermissionDenied
from tickets.models import FollowUp, Ticket

from .auth import ApiClient


def _kinds(user) -> list[str]:
    return user.kinds if isinstance(user, ApiClient) else []


def _board_scoped(user) -> bool:
    if isinstance(user, ApiClient) or user.is_superuser:
        return False
    names = roles.user_roles(user)
    return bool(names) and names <= {roles.OPERATIONS}


def _user_cache(user) -> dict:
    cache = getattr(user, "_api_access_cache", None)
    if cache is None:
        cache = {"board_scoped": _board_scoped(user)}
        if cache["board_scoped"]:
            cache["boards"] = set(user.boards.values_list("pk", flat=True))
        user._api_access_cache = cache
    return cache


def is_unrestricted(user) -> bool:
    return not _kinds(user) and not _user_cache(user)["board_scoped"]


def visible_tickets(user, qs: QuerySet | None = None) -> QuerySet:
    qs = Ticket.objects.all() if qs is None else qs
    kinds = _kinds(user)
    if kinds:
        qs = qs.filter(kind__code__in=kinds)
    cache = _user_cache(user)
    if cache["board_scoped"]:
        qs = qs.filter(Q(board__in=cache["boards"]) | Q(assignee=user))
    return qs


def can_see(user, ticket: Ticket) -> bool:
    kinds = _kinds(user)
    if kinds and ticket.kind.code not in kinds:
        return False
    cache = _user_cache(user)
    if cache["board_scoped"]:
        return ticket.board_id in cache["boards"] or ticket.assignee_id == user.pk
    return True


def ensure_visible(user, ticket: Ticket) -> Ticket:
    if not can_see(user, ticket):
        raise NotFound("티켓을 찾을 수 없습니다.")
    return ticket


def ensure_kind_allowed(user, kind_code: str) -> None:
    kinds = _kinds(user)
    if kinds and kind_code not in kinds:
        raise PermissionDenied("이 API 키로는 이 유형의 티켓을 다룰 수 없습니다.")


def visible_boards(user, qs: QuerySet) -> QuerySet:
    """The boards whose queues this user works: operations staff their own, others all."""
    cache = _user_cache(user)
    return qs.filter(pk__in=cache["boards"]) if cache["board_scoped"] else qs


def visible_kinds(user, qs: QuerySet) -> QuerySet:
    kinds = _kinds(user)
    return qs.filter(code__in=kinds) if kinds else qs


def visible_followups(user, qs: QuerySet) -> QuerySet:
    if is_unrestricted(user):
        return qs
    return qs.filter(ticket__in=visible_tickets(user).values("pk"))


def visible_messages(user, qs: QuerySet) -> QuerySet:
    """Every message for an unrestricted caller; otherwise the messages sent for follow-ups of
    tickets the caller can see (the outbox itself knows nothing of tickets)."""
    if is_unrestricted(user):
        return qs
    linked = FollowUp.objects.filter(message=OuterRef("pk"), ticket__in=visible_tickets(user).values("pk"))
    return qs.filter(Exists(linked))
