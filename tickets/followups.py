"""The follow-up engine: policies turn triggers into FollowUp rows; the dispatcher carries out
the rows that are due.

Follow-ups are rows, never broker ETAs: a beat task calls `dispatch_due()` every minute, which
claims due rows with SELECT ... FOR UPDATE SKIP LOCKED in batches, so any number of workers and
a duplicated beat act on each row once. Each message a follow-up sends carries the idempotency
key `followup:<id>:<recipient>`, so even a row processed twice yields one message.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery

from cstrack import calendar, pii
from cstrack.actors import SYSTEM, Actor
from cstrack.errors import Conflict, DomainValidationError, PermissionDenied
from notifications import services as outbox

from . import delegation
from .models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    EventType,
    FollowUp,
    FollowUpPolicy,
    FollowUpState,
    Status,
    Ticket,
    TicketEvent,
    Timing,
)

logger = logging.getLogger(__name__)
ST = FollowUpState
AUTOMATIC_ACTIONS = [a for a in Action.values if a != Action.CALL_BACK]


def _event(ticket, actor: Actor, **data):
    TicketEvent.objects.create(
        ticket=ticket,
        type=EventType.FOLLOWUP,
        actor=actor.user if getattr(actor.user, "pk", None) else None,
        actor_label=actor.label,
        at=calendar.now(),
        data=data,
    )


# --- The ticket's next due time -----------------------------------------------------------------


def refresh_next_due(ticket_ids) -> None:
    """Recompute Ticket.next_due_at (earliest pending due time) for these tickets in one UPDATE.

    Every function here that creates follow-ups or changes their state or due time calls it
    before returning, with the ticket locked (so two changes to one ticket cannot interleave).
    """
    ids = sorted({getattr(t, "pk", t) for t in ticket_ids})
    if not ids:
        return
    earliest = (
        FollowUp.objects.filter(ticket=OuterRef("pk"), state__in=PENDING_FOLLOWUP_STATES)
        .order_by("due_at")
        .values("due_at")[:1]
    )
    Ticket.objects.filter(pk__in=ids).update(next_due_at=Subquery(earliest))


def refresh_all_next_due(batch_size: int = 5000) -> int:
    """Recompute every open ticket's next due time, in batches (after a bulk change made outside
    the engine, such as a data migration or a data load). Returns the tickets visited."""
    from .models import OPEN_STATUSES

    visited, last = 0, 0
    while True:
        ids = list(
            Ticket.objects.filter(status__in=OPEN_STATUSES, pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return visited
        with transaction.atomic():
            refresh_next_due(ids)
        visited, last = visited + len(ids), ids[-1]


# --- Scheduling ------------------------------------------------------------------------------


def due_time(policy: FollowUpPolicy, anchor):
    """When a policy's action falls due, counted from its trigger time."""
    n = policy.timing_n
    if policy.timing == Timing.IMMEDIATE:
        return anchor
    if policy.timing == Timing.OFFSET_SECONDS:
        return calendar.after_seconds(anchor, n)
    if policy.timing == Timing.D_PLUS:
        return calendar.d_plus(anchor, n, policy.timing_time)
    if policy.timing == Timing.BUSINESS_DAYS:
        return calendar.add_business_days(anchor, n)
    if policy.timing == Timing.START_OF_BUSINESS_DAY:
        return calendar.start_of_nth_business_day(anchor, max(n, 1))
    if policy.timing == Timing.END_OF_BUSINESS_DAY:
        return calendar.end_of_nth_business_day(anchor, max(n, 1))
    if policy.timing == Timing.NEXT_BUSINESS_MOMENT:
        return calendar.next_business_moment(anchor)
    raise ValueError(f"unknown timing {policy.timing}")


def _details_match(ticket: Ticket, wanted: dict) -> bool:
    values = {**ticket.details, **ticket.sensitive_details}
    for name, expected in (wanted or {}).items():
        options = expected if isinstance(expected, list) else [expected]
        if values.get(name, False if isinstance(options[0], bool) else None) not in options:
            return False
    return True


