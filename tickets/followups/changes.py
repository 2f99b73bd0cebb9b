"""Changes staff make to follow-ups by hand: reschedule, cancel, complete a call back. Each one
is audited with its reason."""

from django.db import transaction

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainValidationError
from tickets import audit
from tickets.access.policy import ensure
from tickets.followups.scheduling import refresh_next_due
from tickets.models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    CallResult,
    EventType,
    FollowUp,
    FollowUpState,
    Ticket,
)
from tickets.validation import not_a_choice, refuse_contact_in_text

ST = FollowUpState


def _locked_followup(followup: FollowUp) -> FollowUp:
    if followup.ticket_id is None:
        raise Conflict("아침 요약 메일은 받는 사람의 설정 화면에서 취소합니다.")
    # The ticket first, as the services do: changes to one ticket's duties queue up behind each
    # other, so each refresh of its next due time sees the one before.
    Ticket.objects.select_for_update().filter(pk=followup.ticket_id).values_list("pk", flat=True).first()
    return FollowUp.objects.select_for_update(of=("self",)).select_related("ticket").get(pk=followup.pk)


# Duties that reach the customer: a message, or a person calling them.
CUSTOMER_FACING = frozenset({Action.CUSTOMER_MESSAGE, Action.CALL_BACK})


def reschedule_warnings(followups, due_at, *, now=None) -> list[str]:
    """Why moving these follow-ups to `due_at` deserves a second look (empty: nothing to say).
    Only customer-facing duties are checked: nobody should be messaged or called in quiet
    hours or on a day off, and a time in the past means "at once". The calendar decides what
    is quiet or closed. The change is still allowed once the person confirms."""
    if due_at is None or not any(fu.action in CUSTOMER_FACING for fu in followups):
        return []
    now = now or calendar.now()
    warnings = []
    if due_at < now:
        warnings.append("이미 지난 시각입니다. 저장하면 바로 처리 대상이 됩니다.")
    if calendar.in_quiet_hours(due_at):
        moved = calendar.next_allowed_send_time(due_at)
        warnings.append(
            f"고객에게 연락하지 않는 야간 시간대입니다. 고객 메시지는 {calendar.business_time_label(moved)}에 나갑니다."
        )
    day = calendar.kst_date(due_at)
    if calendar.is_closed_day(day):
        name = calendar.holiday_name(day)
        warnings.append(f"휴무일({name})입니다." if name else "휴무일(주말 또는 지정 휴무)입니다.")
    return warnings


@transaction.atomic
def followup_reschedule(followup: FollowUp, *, due_at, reason: str, actor: Actor, acknowledged=()) -> FollowUp:
    """Move a pending duty. `acknowledged`: the warnings (see reschedule_warnings) the person saw
    and confirmed; they are kept in the audit event."""
    ensure(actor, "reschedule_followup", followup)
    if not (reason or "").strip():
        raise DomainValidationError({"reason": ["변경 사유를 입력해 주세요."]})
    refuse_contact_in_text({"reason": reason})
    if due_at is None or due_at.tzinfo is None:
        raise DomainValidationError({"due_at": ["시간대가 포함된 일시를 입력해 주세요."]})
    fu = _locked_followup(followup)
    if fu.state not in PENDING_FOLLOWUP_STATES:
        raise Conflict(f"'{fu.get_state_display()}' 상태의 후속 조치는 변경할 수 없습니다.")
    before = fu.due_at
    fu.due_at, fu.reason = due_at, reason.strip()[:300]
    if fu.state == ST.HELD:
        fu.state = ST.SCHEDULED
    fu.save(update_fields=["due_at", "reason", "state", "updated_at"])
    refresh_next_due([fu.ticket_id])
    audit.record(
        fu.ticket,
        EventType.FOLLOWUP,
        actor,
        followup=fu.pk,
        change="rescheduled",
        before=before.isoformat(),
        after=due_at.isoformat(),
        reason=fu.reason,
        **({"acknowledged": list(acknowledged)} if acknowledged else {}),
    )
    return fu


@transaction.atomic
def followup_cancel(followup: FollowUp, *, reason: str, actor: Actor) -> FollowUp:
    ensure(actor, "cancel_followup", followup)
    if not (reason or "").strip():
        raise DomainValidationError({"reason": ["취소 사유를 입력해 주세요."]})
    refuse_contact_in_text({"reason": reason})
    fu = _locked_followup(followup)
    if fu.state not in PENDING_FOLLOWUP_STATES:
        raise Conflict(f"'{fu.get_state_display()}' 상태의 후속 조치는 취소할 수 없습니다.")
    fu.state, fu.reason = ST.CANCELLED, reason.strip()[:300]
    fu.save(update_fields=["state", "reason", "updated_at"])
    audit.record(fu.ticket, EventType.FOLLOWUP, actor, followup=fu.pk, change="cancelled", reason=fu.reason)
    refresh_next_due([fu.ticket_id])
    return fu


@transaction.atomic
def followup_complete(
    followup: FollowUp, *, actor: Actor, note: str = "", result: str = CallResult.REACHED
) -> FollowUp:
    """A person records a call-back: done with its result, or, when nobody answered, an attempt
    that leaves the duty pending (to be tried again before its due time)."""
    ensure(actor, "complete_followup", followup)
    if result not in CallResult.values:
        raise DomainValidationError({"result": not_a_choice(result, CallResult)})
    refuse_contact_in_text({"note": note})
    fu = _locked_followup(followup)
    if fu.action != Action.CALL_BACK:
        raise Conflict("자동 후속 조치는 직접 완료할 수 없습니다.")
    if fu.state not in PENDING_FOLLOWUP_STATES:
        raise Conflict(f"'{fu.get_state_display()}' 상태의 후속 조치는 완료할 수 없습니다.")
    now = calendar.now()
    note = (note or "").strip()
    label = CallResult(result).label
    if result == CallResult.NO_ANSWER:
        fu.attempts += 1
        fu.reason = f"{label} · {note}"[:300] if note else label
        fu.save(update_fields=["attempts", "reason", "updated_at"])
        audit.record(fu.ticket, EventType.FOLLOWUP, actor, followup=fu.pk, change="call_attempted", result=result)
        return fu
    fu.state, fu.completed_at = ST.DONE, now
    fu.reason = (
        (note or "회신 완료")[:300] if result == CallResult.REACHED else (f"{label} · {note}" if note else label)[:300]
    )
    fu.completed_by = actor.user if getattr(actor.user, "pk", None) else None
    fu.save(update_fields=["state", "completed_at", "completed_by", "reason", "updated_at"])
    refresh_next_due([fu.ticket_id])
    audit.record(
        fu.ticket, EventType.FOLLOWUP, actor, followup=fu.pk, change="completed", late=now > fu.due_at, result=result
    )
    return fu
