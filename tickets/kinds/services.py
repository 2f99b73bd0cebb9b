"""Kinds: the current schema of a kind and its versions."""

from django.db import transaction

from cstrack.errors import DomainValidationError
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
    TicketKind.objects.filter(pk=kind.pk).update(schema=schema)
    kind.schema = schema
    return version


def kind_get(code: str) -> TicketKind:
    try:
        return TicketKind.objects.select_related("default_board").get(code=code, active=True)
    except TicketKind.DoesNotExist:
        raise DomainValidationError({"kind": [f"알 수 없는 티켓 유형입니다: {code}"]}) from None
