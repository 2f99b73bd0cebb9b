"""Read-side queries: repeat contacts, penalty history, overdue and breached queues."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet, Window
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, LessThanOrEqual

from cstrack import calendar, pii
from cstrack.errors import DomainValidationError
from tickets.followups.ownership import callback_owner_q
from tickets.kinds import behaviours, parking
from tickets.models import OPEN_STATUSES, PENDING_FOLLOWUP_STATES, Action, Board, FollowUp, Ticket, TicketKind

UNASSIGNED = "(미배정)"
# Penalty history and the season-pass month count tickets of every kind that names the behaviour.
PENALTY_KINDS = Q(kind__behaviours__has_key=behaviours.PENALTY_HISTORY)
SEASON_PASS_KINDS = Q(kind__behaviours__has_key=behaviours.SEASON_PASS)


def ticket_list() -> QuerySet:
    return Ticket.objects.select_related("kind", "board", "assignee")


def open_tickets_matching(*, phone: str = "", member_id: str = "", driver_id: str = "", call_id: str = "") -> QuerySet:
    """Open tickets for a repeat contact. The phone is matched through its keyed hash only."""
    terms = lookup_terms(phone=phone, member_id=member_id, driver_id=driver_id, call_id=call_id)
    return tickets_matching(terms).filter(status__in=OPEN_STATUSES)


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


def overdue_rows(ids: list[int], columns: list[str]) -> list[dict]:
    """The queue's rows for these ticket ids, in the ids' order, as plain values of `columns`
    (related columns as `kind__name` and so on): one query, no model instances."""
    rows = {row["id"]: row for row in Ticket.objects.filter(pk__in=ids).values("id", *columns)}
    return [rows[pk] for pk in ids if pk in rows]


def age_condition(bucket: str, now) -> Q:
    """Tickets of the overdue queue in one age bucket (calendar.AGE_BUCKETS), aged from their
    oldest missed due time (or their receipt when no duty is pending)."""
    since = Coalesce("next_due_at", "received_at")
    oldest, newest = calendar.age_bucket_bounds(now)[bucket]
    cond = Q()
    if oldest is not None:
        cond &= Q(GreaterThan(since, oldest))
    if newest is not None:
        cond &= Q(LessThanOrEqual(since, newest))
    return cond


def overdue_head(queue, now, limit: int, *, rows: QuerySet | None = None, total: int | None = None) -> list[Ticket]:
    """The first `limit` tickets of an overdue queue (`overdue_tickets`, maybe narrowed, as of
    `now`) in its order, read as its two disjoint parts: tickets with an overdue duty (their ids
    from an ordered read of `ticket_open_next_due` that stops at `limit`), then breached tickets
    with none (few; skipped when `total`, the queue's length counted now, says the first part
    holds it all). Each part's rows are read by those ids from `rows` (default: `ticket_list()`).
    One query over the `OR` would fetch and sort every overdue ticket's row."""
    rows = (ticket_list() if rows is None else rows).annotate(oldest_due=F("next_due_at"))
    rows = rows.order_by(F("next_due_at").asc(nulls_last=True), "received_at")
    found = list(rows.filter(pk__in=queue.filter(next_due_at__lt=now).values("pk")[:limit]))
    if len(found) < limit and (total is None or total > len(found)):
        rest = queue.filter(breached_at__isnull=False).exclude(next_due_at__lt=now).values("pk")
        found += rows.filter(pk__in=rest[: limit - len(found)])
    return found


def overdue_summary(queryset, now=None) -> dict:
    """Counts by kind, board, assignee and age bucket for a queue (ages from the oldest missed due
    time), computed in the database whatever the queue's length.

    The queue is counted in two disjoint parts, because an OR of the two conditions would make
    PostgreSQL visit one heap page per overdue ticket: tickets with an overdue duty (read from the
    covering index on open tickets' next due time alone) and breached tickets with none (few)."""
    now = now or calendar.now()
    rows = _overdue_groups(queryset, now, "kind__name", "board__name", "assignee__username")
    summary = _summarise(rows, "kind__name", "board__name", "assignee__username")
    summary["as_of"] = now
    return summary


def _overdue_groups(queryset, now, *fields) -> list[dict]:
    base = queryset.order_by()
    parts = [
        base.filter(next_due_at__lt=now),
        base.filter(breached_at__isnull=False).exclude(next_due_at__lt=now),
    ]
    # Only columns the covering index holds (COUNT(id) would send PostgreSQL to the heap).
    counts = {"n": Count("*"), "breached": Count("breached_at")}
    for label in calendar.AGE_BUCKETS:
        counts[label] = Count("received_at", filter=age_condition(label, now))
    # One grouped query per part; the totals are the groups' sums.
    return [row for part in parts for row in part.values(*fields).annotate(**counts).order_by()]


