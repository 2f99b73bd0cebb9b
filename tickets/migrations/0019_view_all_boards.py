"""Board scoping becomes a permission: `tickets.view_all_boards` (agents, supervisors and
administrators hold it; operations staff do not, so they see their boards' tickets and those
assigned to them). Supervisors also get `tickets.add_recontact`, which the console already let
them use. Only adds to the existing groups: an administrator's own edits are kept."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "agent": ["view_all_boards"],
    "supervisor": ["view_all_boards", "add_recontact"],
    "administrator": ["view_all_boards"],
}


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(content_type__app_label="tickets", codename__in=codenames))


def backwards(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="tickets", codename="view_all_boards").delete()


class Migration(migrations.Migration):
    dependencies = [("tickets", "0018_overdue_queue_indexes")]

    operations = [
        migrations.AlterModelOptions(
            name="ticket",
            options={
                "ordering": ["-received_at", "-id"],
                "permissions": [
                    ("reveal_contact", "연락처 원문 보기"),
                    ("record_outcome", "처리 결과 기록"),
                    ("manage_followups", "후속 조치 변경"),
                    ("download_attachment", "첨부파일 내려받기"),
                    ("view_all_boards", "모든 게시판의 티켓 보기"),
                ],
                "verbose_name": "티켓",
                "verbose_name_plural": "티켓",
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
