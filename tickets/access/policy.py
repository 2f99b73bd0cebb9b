"""The access policy: the one place that answers "which tickets, follow-ups, boards, kinds and
messages may this actor see" (querysets) and "may this actor do this action to this object".

Services enforce it (`ensure` at the top of every verb), the API and the console only ask it
(`may` for buttons and permission gates, `visible_*` for lists). Nothing else decides access.

Who asks: a console user, an API key's principal (`tickets.api.auth.ApiClient`), an `Actor`
wrapping either, or the system (an `Actor` without a user: the dispatcher, retention, the
consequences of another change). The system may change anything but never sees personal data
through a person-only action (reveals, downloads).

What decides:
* Django permissions, read through `user.has_perm` (Django caches them per user object, i.e.
  once per request). Roles are groups an administrator edits in the admin; `cstrack.roles` only
  seeds the default groups. An API key's permissions are its scopes (`key_permissions`).
* Board scoping is data too: a user without `tickets.view_all_boards` (the operations group)
  sees the tickets of the boards they belong to and the tickets assigned to them.
* An API key limited to some kinds sees only tickets of those kinds.
Anything an actor may not see is "not found" (404), never "forbidden", so its existence does
not leak; an action refused on a visible object is "forbidden" (403).

The action table is a `rules` RuleSet (django-rules): each action is a predicate built from
"holds permission P", "sees the object" and "is the system".
"""

from dataclasses import dataclass

import rules
from django.db.models import Exists, OuterRef, Q, QuerySet

from cstrack.actors import Actor
from cstrack.errors import NotFound, PermissionDenied
from tickets.models import (
    Attachment,
    Board,
    FollowUp,
    ThirdPartyDelegation,
    Ticket,
    TicketKind,
    WebhookSubscription,
)

VIEW_ALL_BOARDS = "tickets.view_all_boards"

# --- API-key scopes ------------------------------------------------------------------------------

KEY_SCOPE_PERMISSIONS = {
    "read": frozenset(
        {
            "tickets.view_ticket",
            "tickets.view_ticketkind",
            "tickets.view_followup",
            "tickets.view_ticketevent",
            "notifications.view_message",
        }
    ),
    "write": frozenset(
        {"tickets.add_ticket", "tickets.change_ticket", "tickets.record_outcome", "tickets.add_recontact"}
    ),
    "followups": frozenset({"tickets.manage_followups"}),
}
# Keys are narrowed by kind, never by board. No scope grants reveal_contact or
# download_attachment: unmasked personal data is for console users only.
KEY_BASE_PERMISSIONS = frozenset({VIEW_ALL_BOARDS})


def key_permissions(key) -> frozenset:
    """What an API key may do: the permissions of its scopes."""
    perms = set(KEY_BASE_PERMISSIONS)
    for scope, granted in (("read", key.can_read), ("write", key.can_write), ("followups", key.can_manage_followups)):
        if granted:
            perms |= KEY_SCOPE_PERMISSIONS[scope]
    return frozenset(perms)


# --- Who is asking -------------------------------------------------------------------------------


class _System:
    """The system actor: dispatcher, retention, consequences of an authorised change."""

    def __repr__(self):
        return "<system>"


SYSTEM_PRINCIPAL = _System()


def principal(who):
    """The user-like object behind `who` (an Actor, a user, an API principal),
    `SYSTEM_PRINCIPAL` for an Actor without a user, or None for an anonymous visitor."""
    if who is SYSTEM_PRINCIPAL:
        return SYSTEM_PRINCIPAL
    if isinstance(who, Actor):
        return SYSTEM_PRINCIPAL if who.user is None else principal(who.user)
    if who is None or not getattr(who, "is_authenticated", False) or not getattr(who, "is_active", True):
        return None
    return who


@dataclass(frozen=True)
class _Scope:
    all_boards: bool
    boards: frozenset
    kinds: tuple  # kind codes an API key is limited to; empty = every kind
    pk: object

    @property
    def unrestricted(self) -> bool:
        return self.all_boards and not self.kinds


_UNRESTRICTED = _Scope(all_boards=True, boards=frozenset(), kinds=(), pk=None)
_NOTHING = _Scope(all_boards=False, boards=frozenset(), kinds=(), pk=object())


