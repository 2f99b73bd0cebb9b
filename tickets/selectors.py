"""Read-side queries: repeat contacts, penalty history, overdue and breached queues."""

from contextlib import suppress

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, LessThanOrEqual

from cstrack import calendar, pii
from cstrack.errors import DomainValidationError
from tickets.kinds import behaviours, parking
from tickets.models import OPEN_STATUSES, PENDING_FOLLOWUP_STATES, Action, FollowUp, Ticket

UNASSIGNED = "(미배정)"
# Penalty history and the season-pass month count tickets of every kind that names the behaviour.
PENALTY_KINDS = Q(kind__behaviours__has_key=behaviours.PENALTY_HISTORY)
SEASON_PASS_KINDS = Q(kind__behaviours__has_key=behaviours.SEASON_PASS)


def ticket_list() -> QuerySet:
    return Ticket.objects.select_related("kind", "board", "assignee")


def open_tickets_matching(*, phone: str = "", member_id: str = "", driver_id: str = "", call_id: str = "") -> QuerySet:
    """Open tickets for a repeat contact. The phone is matched through its keyed hash only."""
    q = Q()
    if phone:
        with suppress(DomainValidationError):  # a half-typed number matches nothing
            q |= Q(customer_phone_hash=pii.phone_index(phone))
    for field, value in (("member_id", member_id), ("driver_id", driver_id), ("call_id", call_id)):
        if value and value.strip():
            q |= Q(**{field: value.strip()})
    if not q:
        return Ticket.objects.none()
    return ticket_list().filter(q, status__in=OPEN_STATUSES).order_by("-received_at")


def driver_penalty_counts(driver_id: str) -> dict:
    """How many penalty requests name this driver in the last 30 and 90 days (for whoever decides)."""
    if not driver_id:
        return {"30d": 0, "90d": 0, "total": 0}
    now = calendar.now()
    counts = Ticket.objects.filter(PENALTY_KINDS, driver_id=driver_id).aggregate(
        d30=Count("id", filter=Q(received_at__gte=calendar.days_ago(now, 30))),
        d90=Count("id", filter=Q(received_at__gte=calendar.days_ago(now, 90))),
        total=Count("id"),
    )
    return {"30d": counts["d30"], "90d": counts["d90"], "total": counts["total"]}


def driver_penalty_history_with_counts(driver_id: str, limit: int = 20) -> tuple[list, dict]:
    """The history and the counts in one query: the counts are window aggregates over every
    penalty request of the driver, computed before the LIMIT (the ticket page's query budget)."""
    now = calendar.now()
    rows = list(
        ticket_list()
        .filter(PENALTY_KINDS, driver_id=driver_id)
        .annotate(
            n_total=Window(Count("id")),
            n_30d=Window(Count("id", filter=Q(received_at__gte=calendar.days_ago(now, 30)))),
            n_90d=Window(Count("id", filter=Q(received_at__gte=calendar.days_ago(now, 90)))),
        )
        .order_by("-received_at")[:limit]
    )
    if not rows:
        return [], {"30d": 0, "90d": 0, "total": 0}
    return rows, {"30d": rows[0].n_30d, "90d": rows[0].n_90d, "total": rows[0].n_total}


def driver_penalty_history(driver_id: str, limit: int = 20) -> QuerySet:
    return ticket_list().filter(PENALTY_KINDS, driver_id=driver_id).order_by("-received_at")[:limit]


def season_pass_month_tickets(ticket: Ticket) -> QuerySet:
    """Season-pass tickets of the same customer (member ID or phone) in the ticket's KST month."""
    start, end = calendar.month_bounds(ticket.received_at)
    same_customer = Q(pk=ticket.pk)
    if ticket.member_id:
        same_customer |= Q(member_id=ticket.member_id)
    if ticket.customer_phone_hash:
        same_customer |= Q(customer_phone_hash=ticket.customer_phone_hash)
    return Ticket.objects.filter(same_customer, SEASON_PASS_KINDS, received_at__gte=start, received_at__lt=end)


def season_pass_coupon_status(ticket: Ticket) -> parking.CouponStatus:
    """Coupon eligibility for a season-pass ticket: same customer (member ID or phone), same month."""
    month = season_pass_month_tickets(ticket)
    occurrences = month.filter(received_at__lte=ticket.received_at, details__cause="operator_missing").count()
    if ticket.details.get("cause") != "operator_missing":
        occurrences = month.filter(received_at__lte=ticket.received_at).count()
    coupons = month.filter(compensation_krw__gt=0).count()
    return parking.coupon_status(
        cause=ticket.details.get("cause", ""), occurrences_this_month=occurrences, coupons_this_month=coupons
    )


