"""Kinds: schema versions (the one place a kind's schema is stored) and renames."""

from django.db import transaction

from cstrack.errors import DomainValidationError
from cstrack.models import ApiKey
from tickets import configuration
from tickets.kinds import behaviours
from tickets.kinds.schema import check_schema
from tickets.models import TicketKind, TicketKindSchema


@transaction.atomic
def kind_save_schema(kind: TicketKind, schema: dict) -> TicketKindSchema:
    """Store a new schema version for `kind`; tickets keep the version they were validated with."""
    problems = check_schema(schema)
    if problems:
        raise DomainValidationError({"schema": problems})
    latest = kind.schema_versions.order_by("-version").first()
    if latest and latest.schema == schema:
        return latest
    version = TicketKindSchema.objects.create(kind=kind, version=(latest.version + 1) if latest else 1, schema=schema)
    kind.__dict__["_current_schema"] = version
    return version


def active_kinds_with_schema() -> list[TicketKind]:
    """The kinds a new ticket can have: active, with a field schema (the API schema is generated
    from them on each request, so an administrator's edit shows at once)."""
    kinds = TicketKind.objects.filter(active=True).order_by("sort_order", "code").prefetch_related("schema_versions")
    return [kind for kind in kinds if kind.current_schema is not None]


def kind_get(code: str) -> TicketKind:
    """The active kind (default board and current schema attached; held per process by
    tickets.configuration: treat it as read-only)."""
    kind = configuration.active_kind(code)
    if kind is None:
        raise DomainValidationError({"kind": [f"알 수 없는 티켓 유형입니다: {code}"]})
    return kind


@transaction.atomic
def board_renamed(old_code: str, new_code: str) -> None:
    """A board's code changed (admin): kinds whose behaviours name it follow."""
    if old_code != new_code:
        behaviours.rename_board_references(old_code, new_code)


@transaction.atomic
def kind_renamed(old_code: str, new_code: str) -> None:
    """A kind's code changed (admin): API keys scoped to it keep their scope."""
    if old_code == new_code:
        return
    for key in ApiKey.objects.exclude(kinds=[]):  # a handful of keys
        if old_code in (key.kinds or []):
            key.kinds = [new_code if code == old_code else code for code in key.kinds]
            key.save(update_fields=["kinds"])
