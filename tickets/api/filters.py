"""Query filters for list endpoints. The phone filter goes through the keyed hash only."""

import datetime as dt
import re

import django_filters
from django import forms
from django.db.models import Exists, OuterRef
from django_filters.fields import IsoDateTimeField

from cstrack import calendar, pii
from cstrack.errors import DomainValidationError
from notifications.models import Message
from tickets import selectors
from tickets.models import PENDING_FOLLOWUP_STATES, Action, FollowUp, FollowUpState, Status, Ticket

PHONE_HASH = re.compile(r"[0-9a-f]{64}")


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 date-time, normalised to UTC (PostgreSQL refuses offsets beyond ±15:59)."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return value
        try:
            return value.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("지원하지 않는 일시입니다.") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class TicketFilter(django_filters.FilterSet):
    kind = django_filters.CharFilter(field_name="kind__code", help_text="Kind code.")
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    board = django_filters.CharFilter(field_name="board__code", help_text="Board code.")
    assignee = django_filters.CharFilter(field_name="assignee__username", help_text="Username.")
    overdue = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_overdue",
        help_text="true: breached or with an overdue duty; false: neither.",
    )
    due_before = IsoDateTimeFilter(method="filter_due_before", help_text="A pending follow-up due before.")
    due_after = IsoDateTimeFilter(method="filter_due_after", help_text="A pending follow-up due at/after.")
    created_after = IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="received_at", lookup_expr="lt")
    member_id = django_filters.CharFilter()
    driver_id = django_filters.CharFilter()
    call_id = django_filters.CharFilter()
    phone = django_filters.CharFilter(method="filter_phone", help_text="Matched through the keyed hash; never echoed.")
    phone_hash = django_filters.CharFilter(
        method="filter_phone_hash",
        help_text="The keyed hash of a phone number; the next/previous links carry it in place of `phone`.",
    )

    class Meta:
        model = Ticket
        fields = []

    def filter_overdue(self, qs, name, value):
        if not value:
            return qs
        overdue = selectors.overdue_tickets(calendar.now()).order_by().values("pk")
        return qs.filter(pk__in=overdue) if value == "true" else qs.exclude(pk__in=overdue)

    def _due(self, qs, lookup, value):
        pending = FollowUp.objects.filter(
            ticket=OuterRef("pk"), state__in=PENDING_FOLLOWUP_STATES, **{f"due_at__{lookup}": value}
        )
        return qs.filter(Exists(pending))

    def filter_due_before(self, qs, name, value):
        return self._due(qs, "lt", value)

    def filter_due_after(self, qs, name, value):
        return self._due(qs, "gte", value)

    def filter_phone(self, qs, name, value):
        if not value:
            return qs
        try:
            return qs.filter(customer_phone_hash=pii.phone_index(value))
        except DomainValidationError as exc:
            raise DomainValidationError({"phone": next(iter(exc.field_errors.values()))}) from None

    def filter_phone_hash(self, qs, name, value):
        if not value:
            return qs
        if not PHONE_HASH.fullmatch(value):
            raise DomainValidationError({"phone_hash": ["올바른 전화번호 해시가 아닙니다."]})
        return qs.filter(customer_phone_hash=value)


class FollowUpFilter(django_filters.FilterSet):
    ticket = django_filters.CharFilter(field_name="ticket__reference", help_text="Ticket reference.")
    state = django_filters.MultipleChoiceFilter(choices=FollowUpState.choices)
    action = django_filters.ChoiceFilter(choices=Action.choices)
    due_before = IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")
    due_after = IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")

    class Meta:
        model = FollowUp
        fields = []


class MessageFilter(django_filters.FilterSet):
    ticket = django_filters.CharFilter(method="filter_ticket", help_text="Ticket reference.")
    state = django_filters.MultipleChoiceFilter(choices=Message.State.choices)
    channel = django_filters.ChoiceFilter(choices=Message._meta.get_field("channel").choices)
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Message
        fields = []

    def filter_ticket(self, qs, name, value):
        return qs.filter(Exists(FollowUp.objects.filter(message=OuterRef("pk"), ticket__reference=value)))
