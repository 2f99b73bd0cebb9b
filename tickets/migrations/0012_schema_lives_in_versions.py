"""A kind's schema lives only in its TicketKindSchema versions: TicketKind.schema goes.

Before the column is dropped, a kind whose column differs from its latest version (or that
has no version at all) gets the column's schema as a new version, so nothing is lost."""

from django.db import migrations


def column_to_versions(apps, schema_editor):
    TicketKind = apps.get_model("tickets", "TicketKind")
    TicketKindSchema = apps.get_model("tickets", "TicketKindSchema")
    for kind in TicketKind.objects.all():
        latest = TicketKindSchema.objects.filter(kind=kind).order_by("-version").first()
        if kind.schema and (latest is None or latest.schema != kind.schema):
            TicketKindSchema.objects.create(
                kind=kind, version=(latest.version + 1) if latest else 1, schema=kind.schema
            )


def versions_to_column(apps, schema_editor):
    TicketKind = apps.get_model("tickets", "TicketKind")
    TicketKindSchema = apps.get_model("tickets", "TicketKindSchema")
    for kind in TicketKind.objects.all():
        latest = TicketKindSchema.objects.filter(kind=kind).order_by("-version").first()
        if latest is not None:
            TicketKind.objects.filter(pk=kind.pk).update(schema=latest.schema)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0011_kind_behaviours"),
    ]

    operations = [
        migrations.RunPython(column_to_versions, versions_to_column),
        migrations.RemoveField(model_name="ticketkind", name="schema"),
    ]