def schedule(ticket: Ticket, trigger: str, *, anchor, occurrence: str, status: str = "") -> list[FollowUp]:
    """Create the follow-ups that `trigger` calls for. Runs inside the trigger's transaction."""
    policies = FollowUpPolicy.objects.filter(Q(kind=ticket.kind) | Q(kind__isnull=True), trigger=trigger, active=True)
    if status:
        policies = policies.filter(trigger_status=status)
    created = []
    for policy in policies.select_related("template"):
        if not _details_match(ticket, policy.conditions.get("details")):
            continue
        paused = ticket.status == Status.WAITING_CUSTOMER and policy.pauses_when_waiting
        row = FollowUp(
            ticket=ticket,
            policy=policy,
            action=policy.action,
            due_at=due_time(policy, anchor),
            state=ST.PAUSED if paused else ST.SCHEDULED,
            marks_breach=policy.marks_breach,
            pauses_when_waiting=policy.pauses_when_waiting,
            dedupe_key=f"{policy.code}:{ticket.pk}:{occurrence}"[:120],
            reason=policy.name,
        )
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:  # this trigger occurrence already scheduled it
            continue
        created.append(row)
    if created:
        refresh_next_due([ticket])
    return created


# --- Reactions to ticket changes --------------------------------------------------------------


def on_outcome(ticket: Ticket) -> None:
    """Follow-ups held for an outcome go now (the dispatcher still respects quiet hours)."""
    now = calendar.now()
    held = FollowUp.objects.filter(ticket=ticket, state=ST.HELD)
    for fu in held:
        fu.state, fu.due_at, fu.reason = ST.SCHEDULED, max(fu.due_at, now), "결과 기록으로 발송 재개"
        fu.save(update_fields=["state", "due_at", "reason", "updated_at"])
    refresh_next_due([ticket])


def on_status_change(ticket: Ticket, from_status: str, to_status: str, *, paused_at=None, actor: Actor = SYSTEM):
    pending = FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES)
    if to_status in (Status.CLOSED, Status.CANCELLED):
        reason = "티켓 종료로 취소" if to_status == Status.CLOSED else "티켓 취소로 취소"
        count = pending.update(state=ST.CANCELLED, reason=reason, updated_at=calendar.now())
        if count:
            _event(ticket, actor, cancelled=count, reason=reason)
        if to_status == Status.CANCELLED:
            # A cancelled request promises nothing: a message still waiting in the outbox (for
            # the end of quiet hours, say) is stopped. Closing is the normal end of a handled
            # ticket, so a message already due for it still goes.
            outbox.messages_cancel(list(_customer_message_ids(ticket)), reason=reason)
        refresh_next_due([ticket])
        return
    if to_status == Status.WAITING_CUSTOMER:
        pending.filter(state=ST.SCHEDULED, pauses_when_waiting=True).update(state=ST.PAUSED, updated_at=calendar.now())
    elif from_status == Status.WAITING_CUSTOMER and paused_at:
        # The clock stopped while we waited on the customer: move due times by the paused time
        # (for a duty scheduled during the wait, the time since it was scheduled).
        now = calendar.now()
        for fu in pending.filter(state=ST.PAUSED):
            paused_for = calendar.elapsed(max(paused_at, fu.created_at), now)
            fu.state, fu.due_at = ST.SCHEDULED, calendar.shift(fu.due_at, paused_for)
            fu.save(update_fields=["state", "due_at", "updated_at"])
        refresh_next_due([ticket])
    # Pausing keeps duties pending at the same due times: the next due time does not change.
    # schedule() refreshes it when it adds duties.
    schedule(
        ticket,
        "status_entered",
        anchor=calendar.now(),
        occurrence=f"status-{to_status}-{ticket.version}",
        status=to_status,
    )


def _customer_message_ids(ticket: Ticket):
    return FollowUp.objects.filter(ticket=ticket, action=Action.CUSTOMER_MESSAGE, message__isnull=False).values_list(
        "message_id", flat=True
    )


def on_consent_withdrawn(ticket: Ticket) -> None:
    """No more messages to the customer: pending duties are cancelled, and so are messages
    already in the outbox that have not left (one waiting for the end of quiet hours, say)."""
    FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES, action=Action.CUSTOMER_MESSAGE).update(
        state=ST.CANCELLED, reason="고객 동의 철회 또는 연락처 삭제로 취소", updated_at=calendar.now()
    )
    refresh_next_due([ticket])
    outbox.messages_cancel(list(_customer_message_ids(ticket)), reason="고객 동의 철회 또는 연락처 삭제로 취소")


