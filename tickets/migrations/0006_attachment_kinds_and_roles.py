"""Record issuance and mate sales statements delete their attachments on completion; the
operations and supervisor roles get tickets.download_attachment."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

KINDS = ["pet-record-issuance", "mate-sales-statement"]


def forwards(apps, schema_editor):
    from cstrack.roles import ensure_roles

    TicketKind = apps.get_model("tickets", "TicketKind")
    TicketKind.objects.filter(code__in=KINDS).update(delete_attachments_on_completion=True)
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    ensure_roles(apps)


def backwards(apps, schema_editor):
    TicketKind = apps.get_model("tickets", "TicketKind")
    TicketKind.objects.filter(code__in=KINDS).update(delete_attachments_on_completion=False)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0005_privacy_delegation_attachments")]

    operations = [migrations.RunPython(forwards, backwards)]
