"""Promises kept: the figures of the supervisor's report, the morning digest and the API.

Every figure is defined once in docs/reports.md and computed here, set-based: one grouped query
for the promises, one for the late ones' lateness, one for first-contact resolution, whatever
the number of tickets. Callers pass the tickets the viewer may see (the access policy decides).

A **promise** is a follow-up duty (a `FollowUp` row that is not a deadline check: customer
message, call back, owner reminder, ...). Its deadline is its `due_at` (moved only by a pause of
the clock or by a supervisor's audited reschedule). It belongs to the period of its deadline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet

from cstrack import calendar
from cstrack.errors import DomainValidationError
from tickets.models import Action, FollowUp, FollowUpState, ReContact, Ticket

ST = FollowUpState
GROUPS = ("none", "kind", "board", "owner", "promise")
FIGURES = ("made", "on_time", "late", "broken", "pending", "released")
UNASSIGNED = "(미배정)"

# What each group key reads: (value column, label column) through the follow-up row.
_GROUP_COLUMNS = {
    "kind": ("ticket__kind__code", "ticket__kind__name"),
    "board": ("ticket__board__code", "ticket__board__name"),
    "owner": ("ticket__assignee__username", "ticket__assignee__username"),
    "promise": ("policy__code", "policy__name"),
}
# The same keys for first-contact resolution, read from the ticket itself.
_TICKET_GROUP_COLUMNS = {
    "kind": ("kind__code", "kind__name"),
    "board": ("board__code", "board__name"),
    "owner": ("assignee__username", "assignee__username"),
}


def figure_conditions(as_of: datetime) -> dict[str, Q]:
    """Each figure as a condition on a follow-up row, as of `as_of` (see docs/reports.md)."""
    overdue = Q(state__in=[ST.SCHEDULED, ST.HELD], due_at__lt=as_of)
    return {
        "made": Q(),
        "on_time": Q(state=ST.DONE) & (Q(completed_at__isnull=True) | Q(completed_at__lte=F("due_at"))),
        "late": Q(state=ST.DONE, completed_at__gt=F("due_at")),
        "broken": overdue | Q(state=ST.FAILED) | Q(state=ST.CANCELLED, updated_at__gt=F("due_at")),
        "pending": Q(state=ST.PAUSED) | Q(state__in=[ST.SCHEDULED, ST.HELD], due_at__gte=as_of),
        "released": Q(state=ST.SKIPPED) | Q(state=ST.CANCELLED, updated_at__lte=F("due_at")),
    }


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers. `first`/`last` are KST dates (inclusive)."""

    first: date
    last: date
    period: str = "week"
    group_by: str = "none"
    kind: str = ""
    board: str = ""
    owner: str = ""  # a username; "-" for unassigned
    promise: str = ""  # a follow-up policy code

    def __post_init__(self):
        if self.period not in calendar.PERIODS:
            raise ValueError(f"unknown period {self.period!r}")
        if self.group_by not in GROUPS:
            raise ValueError(f"unknown group {self.group_by!r}")
        if self.first > self.last:
            raise ValueError("first must not be after last")

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """From the start of the first period to the end of the last (whole periods)."""
        first = calendar.period_start(self.first, self.period)
        return calendar.period_bounds(first, self.period)[0], calendar.period_bounds(self.last, self.period)[1]


@dataclass
class Row:
    period_start: date | None
    group: str
    group_label: str
    made: int = 0
    on_time: int = 0
    late: int = 0
    broken: int = 0
    pending: int = 0
    released: int = 0
    late_seconds: list = field(default_factory=list, repr=False)
    tickets: int | None = None
    first_contact: int | None = None

    @property
    def decided(self) -> int:
        return self.on_time + self.late + self.broken

    @property
    def on_time_rate(self) -> float | None:
        return round(self.on_time / self.decided, 4) if self.decided else None

    @property
    def late_median_minutes(self) -> float | None:
        return _minutes(percentile(self.late_seconds, 50))

    @property
    def late_p90_minutes(self) -> float | None:
        return _minutes(percentile(self.late_seconds, 90))

    @property
    def first_contact_rate(self) -> float | None:
        return round(self.first_contact / self.tickets, 4) if self.tickets else None

    def as_dict(self) -> dict:
        return {
            "period_start": self.period_start,
            "group": self.group,
            "group_label": self.group_label,
            **{name: getattr(self, name) for name in FIGURES},
            "on_time_rate": self.on_time_rate,
            "late_median_minutes": self.late_median_minutes,
            "late_p90_minutes": self.late_p90_minutes,
            "tickets": self.tickets,
            "first_contact": self.first_contact,
            "first_contact_rate": self.first_contact_rate,
        }


@dataclass
class Report:
    filter: ReportFilter
    as_of: datetime
    rows: list[Row]
    totals: Row
    trend: list[Row]  # one row per period, all groups together (the chart)


