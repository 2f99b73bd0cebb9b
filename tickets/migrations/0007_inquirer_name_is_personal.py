"""The partnership inquirer's name is personal data: stored encrypted and purged with the
contact. Installed kinds get a new schema version with the field marked (tickets keep theirs;
the purge also strips the name from tickets stored under the old version)."""

import copy

from django.db import migrations

PERSONAL_FIELDS = {"pet-partnership-inquiry": ["inquirer_name"]}


def mark_personal(apps, schema_editor):
    TicketKind = apps.get_model("tickets", "TicketKind")
    TicketKindSchema = apps.get_model("tickets", "TicketKindSchema")
    for code, names in PERSONAL_FIELDS.items():
        kind = TicketKind.objects.filter(code=code).first()
        latest = TicketKindSchema.objects.filter(kind=kind).order_by("-version").first() if kind else None
        if latest is None:
            continue
        schema = copy.deepcopy(latest.schema)
        changed = False
        for field in schema.get("fields", []):
            if field.get("name") in names and not field.get("personal"):
                field["personal"] = True
                changed = True
        if changed:
            TicketKindSchema.objects.create(kind=kind, version=latest.version + 1, schema=schema)
            TicketKind.objects.filter(pk=kind.pk).update(schema=schema)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0006_attachment_kinds_and_roles")]

    operations = [migrations.RunPython(mark_personal, migrations.RunPython.noop)]