def season_pass_refund(ticket: Ticket) -> int | None:
    d = ticket.details
    if not all(k in d for k in ("pass_paid_amount", "pass_usable_days", "pass_used_days")):
        return None
    return parking.refund_amount(
        paid=d["pass_paid_amount"], usable_days=d["pass_usable_days"], used_days=d["pass_used_days"]
    )


def overdue_followups(now=None) -> QuerySet:
    """Pending duties whose time has passed (call backs not done, messages held or not yet sent)."""
    now = now or calendar.now()
    return FollowUp.objects.filter(state__in=PENDING_FOLLOWUP_STATES, due_at__lt=now, ticket__status__in=OPEN_STATUSES)


def overdue_tickets(now=None) -> QuerySet:
    """Open tickets that are breached or have an overdue duty, oldest promise first.

    Driven by the tickets' own `next_due_at` (kept by the follow-up engine) and two partial
    indexes (open tickets by next due time; breached tickets): a range scan, whatever the
    number of tickets stored. `oldest_due` is the earliest pending due time.
    """
    now = now or calendar.now()
    return (
        ticket_list()
        .filter(status__in=OPEN_STATUSES)
        .filter(Q(next_due_at__lt=now) | Q(breached_at__isnull=False))
        .annotate(oldest_due=F("next_due_at"))
        .order_by(F("next_due_at").asc(nulls_last=True), "received_at")
    )


def overdue_summary(queryset, now=None) -> dict:
    """Counts by kind, board, assignee and age bucket for a queue (ages from the oldest missed due
    time), computed in the database whatever the queue's length.

    The queue is counted in two disjoint parts, because an OR of the two conditions would make
    PostgreSQL visit one heap page per overdue ticket: tickets with an overdue duty (read from the
    covering index on open tickets' next due time alone) and breached tickets with none (few)."""
    now = now or calendar.now()
    base = queryset.order_by()
    parts = [
        base.filter(next_due_at__lt=now),
        base.filter(breached_at__isnull=False).exclude(next_due_at__lt=now),
    ]
    since = Coalesce("next_due_at", "received_at")
    # Only columns the covering index holds (COUNT(id) would send PostgreSQL to the heap).
    counts = {"n": Count("*"), "breached": Count("breached_at")}
    for label, (oldest, newest) in calendar.age_bucket_bounds(now).items():
        cond = Q()
        if oldest is not None:
            cond &= Q(GreaterThan(since, oldest))
        if newest is not None:
            cond &= Q(LessThanOrEqual(since, newest))
        counts[label] = Count("received_at", filter=cond)
    totals = dict.fromkeys(["total", "breached", *calendar.AGE_BUCKETS], 0)
    by_kind, by_board, by_assignee = {}, {}, {}
    for part in parts:  # one grouped query per part; the totals are the groups' sums
        for row in part.values("kind__name", "board__name", "assignee__username").annotate(**counts).order_by():
            totals["total"] += row["n"]
            for key in ("breached", *calendar.AGE_BUCKETS):
                totals[key] += row[key]
            by_kind[row["kind__name"]] = by_kind.get(row["kind__name"], 0) + row["n"]
            by_board[row["board__name"]] = by_board.get(row["board__name"], 0) + row["n"]
            who = row["assignee__username"] or UNASSIGNED
            by_assignee[who] = by_assignee.get(who, 0) + row["n"]
    return {
        "total": totals["total"],
        "breached": totals["breached"],
        "by_kind": by_kind,
        "by_board": by_board,
        "by_assignee": by_assignee,
        "by_age": {bucket: totals[bucket] for bucket in calendar.AGE_BUCKETS},
    }


def callbacks_due_for(user, *, until=None) -> QuerySet:
    """Call-back duties on tickets the user owns (or created, if unassigned) due by `until`.

    By default: everything due by today's closing time, and everything already due when the
    agent looks after closing or on a day off (a duty due at 20:00 on a Sunday is not
    hidden because Sunday's nominal closing time has passed)."""
    if until is None:
        now = calendar.now()
        until = max(calendar.end_of_business_day(calendar.kst_date(now)), now)
    return (
        FollowUp.objects.filter(action=Action.CALL_BACK, state__in=PENDING_FOLLOWUP_STATES, due_at__lte=until)
        .filter(Q(ticket__assignee=user) | Q(ticket__assignee__isnull=True, ticket__created_by=user))
        .select_related("ticket", "ticket__kind")
        .order_by("due_at")
    )
