"""Scheduling: policies turn triggers into FollowUp rows, and ticket changes (outcome, status,
consent, purge) move, pause or cancel the pending ones. Keeps each ticket's `next_due_at`.

The dispatcher (`tickets.followups.dispatcher`) carries the due rows out; manual changes by
staff are in `tickets.followups.changes`.
"""

import logging

from django.db import transaction
from django.db.models import OuterRef, Subquery

from cstrack import calendar
from cstrack.actors import SYSTEM, Actor
from notifications import services as outbox
from tickets import audit, configuration
from tickets.models import (
    OPEN_STATUSES,
    PENDING_FOLLOWUP_STATES,
    Action,
    EventType,
    FollowUp,
    FollowUpPolicy,
    FollowUpState,
    Status,
    Ticket,
    Timing,
)

logger = logging.getLogger(__name__)
ST = FollowUpState
AUTOMATIC_ACTIONS = [a for a in Action.values if a != Action.CALL_BACK]


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


def kind_texts_customer(kind) -> bool:
    """Whether an active rule may send this kind's customer an SMS: then the customer's number
    must be a mobile one; otherwise (the number is only called back) a landline will do."""
    return bool(configuration.active_policies(kind, action=Action.CUSTOMER_MESSAGE, template__channel="sms"))


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


def _planned(ticket: Ticket, trigger: str, anchor, status: str = "") -> list[FollowUp]:
    """The follow-ups `trigger` calls for on `ticket` (unsaved, without their dedupe key)."""
    policies = configuration.active_policies(
        ticket.kind, trigger=trigger, **({"trigger_status": status} if status else {})
    )
    rows = []
    for policy in policies:
        if not _details_match(ticket, policy.conditions.get("details")):
            continue
        paused = ticket.status == Status.WAITING_CUSTOMER and policy.pauses_when_waiting
        rows.append(
            FollowUp(
                policy=policy,
                action=policy.action,
                due_at=due_time(policy, anchor),
                state=ST.PAUSED if paused else ST.SCHEDULED,
                marks_breach=policy.marks_breach,
                pauses_when_waiting=policy.pauses_when_waiting,
                reason=policy.name,
            )
        )
    return rows


def _keyed(ticket: Ticket, rows: list[FollowUp], occurrence: str) -> list[FollowUp]:
    for row in rows:
        row.ticket = ticket
        row.dedupe_key = f"{row.policy.code}:{ticket.pk}:{occurrence}"[:120]
    return rows


def schedule(ticket: Ticket, trigger: str, *, anchor, occurrence: str, status: str = "") -> list[FollowUp]:
    """Create the follow-ups that `trigger` calls for. Runs inside the trigger's transaction.

    Idempotent per (policy, ticket, occurrence): the rows are inserted together with ON CONFLICT
    DO NOTHING on their dedupe key, after a look-up of the keys that exist. Returns the rows
    scheduled by this call (unsaved copies: the bulk insert does not return their ids).
    A ticket being created uses plan_for_new_ticket / insert_for_new_ticket instead."""
    rows = _keyed(ticket, _planned(ticket, trigger, anchor, status), occurrence)
    if rows:  # this trigger occurrence may have scheduled them already
        done = set(
            FollowUp.objects.filter(dedupe_key__in=[r.dedupe_key for r in rows]).values_list("dedupe_key", flat=True)
        )
        rows = [r for r in rows if r.dedupe_key not in done]
    if rows:
        FollowUp.objects.bulk_create(rows, ignore_conflicts=True)
        refresh_next_due([ticket])
    return rows


def plan_for_new_ticket(ticket: Ticket, trigger: str, *, anchor) -> list[FollowUp]:
    """schedule() for a ticket not inserted yet, in two halves: the follow-ups `trigger` calls
    for, with the ticket's next due time set from them, so the ticket's own INSERT carries it
    (it has no other follow-ups: no look-up of existing keys, no UPDATE afterwards). Pass the
    rows to insert_for_new_ticket once the ticket is saved, in the same transaction."""
    rows = _planned(ticket, trigger, anchor)
    ticket.next_due_at = min((r.due_at for r in rows if r.state in PENDING_FOLLOWUP_STATES), default=None)
    return rows


def insert_for_new_ticket(ticket: Ticket, rows: list[FollowUp], *, occurrence: str) -> list[FollowUp]:
    rows = _keyed(ticket, rows, occurrence)
    if rows:
        FollowUp.objects.bulk_create(rows)
    return rows


# --- Reactions to ticket changes --------------------------------------------------------------


def on_outcome(ticket: Ticket) -> None:
    """Follow-ups held for an outcome go now (the dispatcher still respects quiet hours); their
    due time stays the promised one, so a message sent after it counts as kept late. The ones an
    outcome makes pointless (the "no outcome yet" alert, a message for outcomes other than this
    one) are skipped at once, so the ticket page does not keep showing them as due."""
    now = calendar.now()
    pending = FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES).select_related("policy")
    for fu in pending:
        conditions = fu.policy.conditions if fu.policy else {}
        wanted = conditions.get("hold_until_outcome_in")
        if conditions.get("skip_if_outcome"):
            fu.state, fu.reason = ST.SKIPPED, "기한 전에 처리 결과가 기록됨"
        elif wanted and ticket.outcome not in wanted:
            fu.state = ST.SKIPPED
            fu.reason = f"처리 결과 '{ticket.kind.outcome_label(ticket.outcome)}'에는 안내하지 않음"
        elif fu.state == ST.HELD:
            fu.state, fu.reason = ST.SCHEDULED, "결과 기록으로 발송 재개"
        else:
            continue
        fu.updated_at = now
        fu.save(update_fields=["state", "reason", "updated_at"])
    refresh_next_due([ticket])


def on_status_change(ticket: Ticket, from_status: str, to_status: str, *, paused_at=None, actor: Actor = SYSTEM):
    pending = FollowUp.objects.filter(ticket=ticket, state__in=PENDING_FOLLOWUP_STATES)
    if to_status in (Status.CLOSED, Status.CANCELLED):
        reason = "티켓 종료로 취소" if to_status == Status.CLOSED else "티켓 취소로 취소"
        count = pending.update(state=ST.CANCELLED, reason=reason, updated_at=calendar.now())
        if count:
            audit.record(ticket, EventType.FOLLOWUP, actor, cancelled=count, reason=reason)
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