def _summarise(rows, kind: str, board: str, assignee: str) -> dict:
    totals = dict.fromkeys(["total", "breached", *calendar.AGE_BUCKETS], 0)
    by_kind, by_board, by_assignee = {}, {}, {}
    for row in rows:
        totals["total"] += row["n"]
        for key in ("breached", *calendar.AGE_BUCKETS):
            totals[key] += row[key]
        by_kind[row[kind]] = by_kind.get(row[kind], 0) + row["n"]
        by_board[row[board]] = by_board.get(row[board], 0) + row["n"]
        who = row[assignee] or UNASSIGNED
        by_assignee[who] = by_assignee.get(who, 0) + row["n"]
    return {
        "total": totals["total"],
        "breached": totals["breached"],
        "by_kind": by_kind,
        "by_board": by_board,
        "by_assignee": by_assignee,
        "by_age": {bucket: totals[bucket] for bucket in calendar.AGE_BUCKETS},
    }


# --- The shared summary of the whole queue -------------------------------------------------------

ROLLUP_CACHE_KEY = "tickets:overdue-rollup:v1"


def overdue_rollup_refresh(now=None) -> dict:
    """Count the whole overdue queue once, grouped by kind, board, assignee and breached or not,
    and keep it in the cache for `overdue_summary_shared`. Run by beat every minute, and by a
    request that finds no fresh copy. Costs what `overdue_summary` costs (it grows with the
    overdue tickets); the readers' cost does not."""
    now = now or calendar.now()
    queue = Ticket.objects.filter(status__in=OPEN_STATUSES).annotate(
        is_breached=ExpressionWrapper(Q(breached_at__isnull=False), output_field=BooleanField())
    )
    groups = _overdue_groups(queue, now, "kind_id", "board_id", "assignee_id", "is_breached")
    kinds = {pk: (code, name) for pk, code, name in TicketKind.objects.values_list("pk", "code", "name")}
    boards = {pk: (code, name) for pk, code, name in Board.objects.values_list("pk", "code", "name")}
    assignees = {row["assignee_id"] for row in groups} - {None}
    users = dict(get_user_model().objects.filter(pk__in=assignees).values_list("pk", "username")) if assignees else {}
    rows = []
    for row in groups:
        kind, board = kinds[row.pop("kind_id")], boards[row.pop("board_id")]
        who = users.get(row.pop("assignee_id"))
        rows.append(
            {**row, "kind": kind[0], "kind_name": kind[1], "board": board[0], "board_name": board[1], "who": who}
        )
    rollup = {"as_of": now.isoformat(), "rows": rows}
    cache.set(ROLLUP_CACHE_KEY, rollup, timeout=max(60, 2 * _rollup_max_age()))
    return rollup


def _rollup_max_age() -> int:
    return int(getattr(settings, "QUEUE_SUMMARY_MAX_AGE_SECONDS", 60))


def overdue_summary_shared(now=None, *, kind: str = "", board: str = "", breached_only: bool = False) -> dict | None:
    """The summary of the whole queue (optionally one kind's, one board's, or its breached
    tickets'), as `overdue_summary` gives it, read from the shared rollup: a constant cost
    whatever the queue's length. The counts are as of the rollup's time (`as_of`, at most
    QUEUE_SUMMARY_MAX_AGE_SECONDS old; the ages are counted at that time); an older or missing
    rollup is counted afresh. None when the setting is 0 (always count live)."""
    max_age = _rollup_max_age()
    if max_age <= 0:
        return None
    now = now or calendar.now()
    rollup = cache.get(ROLLUP_CACHE_KEY)
    as_of = datetime.fromisoformat(rollup["as_of"]) if rollup else None
    if as_of is None or not (0 <= (now - as_of).total_seconds() <= max_age):
        rollup = overdue_rollup_refresh(now)
        as_of = now
    rows = [
        row
        for row in rollup["rows"]
        if (not kind or row["kind"] == kind)
        and (not board or row["board"] == board)
        and (not breached_only or row["is_breached"])
    ]
    summary = _summarise(rows, "kind_name", "board_name", "who")
    summary["as_of"] = as_of
    return summary


def callbacks_due_for(user, *, until=None) -> QuerySet:
    """Call-back duties on tickets the user owns (or created, if unassigned) due by `until`.

    By default: everything due by today's closing time, and everything already due when the
    agent looks after closing or on a day off (a duty due at 20:00 on a Sunday is not
    hidden because Sunday's nominal closing time has passed)."""
    if until is None:
        now = calendar.now()
        until = max(calendar.end_of_business_day(calendar.kst_date(now)), now)
    return my_callbacks(user).filter(due_at__lte=until)


def my_callbacks(user) -> QuerySet:
    """Every pending call-back duty the user owns (tickets.followups.ownership), soonest first."""
    return (
        FollowUp.objects.filter(action=Action.CALL_BACK, state__in=PENDING_FOLLOWUP_STATES)
        .filter(callback_owner_q(user))
        .select_related("ticket", "ticket__kind", "policy")
        .order_by("due_at", "id")
    )


# --- Search and a person's history ---------------------------------------------------------------

