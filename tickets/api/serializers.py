"""Serializers: shapes and types only. Rules are in tickets.services / tickets.followups.

Contact data is never returned unmasked here (the reveal endpoint returns it to a permitted
console user, with a reason, through ticket_reveal_contact)."""

import copy
import datetime as dt

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cstrack import outbound, pii
from notifications.models import Message
from tickets.kinds import panels
from tickets.lifecycle import workflow
from tickets.lifecycle.services import RECONTACT_NOTE_REQUIRED as NOTE_REQUIRED
from tickets.models import (
    Attachment,
    Channel,
    ConsentBasis,
    DelegationCase,
    DelegationRelation,
    EventType,
    FollowUp,
    Priority,
    ReContact,
    RequesterType,
    Status,
    ThirdPartyDelegation,
    Ticket,
    TicketEvent,
    TicketKind,
    WebhookSubscription,
)

from .examples import example_request

# Years 2000-8999: before 1908 Asia/Seoul's offset is local mean time (+08:27:52), which RFC 3339
# cannot write, so such a time would come back as an invalid date-time; none is a real due time.
AWARE_YEARS = "^[2-8][0-9]{3}-"


@extend_schema_field({"type": "string", "format": "date-time", "pattern": AWARE_YEARS})
class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an explicit offset, in the years 2000-8999; naive values are refused rather
    than guessed."""

    def to_internal_value(self, value):
        try:
            parsed = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:  # well formed but impossible, e.g. month 13
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise serializers.ValidationError("시간대가 포함된 ISO 8601 일시여야 합니다. 예: 2026-11-24T10:00:00+09:00")
        if not 2000 <= parsed.year <= 8999:
            raise serializers.ValidationError("2000년부터 8999년 사이의 일시여야 합니다.")
        try:
            return parsed.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise serializers.ValidationError("지원하지 않는 일시입니다.") from None


# --- Output ------------------------------------------------------------------------------------


class FieldsBuiltOnce:
    """For output ModelSerializers: the fields are worked out from the model once per class and
    copied for each instance (as DRF does for declared fields), instead of introspecting the
    model's ~45 fields on every response. Their definition depends only on the class."""

    _built_fields: dict = {}

    def get_fields(self):
        cls = type(self)
        built = FieldsBuiltOnce._built_fields.get(cls)
        if built is None:
            built = FieldsBuiltOnce._built_fields[cls] = super().get_fields()
        return copy.deepcopy(built)


class TicketSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    kind = serializers.SlugRelatedField(slug_field="code", read_only=True)
    kind_name = serializers.CharField(source="kind.name", read_only=True)
    schema_version = serializers.IntegerField(source="schema_version.version", read_only=True)
    board = serializers.SlugRelatedField(slug_field="code", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    customer_phone = serializers.CharField(source="customer_phone_masked", read_only=True, help_text="Masked.")
    customer_email = serializers.CharField(source="customer_email_masked", read_only=True, help_text="Masked.")
    consent_basis = serializers.ChoiceField(
        choices=ConsentBasis.choices, allow_blank=True, read_only=True, help_text="Empty: none recorded."
    )
    personal_details = serializers.SerializerMethodField(help_text="Kind fields holding personal data, masked.")
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "kind",
            "kind_name",
            "schema_version",
            "service_line",
            "category_path",
            "channel",
            "requester_type",
            "status",
            "priority",
            "title",
            "board",
            "assignee",
            "created_via",
            "received_at",
            "member_id",
            "driver_id",
            "call_id",
            "vehicle_plate",
            "parking_lot",
            "customer_phone",
            "customer_email",
            "identity_verified",
            "consent_basis",
            "consent_recorded_at",
            "consent_withdrawn_at",
            "delegation_relation",
            "details",
            "personal_details",
            "outcome",
            "outcome_reason",
            "outcome_recorded_at",
            "driver_blocked",
            "manager_confirmed_by",
            "manager_confirmed_at",
            "routed_to",
            "compensation_krw",
            "breached_at",
            "resolved_at",
            "closed_at",
            "contact_purged_at",
            "allowed_transitions",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_personal_details(self, ticket) -> dict:
        types = {f["name"]: f["type"] for f in ticket.schema_version.schema.get("fields", [])}
        return {name: pii.mask_value(types.get(name, ""), value) for name, value in ticket.sensitive_details.items()}

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=Status.choices)))
    def get_allowed_transitions(self, ticket) -> list:
        return workflow.allowed_targets(ticket)


class FollowUpSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    ticket = serializers.SlugRelatedField(slug_field="reference", read_only=True)
    policy = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "ticket",
            "policy",
            "action",
            "due_at",
            "window_end",
            "state",
            "reason",
            "marks_breach",
            "message",
            "completed_at",
            "attempts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TicketEventSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    class Meta:
        model = TicketEvent
        fields = ["id", "type", "actor_label", "at", "data"]
        read_only_fields = fields


class ReContactSerializer(serializers.ModelSerializer):
    promise_text = serializers.SerializerMethodField()

    class Meta:
        model = ReContact
        fields = ["id", "channel", "note", "logged_at", "promised_by", "promise_text"]
        read_only_fields = fields

    def get_promise_text(self, recontact) -> str:
        from tickets.lifecycle.services import recontact_promise_text

        return recontact_promise_text(recontact)


class CouponStatusSerializer(serializers.Serializer):
    eligible = serializers.BooleanField()
    reason = serializers.CharField()
    occurrences_this_month = serializers.IntegerField()
    amount_krw = serializers.IntegerField()


class SeasonPassSerializer(serializers.Serializer):
    coupon = CouponStatusSerializer(help_text="Coupon eligibility this month (seed 002).")
    refund_krw = serializers.IntegerField(allow_null=True, help_text="Refund, when the pass figures are recorded.")


class TicketDetailSerializer(TicketSerializer):
    followups = FollowUpSerializer(many=True, read_only=True)
    events = TicketEventSerializer(many=True, read_only=True)
    recontacts = ReContactSerializer(many=True, read_only=True)
    season_pass = serializers.SerializerMethodField(
        help_text="Parking season-pass rules worked out for this ticket; null for other kinds."
    )

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "followups", "events", "recontacts", "season_pass"]
        read_only_fields = fields

    @extend_schema_field(SeasonPassSerializer(allow_null=True))
    def get_season_pass(self, ticket):
        panel = panels.season_pass(ticket)
        return None if panel is None else SeasonPassSerializer(panel).data


class KindSerializer(serializers.ModelSerializer):
    default_board = serializers.SlugRelatedField(slug_field="code", read_only=True)
    schema_version = serializers.IntegerField(read_only=True, allow_null=True)
    outcomes = serializers.SerializerMethodField()
    json_schema = serializers.SerializerMethodField()
    example = serializers.SerializerMethodField(help_text="A valid POST /api/v1/tickets/ body for this kind.")

    class Meta:
        model = TicketKind
        fields = [
            "code",
            "name",
            "description",
            "service_line",
            "category_path",
            "default_board",
            "schema_version",
            "outcomes",
            "outcomes_needing_reason",
            "requires_manager_confirmation",
            "json_schema",
            "example",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.DictField(child=serializers.CharField())))
    def get_outcomes(self, kind) -> list:
        return [{"value": value, "label": label} for value, label in kind.outcomes]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_json_schema(self, kind) -> dict:
        from tickets.kinds.schema import json_schema

        return json_schema(kind.schema)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_example(self, kind) -> dict:
        return example_request(kind.code, kind.schema)


class MessageSerializer(serializers.ModelSerializer):
    template = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    recipient = serializers.CharField(source="recipient_masked", read_only=True, help_text="Masked.")
    ticket = serializers.CharField(source="ticket_reference", read_only=True, allow_null=True)
    last_error = serializers.SerializerMethodField(
        help_text="The last failure's category only; the detail is for staff (console, admin)."
    )
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    delivery_status = serializers.ChoiceField(
        choices=["accepted", "delivered", "failed"],
        read_only=True,
        allow_null=True,
        help_text="accepted: the provider took it (no word from the phone yet); delivered: the provider "
        "reported it received; failed: dead-lettered (refused, out of attempts, or reported undelivered). "
        "Null while it waits or is being sent.",
    )
    delivery_status_label = serializers.CharField(read_only=True, help_text="Korean label of the above.")
    sent_as = serializers.CharField(
        read_only=True, help_text="What the provider accepted: ATA (Kakao AlimTalk), SMS or LMS (for an "
        "AlimTalk: its fallback), EMAIL, CHAT, WEBHOOK; empty until accepted."
    )  # fmt: skip

    class Meta:
        model = Message
        fields = [
            "id",
            "ticket",
            "channel",
            "message_type",
            "template",
            "subject",
            "body",
            "recipient",
            "state",
            "state_label",
            "delivery_status",
            "delivery_status_label",
            "sent_as",
            "on_fallback",
            "attempts",
            "not_before",
            "next_attempt_at",
            "provider",
            "provider_ref",
            "last_error",
            "sent_at",
            "report_code",
            "reported_at",
            "delivered_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["", *outbound.ERROR_CATEGORIES, "cancelled"]))
    def get_last_error(self, message) -> str:
        if not message.last_error:
            return ""
        return "cancelled" if message.state == Message.State.CANCELLED else outbound.error_category(message.last_error)


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "target_url", "event_types", "active", "secret_rotated_at", "created_at"]
        read_only_fields = fields


class WebhookSubscriptionSecretSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once, at creation and rotation.")

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class OverdueSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    breached = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField())
    by_board = serializers.DictField(child=serializers.IntegerField())
    by_assignee = serializers.DictField(
        child=serializers.IntegerField(), help_text='By assignee username; unassigned as "(미배정)".'
    )
    by_age = serializers.DictField(child=serializers.IntegerField())
    as_of = serializers.DateTimeField(
        help_text="When these counts were taken: up to a minute before the request for the whole queue "
        "(a shared count refreshed every minute), the request's time when filtered or scoped."
    )


class OverdueTicketSerializer(serializers.ModelSerializer):
    """A row of the overdue queue, not the whole ticket: no kind `details`, no
    `personal_details`, no `allowed_transitions` (read `GET /api/v1/tickets/{reference}/` for
    those, with its follow-ups and events). Contact data masked."""

    # Serialized from plain values() rows (selectors.overdue_rows), not model instances: each
    # field's source is a column of that read (value_columns), so the queue reads only these.

    kind = serializers.CharField(source="kind__code", read_only=True, help_text="Kind code.")
    kind_name = serializers.CharField(source="kind__name", read_only=True)
    board = serializers.CharField(source="board__code", read_only=True, help_text="Board code.")
    assignee = serializers.CharField(
        source="assignee__username", read_only=True, allow_null=True, help_text="Username; null when unassigned."
    )
    customer_phone = serializers.CharField(source="customer_phone_masked", read_only=True, help_text="Masked.")
    customer_email = serializers.CharField(source="customer_email_masked", read_only=True, help_text="Masked.")
    oldest_due = serializers.DateTimeField(
        source="next_due_at",
        read_only=True,
        allow_null=True,
        help_text="The earliest due time of the ticket's pending follow-ups; null for a breached ticket with none left.",
    )

    class Meta:
        model = Ticket
        fields = [
            "id", "reference", "kind", "kind_name", "board", "assignee", "status", "priority", "channel", "title",
            "received_at", "oldest_due", "breached_at", "outcome", "member_id", "driver_id", "call_id",
            "vehicle_plate", "customer_phone", "customer_email", "version", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


def value_columns(serializer_class) -> list[str]:
    """The columns (`values()` names) that a serializer of plain rows reads: its fields' sources."""
    return [field.source for field in serializer_class().fields.values()]


class RevealedContactSerializer(serializers.Serializer):
    customer_phone = serializers.CharField()
    customer_email = serializers.CharField()
    personal_details = serializers.DictField(child=serializers.CharField())


class AttachmentSerializer(serializers.ModelSerializer):
    """Metadata only; the content is at content_url for users with tickets.download_attachment."""

    ticket = serializers.CharField(source="ticket.reference", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by_label", read_only=True)
    content_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = [
            "id",
            "ticket",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "uploaded_at",
            "deleted_at",
            "deleted_reason",
            "content_url",
        ]
        read_only_fields = fields

    def get_content_url(self, attachment) -> str | None:
        return None if attachment.deleted_at else f"/api/v1/attachments/{attachment.pk}/content/"


class DelegationSerializer(serializers.ModelSerializer):
    third_party_phone = serializers.CharField(source="third_party_phone_masked", read_only=True, help_text="Masked.")
    recorded_by = serializers.CharField(source="recorded_by_label", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ThirdPartyDelegation
        fields = [
            "id",
            "caller",
            "relation",
            "case",
            "third_party_is_member",
            "third_party_consent_at",
            "third_party_phone",
            "recorded_by",
            "recorded_at",
            "revoked_at",
            "active",
        ]
        read_only_fields = fields


class DelegationContactSerializer(serializers.Serializer):
    delegation = serializers.IntegerField()
    third_party_phone = serializers.CharField()


# --- Input ---------------------------------------------------------------------------------------


def _text(max_length, **kwargs):
    return serializers.CharField(
        max_length=max_length, required=False, allow_blank=True, trim_whitespace=True, **kwargs
    )


class TicketCreateSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=60, help_text="Kind code, see GET /api/v1/kinds/.")
    details = serializers.DictField(help_text="Kind-specific fields; JSON Schema at GET /api/v1/kinds/{code}/.")
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    requester_type = serializers.ChoiceField(choices=RequesterType.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    title = _text(200)
    member_id = _text(64)
    driver_id = _text(64)
    call_id = _text(64)
    vehicle_plate = _text(20)
    parking_lot = _text(100)
    customer_phone = _text(40, help_text="Stored encrypted; returned masked.")
    customer_email = _text(254, help_text="Stored encrypted; returned masked.")
    identity_verified = serializers.BooleanField(required=False)
    consent_basis = serializers.ChoiceField(choices=ConsentBasis.choices, required=False, allow_blank=True)
    delegation_caller = _text(100)
    delegation_relation = _text(30)
    assignee = serializers.CharField(max_length=150, required=False, allow_null=True, help_text="Username.")


class TicketUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    requester_type = serializers.ChoiceField(choices=RequesterType.choices, required=False)
    member_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    driver_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    call_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    vehicle_plate = serializers.CharField(max_length=20, required=False, allow_blank=True)
    parking_lot = serializers.CharField(max_length=100, required=False, allow_blank=True)
    identity_verified = serializers.BooleanField(required=False)
    details = serializers.DictField(required=False, help_text="Merged into the current details; null removes a field.")


class TransitionSerializer(serializers.Serializer):
    to_status = serializers.ChoiceField(choices=Status.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class OutcomeSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=40, help_text="One of the kind's outcomes (GET /api/v1/kinds/).")
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    driver_blocked = serializers.BooleanField(required=False, allow_null=True, default=None)


class ManagerConfirmationSerializer(serializers.Serializer):
    manager_name = serializers.CharField(max_length=100)


class AssignmentSerializer(serializers.Serializer):
    assignee = serializers.CharField(
        max_length=150, required=False, allow_null=True, help_text="Username; null unassigns."
    )
    board = serializers.CharField(max_length=50, required=False, help_text="Board code.")


class ConsentSerializer(serializers.Serializer):
    basis = serializers.ChoiceField(choices=ConsentBasis.choices)
    customer_phone = _text(40)
    customer_email = _text(254)
    delegation_caller = _text(100)
    delegation_relation = _text(30)


class ConsentWithdrawalSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReContactCreateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, default=Channel.PHONE)
    # Required: the service refuses a re-contact without a note (its message, so the schema says so).
    note = serializers.CharField(max_length=2000, error_messages={"required": NOTE_REQUIRED, "blank": NOTE_REQUIRED})


class RevealSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class RescheduleSerializer(serializers.Serializer):
    due_at = AwareDateTimeField()
    reason = serializers.CharField(max_length=300)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class CompletionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class WebhookSubscriptionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    target_url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        default=list,
        help_text="Empty: every event.",
    )


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="PDF, PNG, JPEG or ZIP, detected from the content; at most ATTACHMENT_MAX_BYTES (10 MB).",
    )


class DelegationCreateSerializer(serializers.Serializer):
    caller = serializers.CharField(max_length=100, help_text="Who delegated, minimal: e.g. 호출자 본인(회원).")
    relation = serializers.ChoiceField(choices=DelegationRelation.choices)
    case = serializers.ChoiceField(choices=DelegationCase.choices)
    third_party_phone = serializers.CharField(max_length=40, help_text="Stored encrypted; returned masked.")
    third_party_is_member = serializers.BooleanField()
    third_party_consented = serializers.BooleanField(
        required=False, default=False, help_text="Required (true) when the third party is not a member."
    )