def on_contact_purged(ticket: Ticket) -> None:
    """The contact is gone from the ticket: it goes from the outbox too (sent messages included)."""
    on_consent_withdrawn(ticket)
    outbox.messages_forget_recipient(list(_customer_message_ids(ticket)))


# --- Manual changes ------------------------------------------------------------------------------


def _locked_followup(followup: FollowUp) -> FollowUp:
    # The ticket first, as the services do: changes to one ticket's duties queue up behind each
    # other, so each refresh of its next due time sees the one before.
    Ticket.objects.select_for_update().filter(pk=followup.ticket_id).values_list("pk", flat=True).first()
    return FollowUp.objects.select_for_update(of=("self",)).select_related("ticket").get(pk=followup.pk)


@transaction.atomic
def followup_reschedule(followup: FollowUp, *, due_at, reason: str, actor: Actor) -> FollowUp:
    if not actor.has_perm("tickets.manage_followups"):
        raise PermissionDenied("후속 조치를 변경할 권한이 없습니다.")
    if not (reason or "").strip():
        raise DomainValidationError({"reason": ["변경 사유를 입력해 주세요."]})
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
    _event(
        fu.ticket,
        actor,
        followup=fu.pk,
        change="rescheduled",
        before=before.isoformat(),
        after=due_at.isoformat(),
        reason=fu.reason,
    )
    return fu


@transaction.atomic
def followup_cancel(followup: FollowUp, *, reason: str, actor: Actor) -> FollowUp:
    if not actor.has_perm("tickets.manage_followups"):
        raise PermissionDenied("후속 조치를 변경할 권한이 없습니다.")
    if not (reason or "").strip():
        raise DomainValidationError({"reason": ["취소 사유를 입력해 주세요."]})
    fu = _locked_followup(followup)
    if fu.state not in PENDING_FOLLOWUP_STATES:
        raise Conflict(f"'{fu.get_state_display()}' 상태의 후속 조치는 취소할 수 없습니다.")
    fu.state, fu.reason = ST.CANCELLED, reason.strip()[:300]
    fu.save(update_fields=["state", "reason", "updated_at"])
    _event(fu.ticket, actor, followup=fu.pk, change="cancelled", reason=fu.reason)
    refresh_next_due([fu.ticket_id])
    return fu


@transaction.atomic
def followup_complete(followup: FollowUp, *, actor: Actor, note: str = "") -> FollowUp:
    """A person marks a call-back duty done."""
    fu = _locked_followup(followup)
    if fu.action != Action.CALL_BACK:
        raise Conflict("자동 후속 조치는 직접 완료할 수 없습니다.")
    if fu.state not in PENDING_FOLLOWUP_STATES:
        raise Conflict(f"'{fu.get_state_display()}' 상태의 후속 조치는 완료할 수 없습니다.")
    now = calendar.now()
    fu.state, fu.completed_at, fu.reason = ST.DONE, now, (note or "회신 완료").strip()[:300]
    fu.completed_by = actor.user if getattr(actor.user, "pk", None) else None
    fu.save(update_fields=["state", "completed_at", "completed_by", "reason", "updated_at"])
    refresh_next_due([fu.ticket_id])
    _event(fu.ticket, actor, followup=fu.pk, change="completed", late=now > fu.due_at)
    return fu


# --- Dispatcher ----------------------------------------------------------------------------------


@dataclass
class DispatchResult:
    claimed: int = 0
    done: int = 0
    held: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0


def due_queryset(now):
    # Must match the partial index `followup_due_dispatch` (state=scheduled, not call_back).
    return FollowUp.objects.filter(state=ST.SCHEDULED, due_at__lte=now).exclude(action=Action.CALL_BACK)


def dispatch_due(*, batch_size: int | None = None, max_batches: int = 50) -> DispatchResult:
    """Claim and carry out due follow-ups, batch after batch, until none are due."""
    total = DispatchResult()
    for _ in range(max_batches):
        result = _dispatch_batch(batch_size or settings.FOLLOWUP_BATCH_SIZE)
        for field in total.__dataclass_fields__:
            setattr(total, field, getattr(total, field) + getattr(result, field))
        if result.claimed - result.deferred == 0:
            break
    return total


