from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from cstrack.errors import DomainError

from . import services
from .models import Message, MessageTemplate
from .templating import PLACEHOLDERS, euc_kr_length, sms_type


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    # ModelForm validation calls MessageTemplate.clean() -> template_validate().
    list_display = ("code", "name", "channel", "active", "body_size", "updated_at")
    list_filter = ("channel", "active")
    search_fields = ("code", "name", "body")
    readonly_fields = ("placeholders", "body_size", "created_at", "updated_at")
    fields = (
        "code",
        "name",
        "channel",
        "active",
        "subject",
        "body",
        "alimtalk_template_id",
        "alimtalk_pf_id",
        "fallback_body",
        "placeholders",
        "body_size",
        "created_at",
        "updated_at",
    )

    @admin.display(description=_("사용 가능한 자리표시자"))
    def placeholders(self, obj):
        return " · ".join(f"{{{name}}} {label}" for name, label in PLACEHOLDERS.items())

    @admin.display(description=_("본문 크기"))
    def body_size(self, obj):
        if obj is None or not obj.body:
            return "-"
        if obj.channel == "sms" and obj.uses_alimtalk:
            fallback = obj.fallback_body or ""
            return f"AlimTalk {len(obj.body)} chars; fallback {euc_kr_length(fallback)} bytes ({sms_type(fallback)})"
        if obj.channel == "sms":
            return f"{euc_kr_length(obj.body)} bytes ({sms_type(obj.body)})"
        return f"{len(obj.body)} chars"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only. The recipient is never shown: only `recipient_masked`."""

    list_display = (
        "id",
        "channel",
        "message_type",
        "recipient_masked",
        "state",
        "sent_as",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "provider",
        "created_at",
    )
    list_filter = ("state", "channel", "message_type", "provider")
    search_fields = ("idempotency_key", "provider_ref")
    date_hierarchy = "created_at"
    actions = ["retry_dead_lettered"]
    exclude = ("recipient",)
    list_select_related = ("template",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "recipient"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("선택한 발송 실패(보류) 메시지 다시 보내기"), permissions=["change"])
    def retry_dead_lettered(self, request, queryset):
        actor = request.user.get_username()
        dead = list(queryset.filter(state=Message.State.DEAD).values_list("pk", flat=True))
        retried, skipped = 0, queryset.count() - len(dead)
        for pk in dead:
            try:
                services.message_retry_dead(pk, actor_label=actor)
                retried += 1
            except DomainError:
                skipped += 1  # changed state meanwhile
        if retried:
            self.message_user(request, _("%(n)d건을 다시 발송 대기열에 넣었습니다.") % {"n": retried}, messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                _("%(n)d건은 발송 실패(보류) 상태가 아니어서 건너뛰었습니다.") % {"n": skipped},
                messages.WARNING,
            )