def percentile(values: list, pct: int) -> float | None:
    """Nearest-rank percentile (the median of [1, 2, 3, 4] is 2): a value that occurred."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]


def _minutes(seconds) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def promises(tickets: QuerySet | None = None) -> QuerySet:
    """Every promise (duty row) on the given tickets (all tickets if None)."""
    qs = FollowUp.objects.filter(marks_breach=False, ticket__isnull=False)
    qs = qs.exclude(action__in=NOT_PROMISES)
    if tickets is not None:
        qs = qs.filter(ticket__in=tickets.values("pk"))
    return qs


# Deadline checks (alerts, escalations) watch promises; they are not promises themselves.
NOT_PROMISES = (Action.ALERT_SUPERVISOR, Action.ESCALATE)


def _filtered(qs: QuerySet, f: ReportFilter, prefix: str = "") -> QuerySet:
    if f.kind:
        qs = qs.filter(**{f"{prefix}kind__code": f.kind})
    if f.board:
        qs = qs.filter(**{f"{prefix}board__code": f.board})
    if f.owner == "-":
        qs = qs.filter(**{f"{prefix}assignee__isnull": True})
    elif f.owner:
        qs = qs.filter(**{f"{prefix}assignee__username": f.owner})
    return qs


def promise_rows(f: ReportFilter, tickets: QuerySet | None = None) -> QuerySet:
    """The promises a report with filter `f` counts (deadline inside its periods)."""
    start, end = f.bounds
    qs = _filtered(promises(tickets), f, "ticket__").filter(due_at__gte=start, due_at__lt=end)
    if f.promise:
        qs = qs.filter(policy__code=f.promise)
    return qs


def promise_report(f: ReportFilter, tickets: QuerySet | None = None, *, as_of: datetime | None = None) -> Report:
    """The figures per period and group, the totals and the weekly/daily/monthly trend."""
    as_of = as_of or calendar.now()
    conditions = figure_conditions(as_of)
    base = promise_rows(f, tickets).annotate(bucket=calendar.trunc_period("due_at", f.period))
    value_col, label_col = _GROUP_COLUMNS.get(f.group_by, (None, None))
    keys = ["bucket"] + ([value_col, label_col] if value_col else [])
    counts = {name: Count("id", filter=cond) for name, cond in conditions.items()}
    rows: dict[tuple, Row] = {}

    def row_for(bucket, value, label) -> Row:
        key = (bucket, value or "")
        if key not in rows:
            text = label or ("" if f.group_by == "none" else UNASSIGNED if f.group_by == "owner" else "—")
            rows[key] = Row(period_start=bucket, group=value or "", group_label=text)
        return rows[key]

    for rec in base.values(*keys).annotate(**counts).order_by():
        row = row_for(rec["bucket"], rec.get(value_col), rec.get(label_col) if label_col else "")
        for name in FIGURES:
            setattr(row, name, rec[name])
    # The late ones' lateness, computed in the database (one duration per late promise).
    lateness = ExpressionWrapper(F("completed_at") - F("due_at"), output_field=DurationField())
    late = base.filter(conditions["late"]).annotate(lateness=lateness).values_list(*keys, "lateness").order_by()
    for rec in late:
        bucket, value, label = rec[0], (rec[1] if value_col else None), (rec[2] if value_col else "")
        row_for(bucket, value, label).late_seconds.append(rec[-1].total_seconds())
    if f.group_by != "promise" and not f.promise:
        _first_contact(f, tickets, rows, row_for)

    ordered = sorted(rows.values(), key=lambda r: (r.period_start, r.group_label))
    trend = {
        s: Row(period_start=s, group="", group_label="") for s in calendar.period_starts(f.first, f.last, f.period)
    }
    totals = Row(period_start=None, group="", group_label="")
    for row in ordered:
        for target in (trend.setdefault(row.period_start, Row(row.period_start, "", "")), totals):
            _add(target, row)
    return Report(filter=f, as_of=as_of, rows=ordered, totals=totals, trend=list(trend.values()))


def _add(target: Row, row: Row) -> None:
    for name in FIGURES:
        setattr(target, name, getattr(target, name) + getattr(row, name))
    target.late_seconds.extend(row.late_seconds)
    if row.tickets is not None:
        target.tickets = (target.tickets or 0) + row.tickets
        target.first_contact = (target.first_contact or 0) + row.first_contact


def tickets_received(f: ReportFilter, tickets: QuerySet | None = None) -> QuerySet:
    """Tickets received in the report's periods (the first-contact resolution base)."""
    start, end = f.bounds
    qs = (tickets if tickets is not None else Ticket.objects.all()).filter(received_at__gte=start, received_at__lt=end)
    return _filtered(qs, f)


