"""The supervisor's promise report: filters, a per-period trend chart (server-rendered SVG),
the figures table whose every number drills down to the promises behind it, CSV exports.
The figures and their definitions are `tickets.reports.promises` (docs/reports.md); the
tickets counted are those the access policy lets the viewer see."""

import csv
from urllib.parse import urlencode

from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from cstrack import calendar
from cstrack.errors import DomainValidationError
from tickets.reports import promises as report

from ..access import policy as access
from ..models import Action, Board, FollowUpPolicy, TicketKind
from . import present, queries
from .access import requires
from .views import page

DRILL_LIMIT = 200
PERIOD_LABELS = {"day": _lazy("일별"), "week": _lazy("주별"), "month": _lazy("월별")}
GROUP_LABELS = {
    "none": _lazy("묶지 않음"),
    "kind": _lazy("유형별"),
    "board": _lazy("게시판별"),
    "owner": _lazy("담당자별"),
    "promise": _lazy("약속 종류별"),
}
FIGURE_LABELS = {
    "made": _lazy("약속"),
    "on_time": _lazy("기한 내 이행"),
    "late": _lazy("늦은 이행"),
    "broken": _lazy("불이행"),
    "pending": _lazy("진행 중"),
    "released": _lazy("해제"),
}
CHART_COLOURS = {"on_time": "#2e7d32", "late": "#e0a100", "broken": "#c0392b"}


def _scope(user):
    return None if access.is_unrestricted(user) else access.visible_tickets(user)