def _scope(who) -> _Scope:
    """What part of the data `who` works on; computed once per principal object (one request)."""
    p = principal(who)
    if p is SYSTEM_PRINCIPAL:
        return _UNRESTRICTED
    if p is None:
        return _NOTHING
    cached = getattr(p, "_cstrack_access_scope", None)
    if cached is None:
        all_boards = bool(p.has_perm(VIEW_ALL_BOARDS))
        boards = frozenset() if all_boards else frozenset(Board.objects.filter(members=p).values_list("pk", flat=True))
        key = getattr(p, "key", None) if getattr(p, "is_api_key", False) else None
        kinds = tuple(key.kinds or ()) if key is not None else ()
        cached = _Scope(all_boards=all_boards, boards=boards, kinds=kinds, pk=p.pk)
        p._cstrack_access_scope = cached
    return cached


def is_unrestricted(who) -> bool:
    """Whether `who` sees every ticket (no board or kind narrowing)."""
    return principal(who) is not None and _scope(who).unrestricted


def has_perm(who, perm: str) -> bool:
    """Whether `who` holds a Django permission (the system holds every one)."""
    p = principal(who)
    if p is SYSTEM_PRINCIPAL:
        return True
    return p is not None and bool(p.has_perm(perm))


# --- What may be seen ----------------------------------------------------------------------------


def visible_tickets(who, qs: QuerySet | None = None) -> QuerySet:
    qs = Ticket.objects.all() if qs is None else qs
    scope = _scope(who)
    if principal(who) is None:
        return qs.none()
    if scope.kinds:
        qs = qs.filter(kind__code__in=scope.kinds)
    if not scope.all_boards:
        qs = qs.filter(Q(board__in=scope.boards) | Q(assignee_id=scope.pk))
    return qs


def visible_followups(who, qs: QuerySet | None = None) -> QuerySet:
    qs = FollowUp.objects.all() if qs is None else qs
    if principal(who) is None:
        return qs.none()
    if _scope(who).unrestricted:
        return qs
    return qs.filter(ticket__in=visible_tickets(who).values("pk"))


def visible_boards(who, qs: QuerySet | None = None) -> QuerySet:
    """The boards whose queues `who` works: their own without `view_all_boards`, else all."""
    qs = Board.objects.all() if qs is None else qs
    if principal(who) is None:
        return qs.none()
    scope = _scope(who)
    return qs if scope.all_boards else qs.filter(pk__in=scope.boards)


def visible_kinds(who, qs: QuerySet | None = None) -> QuerySet:
    qs = TicketKind.objects.all() if qs is None else qs
    if principal(who) is None:
        return qs.none()
    kinds = _scope(who).kinds
    return qs.filter(code__in=kinds) if kinds else qs


def visible_messages(who, qs: QuerySet) -> QuerySet:
    """Every message for an unrestricted actor; otherwise the messages sent for follow-ups of
    tickets the actor can see (the outbox itself knows nothing of tickets)."""
    if principal(who) is None:
        return qs.none()
    if _scope(who).unrestricted:
        return qs
    linked = FollowUp.objects.filter(message=OuterRef("pk"), ticket__in=visible_tickets(who).values("pk"))
    return qs.filter(Exists(linked))


def visible_subscriptions(who, qs: QuerySet | None = None) -> QuerySet:
    """An integration sees its own webhook subscriptions; a superuser all; nobody else any."""
    qs = WebhookSubscription.objects.all() if qs is None else qs
    p = principal(who)
    if p is SYSTEM_PRINCIPAL or (p is not None and p.is_superuser):
        return qs
    if p is not None and getattr(p, "is_api_key", False):
        return qs.filter(api_key=p.key)
    return qs.none()


def _ticket_of(obj):
    if isinstance(obj, Ticket):
        return obj
    if isinstance(obj, (FollowUp, Attachment, ThirdPartyDelegation)):
        return obj.ticket
    return None


def _sees_ticket(scope: _Scope, ticket: Ticket) -> bool:
    if scope.kinds and ticket.kind.code not in scope.kinds:
        return False
    if not scope.all_boards:
        return ticket.board_id in scope.boards or (ticket.assignee_id is not None and ticket.assignee_id == scope.pk)
    return True


