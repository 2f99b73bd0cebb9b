"""Migration 0012 drops TicketKind.schema without losing a schema: a column that differs from
the kind's latest version (or a kind with no version) becomes a new version first."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("tickets", "0011_kind_behaviours")]
AFTER = [("tickets", "0012_schema_lives_in_versions")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_dropping_the_schema_column_keeps_every_schema():
    old = _migrate(BEFORE)
    kinds = old.get_model("tickets", "TicketKind")
    versions = old.get_model("tickets", "TicketKindSchema")
    edited = kinds.objects.get(code="pet-cs-inquiry")
    latest = versions.objects.filter(kind=edited).order_by("-version").first()
    edited.schema = {**latest.schema, "fields": [*latest.schema["fields"], {"name": "x", "label": "X", "type": "text"}]}
    edited.save()
    untouched = kinds.objects.get(code="pet-custom-driver")
    untouched.schema = versions.objects.filter(kind=untouched).order_by("-version").first().schema
    untouched.save()
    lone = kinds.objects.create(
        code="lone-kind",
        name="버전 없는 유형",
        service_line="pet",
        default_board=edited.default_board,
        category_path="펫",
        schema={"fields": [{"name": "a", "label": "A", "type": "text"}]},
    )
    try:
        new = _migrate(AFTER)
        versions = new.get_model("tickets", "TicketKindSchema")
        edited_versions = list(versions.objects.filter(kind_id=edited.pk).order_by("version"))
        assert [v.version for v in edited_versions][-1] == latest.version + 1
        assert edited_versions[-1].schema == edited.schema
        assert versions.objects.filter(kind_id=untouched.pk).count() == 1  # equal: no new version
        assert list(versions.objects.filter(kind_id=lone.pk).values_list("version", "schema")) == [(1, lone.schema)]
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("tickets"))
