"""Bulk work: one change, with one reason, applied by one person to many tickets (or many
dead-lettered messages).

Each item is checked and changed on its own: the access policy decides whether the person may
see it, the usual service (ticket_assign, followup_reschedule, followup_cancel,
message_retry_dead) checks the permission and writes the item's own audit event, inside the
item's own transaction. One refusal does not undo the others; the result says how many were
done and, for the rest, why not."""

from dataclasses import dataclass, field

from django.db import transaction

from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainError, DomainValidationError, PermissionDenied
from notifications import services as outbox
from notifications.models import Message
from tickets import audit
from tickets.access import policy as access
from tickets.followups import changes
from tickets.lifecycle import services
from tickets.models import PENDING_FOLLOWUP_STATES, EventType, FollowUp, Ticket

MAX_ITEMS = 200
OPERATIONS = ("assign", "board", "reschedule", "cancel")


@dataclass
class BulkResult:
    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (reference or message id, why)

    def refused_by_reason(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for item, why in self.refused:
            grouped.setdefault(why, []).append(item)
        return grouped


def _why(exc: DomainError) -> str:
    if exc.field_errors:
        return " ".join(msg for msgs in exc.field_errors.values() for msg in msgs)
    return exc.detail


def _clean_items(items, noun: str) -> list[str]:
    cleaned = list(dict.fromkeys(str(i).strip() for i in items if str(i).strip()))
    if not cleaned:
        raise DomainValidationError({"selection": [f"처리할 {noun}을(를) 하나 이상 골라 주세요."]})
    if len(cleaned) > MAX_ITEMS:
        raise DomainValidationError({"selection": [f"한 번에 {MAX_ITEMS}건까지 처리할 수 있습니다."]})
    return cleaned


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainValidationError({"reason": ["일괄 처리 사유를 입력해 주세요. 티켓마다 이력에 남습니다."]})
    return reason[:300]


def _pending_followups(ticket: Ticket) -> list[FollowUp]:
    found = list(ticket.followups.filter(state__in=PENDING_FOLLOWUP_STATES).order_by("due_at", "pk"))
    if not found:
        raise Conflict("바꿀 수 있는 예정 후속 조치가 없습니다.")
    return found


def _assign(ticket, actor, *, reason, assignee=None, board=None, **_):
    if not access.has_perm(actor, "tickets.change_ticket"):
        raise PermissionDenied("담당자나 게시판을 바꿀 권한이 없습니다.")
    if not ticket.is_open:
        raise Conflict("종료되거나 취소된 티켓은 담당을 바꿀 수 없습니다.")
    services.ticket_assign(ticket, actor=actor, assignee=assignee, board=board, note=reason)


def _move_board(ticket, actor, *, reason, board, **_):
    _assign(ticket, actor, reason=reason, assignee=ticket.assignee, board=board)


def _reschedule(ticket, actor, *, reason, due_at, acknowledged=(), **_):
    for fu in _pending_followups(ticket):
        changes.followup_reschedule(fu, due_at=due_at, reason=reason, actor=actor, acknowledged=acknowledged)


def _cancel(ticket, actor, *, reason, **_):
    for fu in _pending_followups(ticket):
        changes.followup_cancel(fu, reason=reason, actor=actor)


_APPLY = {"assign": _assign, "board": _move_board, "reschedule": _reschedule, "cancel": _cancel}


def bulk_change_tickets(
    references,
    *,
    operation: str,
    actor: Actor,
    reason: str,
    assignee=None,
    board=None,
    due_at=None,
    acknowledged=(),
) -> BulkResult:
    """Apply `operation` to each ticket in `references`:
    - assign: set the assignee (None: back to the board) — needs tickets.change_ticket;
    - board: move to `board`, keeping the assignee — needs tickets.change_ticket;
    - reschedule: move every pending follow-up to `due_at` — needs tickets.manage_followups;
    - cancel: cancel every pending follow-up — needs tickets.manage_followups.
    A ticket the actor may not see is refused as not found (its existence does not leak)."""
    if operation not in _APPLY:
        raise DomainValidationError({"operation": ["일괄 처리할 작업을 골라 주세요."]})
    refs = _clean_items(references, "티켓")
    reason = _require_reason(reason)
    if operation == "board" and board is None:
        raise DomainValidationError({"board": ["옮길 게시판을 골라 주세요."]})
    if operation == "reschedule" and (due_at is None or due_at.tzinfo is None):
        raise DomainValidationError({"due_at": ["새 기한을 입력해 주세요."]})
    found = {
        t.reference: t for t in Ticket.objects.select_related("kind", "board", "assignee").filter(reference__in=refs)
    }
    result = BulkResult()
    apply = _APPLY[operation]
    for ref in refs:
        ticket = found.get(ref)
        needs = "tickets.manage_followups" if operation in ("reschedule", "cancel") else "tickets.change_ticket"
        # Without the permission the answer is "not allowed" whatever the ticket; with it, a
        # ticket the actor may not see is "not found".
        if ticket is None or (access.has_perm(actor, needs) and not access.can_see(actor, ticket)):
            result.refused.append((ref, "티켓을 찾을 수 없거나 볼 수 없습니다."))
            continue
        try:
            with transaction.atomic():
                apply(
                    ticket,
                    actor,
                    reason=reason,
                    assignee=assignee,
                    board=board,
                    due_at=due_at,
                    acknowledged=acknowledged,
                )
        except DomainError as exc:
            result.refused.append((ref, _why(exc)))
        else:
            result.done.append(ref)
    return result


def bulk_retry_messages(message_ids, *, actor: Actor, reason: str) -> BulkResult:
    """Put dead-lettered messages back in the queue. Needs notifications.change_message and, for a
    message sent for a ticket, that the actor may see the ticket; the ticket's history records
    the retry with the reason."""
    ids = _clean_items(message_ids, "메시지")
    reason = _require_reason(reason)
    numeric = [int(i) for i in ids if i.isdigit()]
    visible = set(
        access.visible_messages(actor.user, Message.objects.filter(pk__in=numeric)).values_list("pk", flat=True)
    )
    linked = {fu.message_id: fu for fu in FollowUp.objects.filter(message_id__in=numeric).select_related("ticket")}
    result = BulkResult()
    for item in ids:
        pk = int(item) if item.isdigit() else None
        if pk is None or pk not in visible:
            result.refused.append((f"#{item}", "메시지를 찾을 수 없거나 볼 수 없습니다."))
            continue
        try:
            if not access.has_perm(actor, "notifications.change_message"):
                raise PermissionDenied("메시지를 다시 보낼 권한이 없습니다.")
            with transaction.atomic():
                outbox.message_retry_dead(pk, actor.label)
                fu = linked.get(pk)
                if fu is not None:
                    audit.record(
                        fu.ticket,
                        EventType.FOLLOWUP,
                        actor,
                        followup=fu.pk,
                        change="message_retried",
                        message=pk,
                        reason=reason,
                    )
        except DomainError as exc:
            result.refused.append((f"#{pk}", _why(exc)))
        else:
            result.done.append(f"#{pk}")
    return result
