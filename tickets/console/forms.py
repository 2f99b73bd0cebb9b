"""Turn console form posts into service arguments. No rules here: the services validate, and
their DomainValidationError.field_errors are shown next to the fields."""

from django.utils.dateparse import parse_datetime

from cstrack import calendar
from cstrack.errors import DomainValidationError

COMMON_TEXT_FIELDS = (
    "title",
    "member_id",
    "driver_id",
    "call_id",
    "vehicle_plate",
    "parking_lot",
    "customer_phone",
    "customer_email",
    "consent_basis",
    "delegation_caller",
    "delegation_relation",
    "channel",
    "requester_type",
    "priority",
)


def details_from_post(schema: dict, post) -> dict:
    """The kind's details from `details.<name>` inputs; empty inputs are left out."""
    details = {}
    for f in schema.get("fields", []):
        key = f"details.{f['name']}"
        kind = f["type"]
        if kind == "bool":
            if post.get(key):
                details[f["name"]] = True
        elif kind == "multichoice":
            chosen = [v for v in post.getlist(key) if v]
            if chosen:
                details[f["name"]] = chosen
        else:
            value = (post.get(key) or "").strip()
            if not value:
                continue
            if kind == "datetime" and len(value) <= 19 and "+" not in value[10:]:
                value = f"{value}+09:00"  # <input type=datetime-local> is on the KST wall clock
            if kind == "int":
                value = _form_integer(value)
            details[f["name"]] = value
    return details


def _form_integer(value: str):
    """A number input's text as the JSON integer the service takes; anything else is passed on
    as typed, for the service to refuse next to the field."""
    try:
        return int(value)
    except ValueError:
        return value


def create_kwargs(post) -> dict:
    kwargs = {name: (post.get(name) or "").strip() for name in COMMON_TEXT_FIELDS}
    kwargs["identity_verified"] = bool(post.get("identity_verified"))
    if not kwargs["requester_type"]:
        kwargs["requester_type"] = None
    for name in ("channel", "priority"):
        if not kwargs[name]:
            del kwargs[name]
    return kwargs


def parse_local_datetime(value: str, field: str):
    """An <input type=datetime-local> value, read on the KST wall clock."""
    try:
        parsed = parse_datetime((value or "").strip()) if value else None
    except ValueError:  # well formed but impossible, e.g. month 13 or year 0
        parsed = None
    if parsed is None:
        raise DomainValidationError({field: ["일시를 입력해 주세요. 예: 2026-11-24 10:00"]})
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=calendar.KST)
    return parsed
