"""The dispatcher: carries out the follow-ups that are due.

Follow-ups are rows, never broker ETAs: a beat task calls `dispatch_due()` every minute, which
claims due rows with SELECT ... FOR UPDATE SKIP LOCKED in batches, so any number of workers and
a duplicated beat act on each row once. Each message a follow-up sends carries the idempotency
key `followup:<id>:<recipient>`, so even a row processed twice yields one message.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from cstrack import calendar, pii
from cstrack.actors import SYSTEM
from notifications import services as outbox
from tickets import audit
from tickets.followups.messages import message_context
from tickets.followups.scheduling import refresh_next_due
from tickets.models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    EventType,
    FollowUp,
    FollowUpState,
    Ticket,
)
from tickets.privacy.delegation import contact_is_covered
from tickets.reports import digest

logger = logging.getLogger(__name__)
ST = FollowUpState


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
    ticket_ids = {fu.ticket_id for fu in claimed if fu.ticket_id is not None}
    tickets = {
        t.pk: t
        for t in Ticket.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("kind", "board", "assignee")
        .filter(pk__in=ticket_ids)
    }
    for fu in claimed:
        ticket = tickets.get(fu.ticket_id)
        if ticket is None and fu.ticket_id is not None:
            result.deferred += 1
            continue
        fu.ticket = ticket
        try:
            with transaction.atomic():
                # A follow-up without a ticket is a member of staff's morning digest.
                outcome = _carry_out(fu, ticket, now) if ticket is not None else digest.carry_out(fu, now)
        except Exception:
            logger.exception("follow-up %s failed", fu.pk, extra={"ticket": ticket.reference if ticket else ""})
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
        audit.record(ticket, EventType.BREACHED, SYSTEM, at=now, followup=fu.pk, due_at=fu.due_at.isoformat())
    return _send_staff_notice(fu, ticket)


def _send_customer_message(fu: FollowUp, ticket: Ticket) -> str:
    template = fu.policy.template if fu.policy else None
    if template is None:
        _close(fu, ST.SKIPPED, "템플릿이 없어 생략")
        return "skipped"
    if ticket.consent_withdrawn_at or ticket.contact_purged_at:
        _close(fu, ST.SKIPPED, "동의 철회 또는 연락처 삭제로 생략")
        return "skipped"
    if not contact_is_covered(ticket):
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
    if template.channel == "sms" and not pii.is_mobile(recipient):
        _close(fu, ST.SKIPPED, "휴대폰 번호가 아니어서 문자를 보낼 수 없어 생략")
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