# What a search term or a repeat-contact lookup matched, in the words staff use.
MATCH_LABELS = {
    "reference": "접수 번호",
    "phone": "전화번호",
    "member_id": "회원 ID",
    "driver_id": "기사 ID",
    "call_id": "콜 ID",
    "vehicle_plate": "차량 번호",
}
PERSON_KEYS = ("phone", "member_id", "driver_id")


def _phone_hash(raw: str) -> str:
    """The keyed hash of a number, or "" when the text is not a phone number."""
    if not raw or sum(ch.isdigit() for ch in raw) < 9:
        return ""
    try:
        return pii.phone_index(raw)
    except DomainValidationError:
        return ""


def plate_variants(raw: str) -> list[str]:
    """A vehicle plate as typed and without spaces ("12가 3456" and "12가3456")."""
    text = (raw or "").strip()
    return list(dict.fromkeys([text, text.replace(" ", "")])) if text else []


def lookup_terms(
    *, text: str = "", phone: str = "", member_id: str = "", driver_id: str = "", call_id: str = ""
) -> dict:
    """The conditions a search box or the repeat-contact lookup stands for: `text` may be any of
    reference, phone, member ID, driver ID, call ID or plate; the named arguments are exactly
    that field. The phone becomes its keyed hash here and is not kept."""
    terms = {}
    text = (text or "").strip()
    if text and (phone_hash := _phone_hash(text)):
        terms["phone"] = phone_hash  # a number is looked up by its hash alone, never as plain text
    elif text:
        terms["reference"] = text.upper()
        for field in ("member_id", "driver_id", "call_id"):
            terms[field] = text
        terms["vehicle_plate"] = plate_variants(text)
    if phone_hash := _phone_hash(phone):
        terms["phone"] = phone_hash
    for field, value in (("member_id", member_id), ("driver_id", driver_id), ("call_id", call_id)):
        if value and value.strip():
            terms[field] = value.strip()
    return terms


def _terms_q(terms: dict) -> Q:
    q = Q()
    for field, value in terms.items():
        if field == "phone":
            q |= Q(customer_phone_hash=value)
        elif field == "vehicle_plate":
            q |= Q(vehicle_plate__in=value)
        else:
            q |= Q(**{field: value})
    return q


def tickets_matching(terms: dict) -> QuerySet:
    """Open and closed tickets matching any of `terms` (see lookup_terms), newest first. Every
    condition is an equality on an indexed column (the phone through its keyed hash)."""
    if not terms:
        return Ticket.objects.none()
    return ticket_list().filter(_terms_q(terms)).order_by("-received_at", "-id")


def matched_on(ticket: Ticket, terms: dict) -> list[str]:
    """Which of `terms` this ticket matched (keys of MATCH_LABELS)."""
    found = []
    for field, value in terms.items():
        if field == "phone":
            hit = ticket.customer_phone_hash == value
        elif field == "vehicle_plate":
            hit = ticket.vehicle_plate in value
        else:
            hit = getattr(ticket, field) == value
        if hit:
            found.append(field)
    return found


def person_tickets(key: str, value: str) -> QuerySet:
    """Every ticket of one person: by the keyed hash of their number, a member ID or a driver ID."""
    if key not in PERSON_KEYS or not value:
        return Ticket.objects.none()
    field = "customer_phone_hash" if key == "phone" else key
    return ticket_list().filter(**{field: value}).order_by("-received_at", "-id")


def person_history(tickets: list) -> tuple[list, list]:
    """For these tickets: their re-contact, outcome and status events and their follow-ups with
    the message each sent (two queries)."""
    from tickets.models import EventType, TicketEvent

    ids = [t.pk for t in tickets]
    events = list(
        TicketEvent.objects.filter(
            ticket_id__in=ids,
            type__in=[EventType.RECONTACT, EventType.OUTCOME, EventType.TRANSITIONED, EventType.BREACHED],
        ).order_by("-at", "-id")
    )
    followups = list(
        FollowUp.objects.filter(ticket_id__in=ids).select_related("message", "message__template").order_by("-due_at")
    )
    return events, followups


def tickets_for_messages(messages) -> dict:
    """{message id: ticket reference} for outbox messages sent for a ticket: a follow-up's message,
    or a webhook delivery of one of its events (two queries at most)."""
    from tickets.models import TicketEvent
    from tickets.webhooks import KEY_PREFIX

    ids = [m.pk for m in messages]
    found = dict(FollowUp.objects.filter(message_id__in=ids).values_list("message_id", "ticket__reference"))
    event_ids = {}
    for m in messages:
        parts = (m.idempotency_key or "").split(":")
        if m.pk not in found and len(parts) == 3 and parts[0] == KEY_PREFIX and parts[2].isdigit():
            event_ids[int(parts[2])] = m.pk
    if event_ids:
        for event_id, reference in TicketEvent.objects.filter(pk__in=event_ids).values_list("pk", "ticket__reference"):
            found[event_ids[event_id]] = reference
    return found