def _rate(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _minutes(value) -> str:
    if value is None:
        return "—"
    if value < 120:
        return _("%(n)s분") % {"n": f"{value:g}"}
    return _("%(n)s시간") % {"n": f"{value / 60:.1f}"}


def _period_label(start, period) -> str:
    if start is None:
        return str(_("합계"))
    if period == "month":
        return f"{start:%Y-%m}"
    if period == "week":
        return _("%(date)s 주") % {"date": f"{start:%m-%d}"}
    return f"{start:%m-%d}"


def _filter_values(f: report.ReportFilter | None, params) -> dict:
    names = report.FILTER_PARAMS
    if f is None:
        return {n: (params.get(n) or "").strip() for n in names}
    return {
        "period": f.period,
        "from": f.first.isoformat(),
        "to": f.last.isoformat(),
        "group_by": f.group_by,
        "kind": f.kind,
        "board": f.board,
        "owner": f.owner,
        "promise": f.promise,
    }


def _cells(row, f, base_query) -> list[dict]:
    """The row's numbers, each with the link to the promises behind it."""
    cells = []
    for name in report.FIGURES:
        drill = {"figure": name, "group": row.group if f.group_by != "none" else ""}
        if row.period_start is not None:
            drill["period_start"] = row.period_start.isoformat()
        if f.group_by == "none":
            drill.pop("group")
        cells.append({"name": name, "value": getattr(row, name), "href": f"?{base_query}&{urlencode(drill)}#drill"})
    return cells


def _row_view(row, f, base_query) -> dict:
    return {
        "period": _period_label(row.period_start, f.period),
        "group": row.group_label,
        "cells": _cells(row, f, base_query),
        "rate": _rate(row.on_time_rate),
        "median": _minutes(row.late_median_minutes),
        "p90": _minutes(row.late_p90_minutes),
        "fcr": _rate(row.first_contact_rate) if row.tickets is not None else "—",
        "tickets": row.tickets,
    }


def trend_chart(trend, period, *, width=680, height=240):
    """Stacked bars per period (kept on time, kept late, broken) for the server-rendered SVG, on
    the scale and slots of the console's bar chart."""
    series = [(r.period_start, r.on_time + r.late + r.broken) for r in trend]
    chart = queries.chart_geometry(series, width=width, height=height, pad_left=40, pad_bottom=40)
    every = max(1, round(len(trend) / 12))  # at most about twelve axis labels
    for i, (bar, r) in enumerate(zip(chart["bars"], trend, strict=True)):
        y, parts = chart["baseline"], []
        for name in ("on_time", "late", "broken"):
            h = bar["h"] * getattr(r, name) / bar["count"] if bar["count"] else 0
            y -= h
            parts.append({"y": round(y, 1), "h": round(h, 1), "fill": CHART_COLOURS[name]})
        bar["parts"] = parts
        bar["label"] = _period_label(r.period_start, period) if i % every == 0 else ""
        bar["title"] = _("%(period)s: 기한 내 %(on_time)s, 늦음 %(late)s, 불이행 %(broken)s, 이행률 %(rate)s") % {
            "period": _period_label(r.period_start, period),
            "on_time": r.on_time,
            "late": r.late,
            "broken": r.broken,
            "rate": _rate(r.on_time_rate),
        }
    return {**chart, "legend_y": height - 6, "colours": CHART_COLOURS}


def _choices():
    promises = FollowUpPolicy.objects.filter(marks_breach=False).exclude(action__in=report.NOT_PROMISES)
    return {
        "kinds": list(TicketKind.objects.all()),
        "boards": list(Board.objects.all()),
        "owners": list(queries.staff_users()),
        "promises": list(promises.order_by("name")),
        "periods": list(PERIOD_LABELS.items()),
        "groups": list(GROUP_LABELS.items()),
    }


def _drill_rows(qs, limit=DRILL_LIMIT):
    rows = []
    for fu in qs[:limit] if limit else qs.iterator(chunk_size=2000):
        rows.append(
            {
                "reference": fu.ticket.reference,
                "kind": fu.ticket.kind.name,
                "board": fu.ticket.board.name,
                "owner": fu.ticket.assignee.get_username() if fu.ticket.assignee else report.UNASSIGNED,
                "promise": fu.policy.name if fu.policy else Action(fu.action).label,
                "state": fu.get_state_display(),
                "due": present.when(fu.due_at),
                "completed": present.when(fu.completed_at),
                "late": _minutes(report.lateness_minutes(fu)),
            }
        )
    return rows


@requires("view_followup_queues")
def promise_report(request):
    context = {"errors": {}, **_choices()}
    try:
        f = report.filter_from_params(request.GET)
    except DomainValidationError as exc:
        context.update(filters=_filter_values(None, request.GET), errors=exc.field_errors)
        return page(request, "console/reports/promises.html", context, status=400)
    scope = _scope(request.user)
    result = report.promise_report(f, scope)
    values = _filter_values(f, request.GET)
    base_query = urlencode(values)
    context.update(
        filters=values,
        query=base_query,
        totals=_row_view(result.totals, f, base_query),
        totals_raw=result.totals,
        rows=[_row_view(r, f, base_query) for r in result.rows],
        chart=trend_chart(result.trend, f.period),
        period_label=PERIOD_LABELS[f.period],
        group_label=GROUP_LABELS[f.group_by],
        figure_labels=FIGURE_LABELS,
        as_of=present.when(result.as_of),
        figures=list(report.FIGURES),
    )
    if request.GET.get("figure"):
        try:
            figure, start, group = report.drill_params(request.GET)
        except DomainValidationError as exc:
            context["errors"] = exc.field_errors
            return page(request, "console/reports/promises.html", context, status=400)
        qs = report.drill_down(f, figure, scope, period_start=start, group=group, as_of=result.as_of)
        total = qs.count()
        drill_query = urlencode({**values, "figure": figure, **({"period_start": start} if start else {})})
        if group is not None:
            drill_query += "&" + urlencode({"group": group})
        context["drill"] = {
            "figure": FIGURE_LABELS[figure],
            "period": _period_label(start, f.period) if start else _("전체 기간"),
            "group": group,
            "rows": _drill_rows(qs.order_by("due_at", "id")),
            "total": total,
            "limit": DRILL_LIMIT,
            "query": drill_query,
        }
    return page(request, "console/reports/promises.html", context)


def _csv_response(name: str) -> tuple[HttpResponse, csv.writer]:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = calendar.to_kst(calendar.now()).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response.write("\ufeff")  # so spreadsheet programs read the Korean text as UTF-8
    return response, csv.writer(response)


@requires("view_followup_queues")
def promise_report_export(request):
    """The figures table as CSV; with `figure=...`, the promises behind that number instead."""
    try:
        f = report.filter_from_params(request.GET)
        drill = report.drill_params(request.GET) if request.GET.get("figure") else None
    except DomainValidationError as exc:
        return HttpResponse(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.field_errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    scope = _scope(request.user)
    if drill is not None:
        figure, start, group = drill
        response, writer = _csv_response("promises")
        writer.writerow(
            [
                _("접수 번호"),
                _("유형"),
                _("게시판"),
                _("담당자"),
                _("약속 종류"),
                _("상태"),
                _("기한 (KST)"),
                _("완료 (KST)"),
                _("지연"),
            ]
        )
        qs = report.drill_down(f, figure, scope, period_start=start, group=group).order_by("due_at", "id")
        for r in _drill_rows(qs, limit=None):
            writer.writerow(list(r.values()))
        return response
    result = report.promise_report(f, scope)
    response, writer = _csv_response("promise-report")
    writer.writerow(
        [
            _("기간 시작"),
            GROUP_LABELS[f.group_by],
            *[FIGURE_LABELS[n] for n in report.FIGURES],
            _("기한 내 이행률"),
            _("지연 중앙값(분)"),
            _("지연 p90(분)"),
            _("접수 티켓"),
            _("재인입 없는 티켓"),
            _("첫 접촉 해결률"),
        ]
    )
    for r in [*result.rows, result.totals]:
        d = r.as_dict()
        writer.writerow(
            [
                d["period_start"].isoformat() if d["period_start"] else _("합계"),
                d["group_label"],
                *[d[n] for n in report.FIGURES],
                "" if d["on_time_rate"] is None else d["on_time_rate"],
                "" if d["late_median_minutes"] is None else d["late_median_minutes"],
                "" if d["late_p90_minutes"] is None else d["late_p90_minutes"],
                "" if d["tickets"] is None else d["tickets"],
                "" if d["first_contact"] is None else d["first_contact"],
                "" if d["first_contact_rate"] is None else d["first_contact_rate"],
            ]
        )
    return response