@transaction.atomic
def _dispatch_batch(batch_size: int) -> DispatchResult:
    now = calendar.now()
    claimed = list(
        due_queryset(now)
        .select_related("policy__template")
        .select_for_update(skip_locked=True, of=("self",))  # lock the follow-ups only, not their policies
        .order_by("due_at")[:batch_size]
    )
    result = DispatchResult(claimed=len(claimed))
    if not claimed:
        return result
    # Lock the tickets too, without waiting: a ticket a service is changing right now is left for
    # the next tick (no deadlock, and no decision on a ticket that is about to change).
    ticket_ids = {fu.ticket_id for fu in claimed}
    tickets = {
        t.pk: t
        for t in Ticket.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("kind", "board", "assignee")
        .filter(pk__in=ticket_ids)
    }
    for fu in claimed:
        ticket = tickets.get(fu.ticket_id)
        if ticket is None:
            result.deferred += 1
            continue
        fu.ticket = ticket
        try:
            with transaction.atomic():
                outcome = _carry_out(fu, ticket, now)
        except Exception:
            logger.exception("follow-up %s failed", fu.pk, extra={"ticket": ticket.reference})
            fu.attempts += 1
            fu.state = ST.FAILED if fu.attempts >= 3 else ST.SCHEDULED
            fu.due_at = calendar.after_seconds(now, 60 * fu.attempts)
            fu.reason = "처리 중 오류 (재시도)" if fu.state == ST.SCHEDULED else "처리 중 오류로 실패"
            fu.save(update_fields=["attempts", "state", "due_at", "reason", "updated_at"])
            result.failed += 1
            continue
        setattr(result, outcome, getattr(result, outcome) + 1)
    refresh_next_due(tickets)
    return result


def _close(fu: FollowUp, state: str, reason: str, message=None) -> None:
    fu.state, fu.reason = state, reason[:300]
    fu.completed_at = calendar.now() if state == ST.DONE else None
    if message is not None:
        fu.message = message
    fu.save(update_fields=["state", "reason", "completed_at", "message", "updated_at"])


def _carry_out(fu: FollowUp, ticket: Ticket, now) -> str:
    conditions = fu.policy.conditions if fu.policy else {}
    if conditions.get("skip_if_status") and ticket.status in conditions["skip_if_status"]:
        _close(fu, ST.SKIPPED, f"'{ticket.get_status_display()}' 상태라 생략")
        return "skipped"
    if conditions.get("skip_if_outcome") and ticket.outcome:
        _close(fu, ST.SKIPPED, "기한 전에 처리 결과가 기록됨")
        return "skipped"
    if conditions.get("skip_if_callbacks_done"):
        open_callbacks = FollowUp.objects.filter(
            ticket=ticket, action=Action.CALL_BACK, state__in=PENDING_FOLLOWUP_STATES
        )
        if not open_callbacks.exists():
            _close(fu, ST.SKIPPED, "회신 전화가 이미 완료됨")
            return "skipped"
    wanted = conditions.get("hold_until_outcome_in")
    if wanted:
        if not ticket.outcome:
            fu.state, fu.reason = ST.HELD, "처리 결과를 기다리는 중 (결과 기록 시 발송)"
            fu.save(update_fields=["state", "reason", "updated_at"])
            return "held"
        if ticket.outcome not in wanted:
            _close(fu, ST.SKIPPED, f"처리 결과 '{ticket.kind.outcome_label(ticket.outcome)}'에는 안내하지 않음")
            return "skipped"

    if fu.action == Action.CUSTOMER_MESSAGE:
        return _send_customer_message(fu, ticket)
    if fu.marks_breach and not ticket.breached_at:
        Ticket.objects.filter(pk=ticket.pk).update(breached_at=now)
        ticket.breached_at = now
        TicketEvent.objects.create(
            ticket=ticket,
            type=EventType.BREACHED,
            actor_label=SYSTEM.label,
            at=now,
            data={"followup": fu.pk, "due_at": fu.due_at.isoformat()},
        )
    return _send_staff_notice(fu, ticket)