def can_see(who, obj) -> bool:
    """Whether `who` may know that `obj` exists."""
    p = principal(who)
    if p is SYSTEM_PRINCIPAL:
        return True
    if p is None:
        return False
    scope = _scope(who)
    if isinstance(obj, FollowUp) and obj.ticket_id is None:
        # A morning digest: its recipient's, and those who manage follow-ups.
        return obj.recipient_id == scope.pk or has_perm(p, "tickets.manage_followups")
    ticket = _ticket_of(obj)
    if ticket is not None:
        return _sees_ticket(scope, ticket)
    if isinstance(obj, TicketKind):
        return not scope.kinds or obj.code in scope.kinds
    if isinstance(obj, Board):
        return scope.all_boards or obj.pk in scope.boards
    if isinstance(obj, WebhookSubscription):
        return visible_subscriptions(who).filter(pk=obj.pk).exists()
    if getattr(obj, "_meta", None) and obj._meta.label == "notifications.Message":
        return visible_messages(who, type(obj).objects.filter(pk=obj.pk)).exists()
    raise TypeError(f"the access policy has no visibility rule for {type(obj).__name__}")


# --- What may be done ----------------------------------------------------------------------------


@rules.predicate
def is_system(p) -> bool:
    return p is SYSTEM_PRINCIPAL


@rules.predicate
def is_person(p) -> bool:
    """A console user (not the system, not an API key)."""
    return p is not None and p is not SYSTEM_PRINCIPAL and not getattr(p, "is_api_key", False)


@rules.predicate
def is_integration(p) -> bool:
    return p is not None and getattr(p, "is_api_key", False)


@rules.predicate
def is_superuser(p) -> bool:
    return p is not None and p is not SYSTEM_PRINCIPAL and bool(p.is_superuser)


def holds(perm: str | None) -> rules.Predicate:
    """Holds `perm`; None: any authenticated caller."""
    if perm is None:
        return rules.predicate(lambda p: p is not None and p is not SYSTEM_PRINCIPAL, name="authenticated")
    return rules.predicate(lambda p: p is not None and p is not SYSTEM_PRINCIPAL and bool(p.has_perm(perm)), name=perm)


@rules.predicate
def sees_object(p, obj) -> bool:
    """No object (a class-level question: "may they ever?") or an object they can see."""
    return obj is None or can_see(p, obj)


@dataclass(frozen=True)
class Action:
    permission: str | None  # None: any authenticated caller (what they may see narrows it)
    refusal: str = "이 작업을 할 권한이 없습니다."
    person_only: bool = False  # personal data in clear: never the system, never an API key
    not_found: str = "대상을 찾을 수 없습니다."


_TICKET_404 = "티켓을 찾을 수 없습니다."
_FOLLOWUP_404 = "후속 조치를 찾을 수 없습니다."
_ATTACHMENT_404 = "첨부파일을 찾을 수 없습니다."
_DELEGATION_404 = "위임 기록을 찾을 수 없습니다."
_FOLLOWUP_REFUSAL = "후속 조치를 변경할 권한이 없습니다."

