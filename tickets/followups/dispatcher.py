"""The dispatcher: carries out the follow-ups that are due.

Follow-ups are rows, never broker ETAs: a beat task calls `dispatch_due()` every minute, which
claims due rows with SELECT ... FOR UPDATE SKIP LOCKED in batches, so any number of workers and
a duplicated beat act on each row once. Each message a follow-up sends carries the idempotency
key `followup:<id>:<recipient>`, so even a row processed twice yields one message.

A batch is carried out as a set, with a constant number of statements whatever its size: the
rows it needs are read together (tickets, their pending follow-ups, delegations), every decision
is taken in Python, then the outbox messages, follow-ups, tickets and audit events are written
in bulk and the next due times refreshed once. If the bulk write fails, it is rolled back (a
savepoint) and the batch is carried out again one row at a time through the same code, each row
in its own savepoint: the row that fails is marked for a retry, the others go through once.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from cstrack import calendar, pii
from cstrack.actors import SYSTEM
from notifications import services as outbox
from tickets import audit
from tickets.followups.messages import message_context
from tickets.followups.scheduling import refresh_next_due
from tickets.models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    Board,
    EventType,
    FollowUp,
    FollowUpPolicy,
    FollowUpState,
    Ticket,
    TicketKind,
)
from tickets.privacy.delegation import covered_ticket_ids
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
        for name in total.__dataclass_fields__:
            setattr(total, name, getattr(total, name) + getattr(result, name))
        if result.claimed - result.deferred == 0:
            break
    return total


@transaction.atomic
def _dispatch_batch(batch_size: int) -> DispatchResult:
    now = calendar.now()
    claimed = list(
        due_queryset(now)
        .select_for_update(skip_locked=True, of=("self",))  # the follow-ups only; policies are read below
        .order_by("due_at")[:batch_size]
    )
    result = DispatchResult(claimed=len(claimed))
    if not claimed:
        return result
    # A batch's rows share a few policies, kinds and boards: each is read once, not once per row
    # by a join (building those objects, JSON included, cost more than the rows' own work).
    policies = FollowUpPolicy.objects.select_related("template").in_bulk({fu.policy_id for fu in claimed})
    for fu in claimed:
        if fu.policy_id is not None:
            fu.policy = policies[fu.policy_id]
    # Lock the tickets too, without waiting: a ticket a service is changing right now is left for
    # the next tick (no deadlock, and no decision on a ticket that is about to change).
    ticket_ids = {fu.ticket_id for fu in claimed if fu.ticket_id is not None}
    tickets = {
        t.pk: t
        for t in Ticket.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("assignee")
        .filter(pk__in=ticket_ids)
    }
    if tickets:
        kinds = TicketKind.objects.in_bulk({t.kind_id for t in tickets.values()})
        boards = Board.objects.in_bulk({t.board_id for t in tickets.values()})
        for ticket in tickets.values():
            ticket.kind, ticket.board = kinds[ticket.kind_id], boards[ticket.board_id]
    ready, digests = [], []
    for fu in claimed:
        if fu.ticket_id is None:  # a member of staff's morning digest (tickets.reports.digest)
            digests.append(fu)
        elif fu.ticket_id in tickets:
            fu.ticket = tickets[fu.ticket_id]
            ready.append(fu)
        else:
            result.deferred += 1
    try:
        if ready:
            with transaction.atomic():
                _add(result, _carry_out(ready, now))
    except Exception:
        logger.exception("bulk dispatch of %s follow-ups failed; carrying them out one by one", len(ready))
        for fu in ready:
            _carry_out_alone(result, fu, now, lambda fu=fu: _carry_out([fu], now))
    for fu in digests:  # one per member of staff and day: one at a time
        _carry_out_alone(result, fu, now, lambda fu=fu: {digest.carry_out(fu, now): 1})
    refresh_next_due(tickets)
    return result


def _add(result: DispatchResult, counts: dict) -> None:
    for outcome, n in counts.items():
        setattr(result, outcome, getattr(result, outcome) + n)


def _carry_out_alone(result: DispatchResult, fu: FollowUp, now, work) -> None:
    """Carry out one follow-up in its own savepoint; if it fails it is retried later (3 tries)."""
    try:
        with transaction.atomic():
            _add(result, work())
    except Exception:
        ticket = fu.ticket if fu.ticket_id is not None else None
        logger.exception("follow-up %s failed", fu.pk, extra={"ticket": ticket.reference if ticket else ""})
        _mark_failed(fu, now)
        fu.save(update_fields=["attempts", "state", "due_at", "reason", "updated_at"])
        result.failed += 1


def _mark_failed(fu: FollowUp, now) -> None:
    fu.attempts += 1
    fu.state = ST.FAILED if fu.attempts >= 3 else ST.SCHEDULED
    fu.due_at = calendar.after_seconds(now, 60 * fu.attempts)
    fu.reason = "처리 중 오류 (재시도)" if fu.state == ST.SCHEDULED else "처리 중 오류로 실패"


@dataclass
class _Plan:
    """What carrying out one follow-up comes to, decided before anything is written."""

    fu: FollowUp
    outcome: str  # a DispatchResult field: done, held, skipped
    state: str
    reason: str
    messages: list[dict] = field(default_factory=list)  # outbox specs; the first is the follow-up's message
    breach: bool = False


def _carry_out(fus: list[FollowUp], now) -> dict:
    """Carry out these claimed follow-ups (their tickets locked) with a constant number of
    statements; returns the count per outcome. Writes nothing to `fus` or their tickets until
    every write has gone through, so a failed attempt can be repeated from the same objects."""
    tickets = {fu.ticket_id: fu.ticket for fu in fus}
    pending = defaultdict(list)
    for row in (
        FollowUp.objects.filter(ticket_id__in=tickets, state__in=PENDING_FOLLOWUP_STATES)
        .order_by("due_at", "id")
        .only("ticket_id", "action", "due_at", "marks_breach")
    ):
        pending[row.ticket_id].append(row)
    covered = covered_ticket_ids(tickets.values())
    breached = {pk for pk, t in tickets.items() if t.breached_at}

    plans = []
    for fu in fus:
        plan = _decide(fu, fu.ticket, pending[fu.ticket_id], fu.ticket_id in covered, breached, now)
        if plan.state != ST.HELD:  # closed: no longer pending for the next row of this ticket
            pending[fu.ticket_id] = [p for p in pending[fu.ticket_id] if p.pk != fu.pk]
        plans.append(plan)

    specs = [spec for plan in plans for spec in plan.messages]
    messages = iter(outbox.messages_enqueue_many(specs))
    first_message = {}
    for plan in plans:
        sent = [next(messages) for _ in plan.messages]
        if sent:
            first_message[plan.fu.pk] = sent[0]
    newly_breached = {plan.fu.ticket_id: plan for plan in plans if plan.breach}
    if newly_breached:
        Ticket.objects.filter(pk__in=newly_breached).update(breached_at=now)
        audit.record_many(
            [
                audit.event(
                    tickets[pk],
                    EventType.BREACHED,
                    SYSTEM,
                    at=now,
                    followup=plan.fu.pk,
                    due_at=plan.fu.due_at.isoformat(),
                )
                for pk, plan in newly_breached.items()
            ]
        )
    completed = {plan.fu.pk: now for plan in plans if plan.state == ST.DONE}
    completed.update((plan.fu.pk, None) for plan in plans if plan.state == ST.SKIPPED)
    _update_followups(
        now,
        state={plan.fu.pk: plan.state for plan in plans},
        reason={plan.fu.pk: plan.reason[:300] for plan in plans},
        completed_at=completed,
        message_id={pk: message.pk for pk, message in first_message.items()},
    )

    # Every write went through: the objects follow.
    counts = defaultdict(int)
    for plan in plans:
        fu = plan.fu
        fu.state, fu.reason, fu.updated_at = plan.state, plan.reason[:300], now
        fu.completed_at = completed.get(fu.pk, fu.completed_at)
        if fu.pk in first_message:
            fu.message = first_message[fu.pk]
        counts[plan.outcome] += 1
    for pk in newly_breached:
        tickets[pk].breached_at = now
    return counts


def _update_followups(now, **columns: dict) -> None:
    """One UPDATE for the whole batch: each column set per row (`{follow-up id: value}`; rows a
    column does not name keep their value). Written by hand because the ORM's bulk_update builds
    one expression object per row and field, which costs more than the rest of the batch."""
    ids = sorted({pk for values in columns.values() for pk in values})
    if not ids:
        return
    columns = {name: values for name, values in columns.items() if values}
    table = connection.ops.quote_name(FollowUp._meta.db_table)
    updated_at = FollowUp._meta.get_field("updated_at")
    sets, params = (
        [f"{connection.ops.quote_name(updated_at.column)} = %s"],
        [updated_at.get_db_prep_save(now, connection)],
    )
    if connection.vendor == "postgresql":
        # The values as one array per column, joined to the rows by unnest: a statement of a
        # dozen parameters whatever the batch size (the driver parses and binds each %s in
        # Python, which for a CASE of 4 x 200 pairs cost more than the server's work).
        unnested, arrays = ["%s::bigint[]"], [ids]
        for i, (name, values) in enumerate(columns.items()):
            model_field = FollowUp._meta.get_field(name)
            column = connection.ops.quote_name(model_field.column)
            sets.append(f"{column} = CASE WHEN v.set{i} THEN v.value{i} ELSE f.{column} END")
            unnested += ["%s::boolean[]", f"%s::{model_field.db_type(connection)}[]"]
            arrays += [
                [pk in values for pk in ids],
                [model_field.get_db_prep_save(values[pk], connection) if pk in values else None for pk in ids],
            ]
        names = ", ".join(["id", *(f"set{i}, value{i}" for i in range(len(columns)))])
        sql = (
            f"UPDATE {table} AS f SET {', '.join(sets)} "  # noqa: S608
            f"FROM unnest({', '.join(unnested)}) AS v({names}) WHERE f.id = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *arrays])
        return
    for name, values in columns.items():
        model_field = FollowUp._meta.get_field(name)
        column = connection.ops.quote_name(model_field.column)
        sets.append(f"{column} = CASE id " + "WHEN %s THEN %s " * len(values) + f"ELSE {column} END")
        for pk, value in values.items():
            params += [pk, model_field.get_db_prep_save(value, connection)]
    where = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE id IN ({where})", [*params, *ids])  # noqa: S608


def _decide(fu: FollowUp, ticket: Ticket, pending: list[FollowUp], covered: bool, breached: set, now) -> _Plan:
    conditions = fu.policy.conditions if fu.policy else {}
    if conditions.get("skip_if_status") and ticket.status in conditions["skip_if_status"]:
        return _skip(fu, f"'{ticket.get_status_display()}' 상태라 생략")
    if conditions.get("skip_if_outcome") and ticket.outcome:
        return _skip(fu, "기한 전에 처리 결과가 기록됨")
    if conditions.get("skip_if_callbacks_done") and not any(p.action == Action.CALL_BACK for p in pending):
        return _skip(fu, "회신 전화가 이미 완료됨")
    wanted = conditions.get("hold_until_outcome_in")
    if wanted:
        if not ticket.outcome:
            return _Plan(fu, "held", ST.HELD, "처리 결과를 기다리는 중 (결과 기록 시 발송)")
        if ticket.outcome not in wanted:
            return _skip(fu, f"처리 결과 '{ticket.kind.outcome_label(ticket.outcome)}'에는 안내하지 않음")

    if fu.action == Action.CUSTOMER_MESSAGE:
        return _customer_message(fu, ticket, pending, covered)
    plan = _staff_notice(fu, ticket, pending)
    if fu.marks_breach and ticket.pk not in breached:
        breached.add(ticket.pk)
        plan.breach = True
    return plan


def _skip(fu: FollowUp, reason: str) -> _Plan:
    return _Plan(fu, "skipped", ST.SKIPPED, reason)


def _customer_message(fu: FollowUp, ticket: Ticket, pending: list[FollowUp], covered: bool) -> _Plan:
    template = fu.policy.template if fu.policy else None
    if template is None:
        return _skip(fu, "템플릿이 없어 생략")
    if ticket.consent_withdrawn_at or ticket.contact_purged_at:
        return _skip(fu, "동의 철회 또는 연락처 삭제로 생략")
    if not covered:
        return _skip(fu, "제3자 연락처에 대한 위임 기록이 없어 생략")
    if template.channel == "sms":
        recipient = ticket.customer_phone
    else:
        recipient = (
            ticket.customer_email
            or ticket.sensitive_details.get("contact_email")
            or ticket.sensitive_details.get("email")
        )
    if not recipient:
        return _skip(fu, "고객 연락처가 없어 생략")
    if template.channel == "sms":
        if not pii.is_mobile(recipient):
            return _skip(fu, "휴대폰 번호가 아니어서 문자를 보낼 수 없어 생략")
        # Stored normalised with its mask (tickets.privacy.consent): not parsed again per message.
        recipient = pii.NormalisedPhone(recipient, ticket.customer_phone_masked)
    message = {
        "channel": template.channel,
        "recipient": recipient,
        "template": template,
        "context": message_context(ticket, fu, pending),
        "idempotency_key": f"followup:{fu.pk}:customer",
        "respect_quiet_hours": True,
    }
    return _Plan(fu, "done", ST.DONE, "고객 메시지 발송 대기열에 등록", messages=[message])


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


def _staff_notice(fu: FollowUp, ticket: Ticket, pending: list[FollowUp]) -> _Plan:
    template = fu.policy.template if fu.policy else None
    recipients = _staff_recipients(fu, ticket)
    if not recipients:
        return _Plan(fu, "done", ST.DONE, "알림 받을 사람이 설정되지 않음 (화면에만 표시)")
    context = message_context(ticket, fu, pending)
    messages = []
    for channel, address in recipients:
        content = (
            {"template": template}
            if template is not None and channel == template.channel
            else {
                "subject": f"[cstrack] {ticket.reference} {fu.get_action_display()}",
                "body": f"{ticket.reference} ({ticket.kind.name}) {fu.get_action_display()}: {context['ticket_url']}",
            }
        )
        messages.append(
            {
                "channel": channel,
                "recipient": address,
                "context": context,
                "idempotency_key": f"followup:{fu.pk}:{channel}",
                **content,
            }
        )
    return _Plan(fu, "done", ST.DONE, f"{fu.get_action_display()} 발송 대기열에 등록", messages=messages)
