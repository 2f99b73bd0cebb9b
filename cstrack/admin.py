from django.contrib import admin

from .models import ApiKey, Closure


@admin.register(Closure)
class ClosureAdmin(admin.ModelAdmin):
    list_display = ("date", "name", "created_by")
    readonly_fields = ("created_by",)

    def save_model(self, request, obj, form, change):
        if not obj.created_by_id:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued with `manage.py create_api_key` (the secret is shown once); here an
    administrator adjusts scopes and revokes."""

    list_display = ("name", "prefix", "can_read", "can_write", "revoked_at", "last_used_at")
    readonly_fields = ("prefix", "key_hash", "created_by", "created_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="선택한 키 폐기")
    def revoke(self, request, queryset):
        from . import calendar

        queryset.filter(revoked_at__isnull=True).update(revoked_at=calendar.now())