ACTIONS: dict[str, Action] = {
    # tickets
    "view_ticket": Action("tickets.view_ticket", not_found=_TICKET_404),
    "create_ticket": Action("tickets.add_ticket"),
    "update_ticket": Action("tickets.change_ticket", not_found=_TICKET_404),
    "transition_ticket": Action("tickets.change_ticket", not_found=_TICKET_404),
    "assign_ticket": Action("tickets.change_ticket", not_found=_TICKET_404),
    "record_outcome": Action("tickets.record_outcome", not_found=_TICKET_404),
    "confirm_manager": Action("tickets.record_outcome", not_found=_TICKET_404),
    "grant_coupon": Action("tickets.record_outcome", not_found=_TICKET_404),
    "log_recontact": Action("tickets.add_recontact", not_found=_TICKET_404),
    "view_penalty_history": Action("tickets.record_outcome", not_found=_TICKET_404),
    # personal data
    "record_consent": Action("tickets.change_ticket", not_found=_TICKET_404),
    "withdraw_consent": Action("tickets.change_ticket", not_found=_TICKET_404),
    "purge_contact": Action("tickets.change_ticket", not_found=_TICKET_404),
    "reveal_contact": Action(
        "tickets.reveal_contact", "연락처 원문을 볼 권한이 없습니다.", person_only=True, not_found=_TICKET_404
    ),
    "record_delegation": Action("tickets.change_ticket", not_found=_TICKET_404),
    "revoke_delegation": Action("tickets.change_ticket", not_found=_DELEGATION_404),
    "reveal_delegation_contact": Action(
        "tickets.reveal_contact", "제3자 연락처를 볼 권한이 없습니다.", person_only=True, not_found=_DELEGATION_404
    ),
    "add_attachment": Action("tickets.change_ticket", not_found=_TICKET_404),
    "download_attachment": Action(
        "tickets.download_attachment",
        "첨부파일을 내려받을 권한이 없습니다.",
        person_only=True,
        not_found=_ATTACHMENT_404,
    ),
    # follow-ups
    "view_followup": Action("tickets.view_followup", not_found=_FOLLOWUP_404),
    "reschedule_followup": Action("tickets.manage_followups", _FOLLOWUP_REFUSAL, not_found=_FOLLOWUP_404),
    "cancel_followup": Action("tickets.manage_followups", _FOLLOWUP_REFUSAL, not_found=_FOLLOWUP_404),
    "complete_followup": Action("tickets.change_ticket", not_found=_FOLLOWUP_404),
    "view_followup_queues": Action("tickets.manage_followups"),
    "view_promise_report": Action("tickets.view_followup"),
    "cancel_digest": Action(None, "다른 사람의 요약 메일은 취소할 수 없습니다.", not_found=_FOLLOWUP_404),
    # kinds, messages, webhooks
    "view_kind": Action("tickets.view_ticketkind"),
    "view_message": Action("notifications.view_message"),
    "retry_message": Action("notifications.change_message", not_found="메시지를 찾을 수 없습니다."),
    "view_webhooks": Action("tickets.view_ticket"),
    "manage_webhooks": Action("tickets.change_ticket", "웹훅 구독은 연동 시스템의 API 키로 만듭니다 (관리자는 예외)."),
}


def _rule(name: str, action: Action) -> rules.Predicate:
    allowed = holds(action.permission) & sees_object
    allowed = is_person & allowed if action.person_only else is_system | allowed
    if name == "manage_webhooks":
        # A subscription is scoped by its key and managed through it; one made over a staff
        # login would see every event of every board and have no owner.
        allowed = allowed & (is_integration | is_superuser | is_system)
    return allowed


RULES = rules.RuleSet({name: _rule(name, action) for name, action in ACTIONS.items()})


def may(who, action: str, obj=None) -> bool:
    """Whether `who` may do `action` (to `obj`, or, without one, to some object of its kind)."""
    if action not in RULES:
        raise KeyError(f"the access policy has no action {action!r}")
    return RULES.test_rule(action, principal(who), obj)


def ensure(who, action: str, obj=None):
    """`obj` if `who` may do `action` to it. An object `who` may not see raises NotFound; an
    action refused on a visible object raises PermissionDenied."""
    spec = ACTIONS[action]
    p = principal(who)
    if obj is not None and p is not None and not can_see(p, obj):
        if isinstance(obj, TicketKind):
            raise PermissionDenied("이 API 키로는 이 유형의 티켓을 다룰 수 없습니다.")
        raise NotFound(spec.not_found)
    if not may(who, action, obj):
        raise PermissionDenied(spec.refusal)
    return obj


def ensure_visible(who, obj):
    """`obj` if `who` may know it exists, else NotFound (the message names what was sought)."""
    if not can_see(who, obj):
        raise NotFound(_not_found_message(obj))
    return obj


def _not_found_message(obj) -> str:
    if isinstance(obj, FollowUp):
        return _FOLLOWUP_404
    if isinstance(obj, Attachment):
        return _ATTACHMENT_404
    if isinstance(obj, ThirdPartyDelegation):
        return _DELEGATION_404
    return _TICKET_404
