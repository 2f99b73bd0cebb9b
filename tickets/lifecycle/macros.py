"""Macros (saved replies): apply an administrator's named set of changes to a ticket in one step.

One transaction: the macro's own audit event ("매크로 적용", naming the macro and listing its
changes) and then each change through its usual service, which writes its own event — follow-up
changes first, then the outcome, then the status (closing a ticket ends its follow-ups, so they
are changed while still pending). Every change is permission-checked before anything is written;
if one change is refused, nothing is kept."""

from django.db import transaction
from django.db.models import Q

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import Conflict, NotFound, PermissionDenied
from tickets import audit
from tickets.access import policy as access
from tickets.followups import changes as followup_changes
from tickets.lifecycle import services
from tickets.locking import locked_ticket
from tickets.models import PENDING_FOLLOWUP_STATES, EventType, Macro, MacroFollowUpChange, Status, Ticket

NEEDS = {
    "outcome": ("tickets.record_outcome", "처리 결과를 기록할 권한이 없습니다."),
    "to_status": ("tickets.change_ticket", "상태를 바꿀 권한이 없습니다."),
    "followup_change": ("tickets.manage_followups", "후속 조치를 변경할 권한이 없습니다."),
    "note": ("tickets.change_ticket", "티켓에 메모를 남길 권한이 없습니다."),
}


def macros_for(ticket: Ticket):
    """Active macros for this ticket's kind and board (or for any), in the admin's order."""
    return Macro.objects.filter(
        Q(kind__isnull=True) | Q(kind_id=ticket.kind_id),
        Q(board__isnull=True) | Q(board_id=ticket.board_id),
        active=True,
    ).select_related("kind")


def macros_usable(ticket: Ticket, has_perm) -> list[Macro]:
    """The macros someone with `has_perm` may apply to `ticket`, each with `.changes` (in words)."""
    usable = []
    for m in macros_for(ticket):
        if macro_refusal(m, has_perm) is None:
            m.changes = macro_changes(m)
            usable.append(m)
    return usable


def macro_get(pk) -> Macro:
    macro = Macro.objects.select_related("kind").filter(pk=pk).first() if str(pk).isdigit() else None
    if macro is None:
        raise NotFound("매크로를 찾을 수 없습니다.")
    return macro


def macro_changes(macro: Macro) -> list[str]:
    """What the macro does, in words (shown before applying and kept in its audit event)."""
    out = []
    if macro.followup_change == MacroFollowUpChange.CANCEL:
        out.append("예정된 후속 조치 모두 취소")
    elif macro.followup_change == MacroFollowUpChange.POSTPONE:
        out.append(f"예정된 후속 조치를 {macro.postpone_business_days}영업일 뒤로")
    if macro.outcome:
        label = macro.kind.outcome_label(macro.outcome) if macro.kind_id else macro.outcome
        out.append(f"처리 결과: {label}")
    if macro.to_status:
        out.append(f"상태 → {Status(macro.to_status).label}")
    if macro.note.strip():
        out.append(f"메모: {macro.note.strip()}")
    return out


def macro_refusal(macro: Macro, has_perm) -> str | None:
    """Why someone may not apply `macro` (the first change they hold no permission for), or
    None. `has_perm`: "app.codename" -> bool (the actor's, or the console's role list)."""
    for attr, (perm, message) in NEEDS.items():
        if str(getattr(macro, attr) or "").strip() and not has_perm(perm):
            return f"'{macro.name}' 매크로를 쓸 수 없습니다: {message}"
    return None


@transaction.atomic
def macro_apply(ticket: Ticket, macro: Macro, *, actor: Actor) -> list[str]:
    """Apply `macro` to `ticket` as `actor`; returns the changes made, in words."""
    if not macro.active:
        raise Conflict(f"'{macro.name}' 매크로는 사용이 중지되었습니다.", code="macro_inactive")
    refusal = macro_refusal(macro, lambda perm: access.has_perm(actor, perm))
    if refusal:
        raise PermissionDenied(refusal)
    ticket = locked_ticket(ticket)
    if not macro.applies_to(ticket):
        raise Conflict(f"'{macro.name}' 매크로는 이 유형·게시판의 티켓에 쓸 수 없습니다.", code="macro_not_applicable")
    if not ticket.is_open:
        raise Conflict("종료되거나 취소된 티켓에는 매크로를 쓸 수 없습니다.")
    done = macro_changes(macro)
    note = macro.note.strip()
    reason = f"[매크로] {macro.name}" + (f": {note}" if note else "")
    audit.record(ticket, EventType.MACRO, actor, macro=macro.pk, name=macro.name, changes=done)

    if macro.followup_change:
        pending = list(ticket.followups.filter(state__in=PENDING_FOLLOWUP_STATES).order_by("due_at", "pk"))
        for fu in pending:
            if macro.followup_change == MacroFollowUpChange.CANCEL:
                followup_changes.followup_cancel(fu, reason=reason[:300], actor=actor)
            else:
                due_at = calendar.add_business_days(fu.due_at, macro.postpone_business_days)
                followup_changes.followup_reschedule(fu, due_at=due_at, reason=reason[:300], actor=actor)
    if macro.outcome:
        ticket = services.ticket_record_outcome(ticket, outcome=macro.outcome, actor=actor, reason=note)
    if macro.to_status and ticket.status != macro.to_status:
        ticket = services.ticket_transition(ticket, to_status=macro.to_status, actor=actor, note=reason[:300])
    return done