def message_context(ticket: Ticket, fu: FollowUp | None = None) -> dict:
    incident = ticket.details.get("incident_date") or ticket.details.get("occurred_on")
    # What was promised by when: the pending call back, else the nearest deadline that would
    # breach (a reminder about a penalty request names its D+3), else this duty's own time.
    pending = ticket.followups.filter(state__in=PENDING_FOLLOWUP_STATES).order_by("due_at")
    callback = pending.filter(action=Action.CALL_BACK).first() or pending.filter(marks_breach=True).first() or fu
    base_url = getattr(settings, "CSTRACK_BASE_URL", "").rstrip("/")
    return {
        "reference": ticket.reference,
        "kind_name": ticket.kind.name,
        "board_name": ticket.board.name,
        "incident_date": calendar.month_day_label(incident)
        if incident
        else calendar.month_day_label(calendar.kst_date(ticket.received_at)),
        "due_at": calendar.business_time_label(fu.due_at) if fu else "",
        "promised_by": calendar.business_time_label(callback.due_at) if callback else "",
        "ticket_url": f"{base_url}/tickets/{ticket.reference}/",
        "parking_lot": ticket.parking_lot,
        "vehicle_plate": ticket.vehicle_plate,
        "summary": ticket.title or ticket.kind.name,
        "customer_name_masked": pii.mask_name(_customer_name(ticket)) or "고객",
    }


NAME_FIELDS = ("customer_name", "inquirer_name", "name")


def _customer_name(ticket: Ticket) -> str:
    for source in (ticket.sensitive_details, ticket.details):
        for field in NAME_FIELDS:
            if isinstance(source.get(field), str) and source[field].strip():
                return source[field]
    return ""


def _send_customer_message(fu: FollowUp, ticket: Ticket) -> str:
    template = fu.policy.template if fu.policy else None
    if template is None:
        _close(fu, ST.SKIPPED, "템플릿이 없어 생략")
        return "skipped"
    if ticket.consent_withdrawn_at or ticket.contact_purged_at:
        _close(fu, ST.SKIPPED, "동의 철회 또는 연락처 삭제로 생략")
        return "skipped"
    if not delegation.contact_is_covered(ticket):
        _close(fu, ST.SKIPPED, "제3자 연락처에 대한 위임 기록이 없어 생략")
        return "skipped"
    if template.channel == "sms":
        recipient = ticket.customer_phone
    else:
        recipient = (
            ticket.customer_email
            or ticket.sensitive_details.get("contact_email")
            or ticket.sensitive_details.get("email")
        )
    if not recipient:
        _close(fu, ST.SKIPPED, "고객 연락처가 없어 생략")
        return "skipped"
    message = outbox.message_enqueue(
        channel=template.channel,
        recipient=recipient,
        template=template,
        context=message_context(ticket, fu),
        idempotency_key=f"followup:{fu.pk}:customer",
        respect_quiet_hours=True,
    )
    _close(fu, ST.DONE, "고객 메시지 발송 대기열에 등록", message=message)
    return "done"


def _staff_recipients(fu: FollowUp, ticket: Ticket) -> list[tuple[str, str]]:
    board = ticket.board
    recipients = []
    if fu.action == Action.REMIND_OWNER and ticket.assignee and ticket.assignee.email:
        recipients.append(("email", ticket.assignee.email))
    elif fu.action == Action.ESCALATE and board.escalation_email:
        # The next level above the board's supervisor; without one it stays with the supervisor.
        recipients.append(("email", board.escalation_email))
    elif board.supervisor_email:
        recipients.append(("email", board.supervisor_email))
    if board.chat_webhook_url:
        recipients.append(("chat", board.chat_webhook_url))
    return recipients


def _send_staff_notice(fu: FollowUp, ticket: Ticket) -> str:
    template = fu.policy.template if fu.policy else None
    recipients = _staff_recipients(fu, ticket)
    if not recipients:
        _close(fu, ST.DONE, "알림 받을 사람이 설정되지 않음 (화면에만 표시)")
        return "done"
    context = message_context(ticket, fu)
    first = None
    for channel, address in recipients:
        kwargs = (
            {"template": template}
            if template is not None and channel == template.channel
            else {
                "subject": f"[cstrack] {ticket.reference} {fu.get_action_display()}",
                "body": f"{ticket.reference} ({ticket.kind.name}) {fu.get_action_display()}: {context['ticket_url']}",
            }
        )
        message = outbox.message_enqueue(
            channel=channel, recipient=address, context=context, idempotency_key=f"followup:{fu.pk}:{channel}", **kwargs
        )
        first = first or message
    _close(fu, ST.DONE, f"{fu.get_action_display()} 발송 대기열에 등록", message=first)
    return "done"
