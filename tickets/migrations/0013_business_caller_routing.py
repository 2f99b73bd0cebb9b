"""Seed 003: the business-transfer kind routes by who is calling (see defaults)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from tickets.kinds.defaults import install_business_caller_routing

    install_business_caller_routing(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0012_schema_lives_in_versions"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
