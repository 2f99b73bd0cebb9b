"""/api/v1/reports/promises/: the promise report (docs/reports.md) with the console's filters and
definitions, and the promises behind any of its numbers (cursor-paginated)."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from cstrack import calendar
from tickets.access import policy as access
from tickets.reports import promises as report

from .base import ApiViewMixin, CursorPagination


def report_scope(user):
    """The tickets this caller's figures may count (None: every ticket, without a subquery)."""
    return None if access.is_unrestricted(user) else access.visible_tickets(user)


class ReportRowSerializer(serializers.Serializer):
    period_start = serializers.DateField(allow_null=True, help_text="First KST day of the period; null in totals.")
    group = serializers.CharField(help_text="Kind, board or rule code, or owner username; empty when not grouped.")
    group_label = serializers.CharField()
    made = serializers.IntegerField()
    on_time = serializers.IntegerField()
    late = serializers.IntegerField()
    broken = serializers.IntegerField()
    pending = serializers.IntegerField()
    released = serializers.IntegerField()
    on_time_rate = serializers.FloatField(allow_null=True, help_text="on_time / (on_time + late + broken)")
    late_median_minutes = serializers.FloatField(allow_null=True)
    late_p90_minutes = serializers.FloatField(allow_null=True)
    tickets = serializers.IntegerField(allow_null=True, help_text="Tickets received (not for promise groups).")
    first_contact = serializers.IntegerField(allow_null=True, help_text="Of those, tickets with no re-contact.")
    first_contact_rate = serializers.FloatField(allow_null=True)


class PromiseReportSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=calendar.PERIODS)
    group_by = serializers.ChoiceField(choices=report.GROUPS)
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    as_of = serializers.DateTimeField()
    totals = ReportRowSerializer()
    rows = ReportRowSerializer(many=True)
    trend = ReportRowSerializer(many=True, help_text="One row per period of the range, all groups together.")


class PromiseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ticket = serializers.CharField(source="ticket.reference")
    kind = serializers.CharField(source="ticket.kind.code")
    board = serializers.CharField(source="ticket.board.code")
    owner = serializers.CharField(source="ticket.assignee.username", allow_null=True, default=None)
    policy = serializers.CharField(source="policy.code", allow_null=True, default=None)
    action = serializers.CharField()
    state = serializers.CharField()
    due_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    lateness_minutes = serializers.SerializerMethodField()

    def get_lateness_minutes(self, fu) -> float | None:
        return report.lateness_minutes(fu)


def _param(name, description, enum=None, type_=OpenApiTypes.STR):
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=False, description=description, enum=enum)


FILTER_PARAMETERS = [
    _param("period", "Period of each row (KST). Default week.", list(calendar.PERIODS)),
    _param("from", "First KST date (YYYY-MM-DD). Default: the start of the 12th period back.", type_=OpenApiTypes.DATE),
    _param("to", "Last KST date (YYYY-MM-DD). Default: today.", type_=OpenApiTypes.DATE),
    _param("group_by", "Group rows by kind, board, owner or promise type (rule).", list(report.GROUPS)),
    _param("kind", "Kind code."),
    _param("board", "Board code."),
    _param("owner", 'Assignee username; "-" for unassigned tickets.'),
    _param("promise", "Follow-up rule code (promise type)."),
]


class PromisePagination(CursorPagination):
    ordering = ("due_at", "id")


class PromiseReportView(ApiViewMixin, generics.GenericAPIView):
    """Figures are read-only and need the right to see follow-ups; operations staff and API keys
    see their boards' and kinds' tickets only."""

    policy_actions = {"GET": "view_promise_report"}
    pagination_class = None  # one document; the promises behind a number are paged below
    serializer_class = PromiseReportSerializer

    @extend_schema(
        summary="Promises kept: figures per period and group (definitions in docs/reports.md)",
        tags=["reports"],
        parameters=FILTER_PARAMETERS,
        responses=PromiseReportSerializer,
    )
    def get(self, request):
        f = report.filter_from_params(request.query_params)
        result = report.promise_report(f, report_scope(request.user))
        data = {
            "period": f.period,
            "group_by": f.group_by,
            "date_from": f.first,
            "date_to": f.last,
            "as_of": result.as_of,
            "totals": result.totals.as_dict(),
            "rows": [r.as_dict() for r in result.rows],
            "trend": [r.as_dict() for r in result.trend],
        }
        return Response(PromiseReportSerializer(data).data)


class PromiseListView(ApiViewMixin, generics.ListAPIView):
    policy_actions = {"GET": "view_promise_report"}
    pagination_class = PromisePagination
    serializer_class = PromiseSerializer

    def get_queryset(self):
        f = report.filter_from_params(self.request.query_params)
        figure, start, group = report.drill_params(self.request.query_params)
        return report.drill_down(f, figure, report_scope(self.request.user), period_start=start, group=group)

    @extend_schema(
        summary="The promises behind one number of the report",
        tags=["reports"],
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("figure", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True, enum=[*report.FIGURES]),
            _param("period_start", "Only this period (its first KST date, as in a row).", type_=OpenApiTypes.DATE),
            _param("group", "Only this group value (as in a row's `group`; empty for none)."),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# Mounted at /api/v1/reports/ by tickets/api/urls.py.
urlpatterns = [
    path("promises/", PromiseReportView.as_view(), name="api-report-promises"),
    path("promises/tickets/", PromiseListView.as_view(), name="api-report-promises-tickets"),
]