def _first_contact(f: ReportFilter, tickets, rows, row_for) -> None:
    """Tickets received per period and group, and those with no re-contact logged."""
    value_col, label_col = _TICKET_GROUP_COLUMNS.get(f.group_by, (None, None))
    keys = ["bucket"] + ([value_col, label_col] if value_col else [])
    recontacted = Exists(ReContact.objects.filter(ticket=OuterRef("pk")))
    qs = (
        tickets_received(f, tickets)
        .annotate(bucket=calendar.trunc_period("received_at", f.period))
        .values(*keys)
        .annotate(n=Count("id"), first=Count("id", filter=~Q(recontacted)))
        .order_by()
    )
    for rec in qs:
        row = row_for(rec["bucket"], rec.get(value_col), rec.get(label_col) if label_col else "")
        row.tickets, row.first_contact = rec["n"], rec["first"]
    for row in rows.values():
        if row.tickets is None:
            row.tickets, row.first_contact = 0, 0


def drill_down(
    f: ReportFilter,
    figure: str,
    tickets: QuerySet | None = None,
    *,
    period_start: date | None = None,
    group: str | None = None,
    as_of: datetime | None = None,
) -> QuerySet:
    """The promises behind one number of the report: `figure` in the period starting on
    `period_start` (all periods if None) for the group value `group` (all groups if None)."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}")
    qs = promise_rows(f, tickets).filter(figure_conditions(as_of or calendar.now())[figure])
    if period_start is not None:
        start, end = calendar.period_bounds(period_start, f.period)
        qs = qs.filter(due_at__gte=start, due_at__lt=end)
    if group is not None and f.group_by in _GROUP_COLUMNS:
        column = _GROUP_COLUMNS[f.group_by][0]
        qs = qs.filter(**({f"{column}__isnull": True} if group in ("", "-") else {column: group}))
    return qs.select_related("ticket", "ticket__kind", "ticket__board", "ticket__assignee", "policy")


def lateness_minutes(promise: FollowUp) -> float | None:
    """How late a kept promise was (None if on time or not kept)."""
    if promise.state != ST.DONE or promise.completed_at is None or promise.completed_at <= promise.due_at:
        return None
    return _minutes(calendar.elapsed(promise.due_at, promise.completed_at).total_seconds())


MAX_RANGE_DAYS = 731  # two years: a year's weekly report, and last year's for comparison
FILTER_PARAMS = ("period", "from", "to", "group_by", "kind", "board", "owner", "promise")


def filter_from_params(params, now: datetime | None = None) -> ReportFilter:
    """A ReportFilter from query parameters (the console's and the API's, the same names):
    period (day|week|month, default week), from/to (KST dates, default the last 12 periods),
    group_by, kind, board, owner (username, "-" = unassigned), promise (rule code).
    Bad values raise DomainValidationError naming the parameter."""

    def get(name):
        return (params.get(name) or "").strip()

    errors = {}
    period = get("period") or "week"
    if period not in calendar.PERIODS:
        errors["period"] = [f"다음 중 하나여야 합니다: {', '.join(calendar.PERIODS)}"]
        period = "week"
    group_by = get("group_by") or "none"
    if group_by not in GROUPS:
        errors["group_by"] = [f"다음 중 하나여야 합니다: {', '.join(GROUPS)}"]
    default_first, default_last = calendar.default_report_range(now or calendar.now(), period)
    dates = {}
    for name, default in (("from", default_first), ("to", default_last)):
        raw = get(name)
        try:
            dates[name] = date.fromisoformat(raw) if raw else default
        except ValueError:
            errors[name] = ["YYYY-MM-DD 형식의 날짜여야 합니다."]
            dates[name] = default
    if not errors and dates["from"] > dates["to"]:
        errors["from"] = ["시작일이 종료일보다 늦습니다."]
    elif not errors and (dates["to"] - dates["from"]).days > MAX_RANGE_DAYS:
        errors["from"] = [f"기간은 {MAX_RANGE_DAYS}일 이내로 골라 주세요."]
    texts = {name: get(name)[:100] for name in ("kind", "board", "owner", "promise")}
    if errors:
        raise DomainValidationError(errors)
    return ReportFilter(first=dates["from"], last=dates["to"], period=period, group_by=group_by, **texts)


def drill_params(params) -> tuple[str, date | None, str | None]:
    """(figure, period start, group) of a drill-down request; bad values raise
    DomainValidationError."""
    figure = (params.get("figure") or "").strip()
    errors = {}
    if figure not in FIGURES:
        errors["figure"] = [f"다음 중 하나여야 합니다: {', '.join(FIGURES)}"]
    start = None
    raw = (params.get("period_start") or "").strip()
    if raw:
        try:
            start = date.fromisoformat(raw)
        except ValueError:
            errors["period_start"] = ["YYYY-MM-DD 형식의 날짜여야 합니다."]
    group = params.get("group")
    if errors:
        raise DomainValidationError(errors)
    return figure, start, (group.strip()[:100] if group is not None else None)
