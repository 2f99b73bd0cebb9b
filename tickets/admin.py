"""Admin: kinds, policies and boards are data an administrator edits; tickets are shown with
personal data masked, and their audit trail is read-only."""

import json

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from tickets.kinds import behaviours
from tickets.kinds import services as kind_services
from tickets.kinds.schema import check_schema

from .models import (
    Board,
    FollowUp,
    FollowUpPolicy,
    Macro,
    ReContact,
    StaffProfile,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketKindSchema,
    WebhookSubscription,
)


class TicketKindForm(forms.ModelForm):
    # Not a column: saving a changed schema stores a new TicketKindSchema version.
    schema = forms.JSONField(
        label=_("필드 스키마"), help_text=_("바꾸어 저장하면 새 버전이 됩니다. 기존 티켓은 자기 버전을 유지합니다.")
    )

    class Meta:
        model = TicketKind
        fields = [f.name for f in TicketKind._meta.fields if f.editable and not f.auto_created]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["schema"].initial = self.instance.schema
        available = "; ".join(f"{b.name} ({b.label}): {b.help}" for b in behaviours.REGISTRY.values())
        self.fields["behaviours"].help_text = _("사용할 수 있는 동작: %(list)s") % {"list": available}

    def clean_schema(self):
        schema = self.cleaned_data["schema"]
        problems = check_schema(schema)
        if problems:
            raise forms.ValidationError(problems)
        return schema

    def clean(self):
        cleaned = super().clean()
        if "schema" in cleaned and "behaviours" in cleaned:
            problems = behaviours.check(cleaned["behaviours"], cleaned["schema"], cleaned.get("outcomes") or [])
            if problems:
                self.add_error("behaviours", problems)
        return cleaned


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "team", "supervisor_email")
    search_fields = ("code", "name", "team")
    filter_horizontal = ("members",)

    def save_model(self, request, obj, form, change):
        old_code = form.initial.get("code") if change else None
        super().save_model(request, obj, form, change)
        if old_code:
            kind_services.board_renamed(old_code, obj.code)


@admin.register(TicketKind)
class TicketKindAdmin(admin.ModelAdmin):
    form = TicketKindForm
    list_display = ("code", "name", "service_line", "default_board", "active", "current_version")
    list_filter = ("service_line", "active")
    search_fields = ("code", "name")

    @admin.display(description=_("스키마 버전"))
    def current_version(self, obj):
        latest = obj.schema_versions.order_by("-version").first()
        return latest.version if latest else "-"

    def save_model(self, request, obj, form, change):
        schema = form.cleaned_data["schema"]
        old_code = form.initial.get("code") if change else None
        super().save_model(request, obj, form, change)
        if old_code:
            kind_services.kind_renamed(old_code, obj.code)
        # Every schema change becomes a new version; stored tickets keep theirs.
        kind_services.kind_save_schema(obj, schema)


@admin.register(TicketKindSchema)
class TicketKindSchemaAdmin(admin.ModelAdmin):
    list_display = ("kind", "version", "created_at")
    readonly_fields = ("kind", "version", "schema", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FollowUpPolicy)
class FollowUpPolicyAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "trigger", "action", "timing", "timing_n", "timing_time", "active")
    list_filter = ("trigger", "action", "active", "kind")
    search_fields = ("code", "name")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EventInline(ReadOnlyInline):
    model = TicketEvent
    fields = ("at", "type", "actor_label", "data_text")
    readonly_fields = fields

    @admin.display(description=_("내용"))
    def data_text(self, obj):
        return json.dumps(obj.data, ensure_ascii=False)


class FollowUpInline(ReadOnlyInline):
    model = FollowUp
    fields = ("action", "due_at", "state", "reason")
    readonly_fields = fields


class ReContactInline(ReadOnlyInline):
    model = ReContact
    fields = ("logged_at", "channel", "note", "promised_by")
    readonly_fields = fields


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = (
        "reference",
        "kind",
        "status",
        "priority",
        "board",
        "assignee",
        "customer_phone_masked",
        "received_at",
    )
    list_filter = ("status", "priority", "kind", "board", "service_line")
    search_fields = ("reference", "member_id", "driver_id", "call_id")
    list_select_related = ("kind", "board", "assignee")
    # Personal data is never shown here in plain text; permitted roles reveal it in the console.
    exclude = ("customer_phone", "customer_phone_hash", "customer_email", "sensitive_details")
    readonly_fields = (
        "reference",
        "kind",
        "schema_version",
        "service_line",
        "status",
        "received_at",
        "customer_phone_masked",
        "customer_email_masked",
        "consent_basis",
        "consent_recorded_by",
        "consent_recorded_at",
        "consent_withdrawn_at",
        "outcome",
        "outcome_reason",
        "outcome_recorded_at",
        "outcome_recorded_by",
        "breached_at",
        "paused_at",
        "resolved_at",
        "closed_at",
        "contact_purged_at",
        "version",
        "details",
        "created_by",
        "created_via",
    )
    inlines = (FollowUpInline, ReContactInline, EventInline)

    # Read-only: every change to a ticket (assignment, confirmation, outcome, compensation...)
    # goes through the console or the API, whose services check permissions and write the audit
    # trail; an admin form would bypass both.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail outlives nothing; retention purges personal data instead


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ("ticket", "recipient", "action", "due_at", "state", "reason")
    list_filter = ("state", "action")
    search_fields = ("ticket__reference", "recipient__username")
    list_select_related = ("ticket", "recipient")
    readonly_fields = (
        "ticket",
        "recipient",
        "policy",
        "action",
        "state",
        "dedupe_key",
        "message",
        "completed_at",
        "completed_by",
    )

    # Read-only: rescheduling or cancelling needs a reason and is audited (supervisor console / API).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "morning_digest", "updated_at")
    list_filter = ("morning_digest",)
    search_fields = ("user__username",)


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    list_display = ("at", "ticket", "type", "actor_label")
    list_filter = ("type",)
    search_fields = ("ticket__reference",)
    list_select_related = ("ticket",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Secrets are never shown; rotate them through the API (POST webhooks/{id}/rotate-secret/)."""

    list_display = ("name", "target_url", "api_key", "active", "secret_rotated_at")
    list_filter = ("active",)
    exclude = ("secret", "previous_secret")
    # The target is checked by the outbound policy when subscribed (API): not editable here.
    readonly_fields = ("target_url", "secret_rotated_at", "created_at")

    def has_add_permission(self, request):
        return False  # created through the API, which generates the secret


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    """Saved replies staff apply on the ticket page. Applying one goes through
    tickets/lifecycle/macros.py (permission-checked per change, audited); this only edits them."""

    list_display = ("name", "kind", "board", "outcome", "to_status", "followup_change", "active", "position")
    list_filter = ("active", "kind", "board")
    list_editable = ("active", "position")
    search_fields = ("name", "description", "note")
    list_select_related = ("kind", "board")
    fields = (
        "name",
        "description",
        ("kind", "board"),
        ("active", "position"),
        "outcome",
        "to_status",
        "note",
        ("followup_change", "postpone_business_days"),
    )
