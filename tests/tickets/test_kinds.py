"""Every seed kind: a valid example is accepted, bad ones are refused with per-field errors;
kind schemas are versioned."""

import copy

import pytest

from cstrack.errors import DomainValidationError
from tickets.kinds import services as kind_services
from tickets.kinds.defaults import KINDS
from tickets.kinds.schema import check_schema, validate_details
from tickets.lifecycle import services
from tickets.models import Status, Ticket, TicketEvent, TicketKind

from .conftest import VALID, at

KIND_CODES = [k["code"] for k in KINDS]
SCHEMAS = {k["code"]: k["schema"] for k in KINDS}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _business_hours():
    with at(2026, 11, 23, 10, 0):  # Monday, inside business hours
        yield


def test_every_kind_has_a_valid_example():
    assert sorted(VALID) == sorted(KIND_CODES)
    assert len(KIND_CODES) == 11


def _refused(create, kind, details, **kwargs) -> dict:
    before = Ticket.objects.count()
    with pytest.raises(DomainValidationError) as exc:
        create(kind, details=details, **kwargs)
    assert Ticket.objects.count() == before
    return exc.value.field_errors


@pytest.mark.parametrize("kind", KIND_CODES)
def test_valid_example_is_accepted(create, kind):
    details, kwargs = VALID[kind]
    ticket = create(kind)
    ticket.refresh_from_db()
    assert ticket.kind.code == kind
    assert ticket.status == Status.RECEIVED
    assert ticket.schema_version.version == 1
    assert ticket.reference.startswith("CS-20261123-")
    stored = {**ticket.details, **ticket.sensitive_details}
    assert set(stored) == set(details)
    for ref in SCHEMAS[kind].get("required_refs", []):
        assert getattr(ticket, ref) == kwargs[ref]
    # Personal fields never land in the plain details column.
    for field in SCHEMAS[kind]["fields"]:
        if field["type"] in {"phone", "email"}:
            assert field["name"] not in ticket.details
    assert TicketEvent.objects.filter(ticket=ticket, type="created").count() == 1


def _cases(kind_filter):
    out = []
    for code in KIND_CODES:
        for case in kind_filter(code, SCHEMAS[code]):
            out.append(pytest.param(code, *case, id=f"{code}-{case[0]}"))
    return out


def _missing_required(code, schema):
    for f in schema["fields"]:
        if f.get("required") and not f.get("required_when") and f["name"] in VALID[code][0]:
            yield (f["name"],)


@pytest.mark.parametrize(("kind", "field"), _cases(_missing_required))
def test_missing_required_field(create, kind, field):
    details = dict(VALID[kind][0])
    del details[field]
    errors = _refused(create, kind, details)
    assert f"details.{field}" in errors


def _choice_fields(code, schema):
    for f in schema["fields"]:
        if f["type"] == "choice":
            yield (f["name"],)


@pytest.mark.parametrize(("kind", "field"), _cases(_choice_fields))
def test_wrong_choice(create, kind, field):
    details = {**VALID[kind][0], field: "no-such-choice"}
    errors = _refused(create, kind, details)
    assert f"details.{field}" in errors
    assert "선택지" in errors[f"details.{field}"][0]


def _date_fields(code, schema):
    for f in schema["fields"]:
        if f["type"] == "date":
            yield (f["name"],)


@pytest.mark.parametrize("bad", ["2026-13-45", "2026-02-30", "yesterday", 20261118])
@pytest.mark.parametrize(("kind", "field"), _cases(_date_fields))
def test_bad_date(create, kind, field, bad):
    details = {**VALID[kind][0], field: bad}
    errors = _refused(create, kind, details)
    assert f"details.{field}" in errors


@pytest.mark.parametrize("kind", KIND_CODES)
def test_unknown_field(create, kind):
    details = {**VALID[kind][0], "favourite_colour": "blue"}
    errors = _refused(create, kind, details)
    assert list(errors) == ["details.favourite_colour"]


def _required_refs(code, schema):
    for ref in schema.get("required_refs", []):
        yield (ref,)


@pytest.mark.parametrize(("kind", "ref"), _cases(_required_refs))
@pytest.mark.parametrize("blank", ["", "   "])
def test_missing_required_reference(create, kind, ref, blank):
    errors = _refused(create, kind, None, **{ref: blank})
    assert ref in errors
    assert set(errors) == {ref}


@pytest.mark.parametrize(
    ("kind", "changes", "field"),
    [
        ("pet-cancel-penalty-exemption", {"cancel_requested_on": None}, "cancel_requested_on"),
        (
            "pet-cancel-penalty-exemption",
            {"request_type": "immediate_release", "cancel_requested_on": None},
            "board_received_on",
        ),
        ("pet-mate-membership", {"change_item": None, "procedure_explained": None}, "change_item"),
        ("pet-mate-membership", {"procedure_explained": None}, "procedure_explained"),
        ("pet-mate-membership", {"change_item": "vehicle", "procedure_explained": False}, "procedure_explained"),
        ("pet-custom-driver", {"team_name": None}, "team_name"),
        ("pet-custom-driver", {"request": "leave", "team_name": ""}, "team_name"),
        ("parking-season-pass-registration", {"onsite_payment_amount": None}, "onsite_payment_amount"),
        ("business-transfer", {"transfer_type": "signup"}, "contact_email"),
    ],
)
def test_required_when(create, kind, changes, field):
    details = {k: v for k, v in {**VALID[kind][0], **changes}.items() if v is not None}
    errors = _refused(create, kind, details)
    assert list(errors) == [f"details.{field}"]


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        (
            "pet-cancel-penalty-exemption",
            {"request_type": "immediate_release", "cancel_requested_on": None, "board_received_on": "2026-11-19"},
        ),
        ("pet-mate-membership", {"topic": "insurance", "change_item": None, "procedure_explained": None}),
        ("pet-mate-membership", {"change_item": "name", "procedure_explained": None}),
        ("pet-custom-driver", {"request": "other", "team_name": None}),
        ("parking-season-pass-registration", {"onsite_payment": False, "onsite_payment_amount": None}),
    ],
)
def test_required_when_not_triggered(create, kind, changes):
    details = {k: v for k, v in {**VALID[kind][0], **changes}.items() if v is not None}
    ticket = create(kind, details=details)
    assert ticket.pk


def test_details_take_json_types_only(create):
    """The API states JSON types (docs/api.md); the console's form converts its strings first.
    A form-style "true" or "3" is refused next to its field, not guessed."""
    details = {**VALID["parking-season-pass-registration"][0], "onsite_payment": "true", "pass_used_days": "3"}
    errors = _refused(create, "parking-season-pass-registration", details)
    assert set(errors) == {"details.onsite_payment", "details.pass_used_days"}
    assert "JSON true 또는 false" in errors["details.onsite_payment"][0]


@pytest.mark.parametrize("kind", ["mate-sales-statement", "pet-record-issuance"])
def test_date_order(create, kind):
    details = {**VALID[kind][0], "period_start": "2026-11-10", "period_end": "2026-11-09"}
    errors = _refused(create, kind, details)
    assert list(errors) == ["details.period_end"]
    same_day = {**VALID[kind][0], "period_start": "2026-11-10", "period_end": "2026-11-10"}
    assert create(kind, details=same_day).pk


def test_at_least_one(create):
    kind = "pet-partnership-inquiry"
    details = {k: v for k, v in VALID[kind][0].items() if k != "contact_phone"}
    errors = _refused(create, kind, details)
    assert list(errors) == ["details.contact_phone"]
    assert "연락받을 이메일" in errors["details.contact_phone"][0]
    only_email = {**details, "contact_email": "partner@example.com"}
    ticket = create(kind, details=only_email)
    assert ticket.sensitive_details == {
        "contact_email": "partner@example.com",
        "inquirer_name": details["inquirer_name"],
    }


def test_several_bad_fields_are_reported_together(create):
    kind = "driver-penalty-request"
    details = {**VALID[kind][0], "penalty_board": "seoul", "incident_date": "어제", "extra": 1}
    del details["description"]
    errors = _refused(create, kind, details, driver_id="")
    assert set(errors) == {
        "details.penalty_board",
        "details.incident_date",
        "details.extra",
        "details.description",
        "driver_id",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("channel", "fax"), ("priority", "highest"), ("requester_type", "alien")],
)
def test_bad_ticket_level_choice(create, field, value):
    errors = _refused(create, "pet-cs-inquiry", None, **{field: value})
    assert list(errors) == [field]


def test_unknown_kind(actor):
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_create(kind="no-such-kind", details={}, actor=actor)
    assert "kind" in exc.value.field_errors


def test_details_must_be_an_object(create):
    errors = _refused(create, "pet-cs-inquiry", ["not", "a", "dict"])
    assert "details" in errors


# --- Schema versions ---------------------------------------------------------------------------


def _v2_schema():
    schema = copy.deepcopy(SCHEMAS["pet-cs-inquiry"])
    schema["fields"].append({"name": "order_no", "label": "주문 번호", "type": "text", "required": True})
    return schema


def test_kind_save_schema_creates_a_version_and_old_tickets_keep_theirs(create, actor):
    old = create("pet-cs-inquiry")
    kind = TicketKind.objects.get(code="pet-cs-inquiry")
    v2 = kind_services.kind_save_schema(kind, _v2_schema())
    assert v2.version == 2
    assert kind.schema_versions.count() == 2
    kind.refresh_from_db()
    assert kind.schema == _v2_schema()

    # Saving the same schema again does not create a third version.
    assert kind_services.kind_save_schema(kind, _v2_schema()).version == 2

    # The v1 ticket still validates against v1 on update (no order_no needed)...
    updated = services.ticket_update(old, actor=actor, changes={"details": {"description": "다시 확인함"}})
    assert updated.schema_version.version == 1
    assert updated.details["description"] == "다시 확인함"
    # ... and cannot use the v2 field.
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_update(old, actor=actor, changes={"details": {"order_no": "A-1"}})
    assert "details.order_no" in exc.value.field_errors

    # A new ticket is validated against v2.
    with pytest.raises(DomainValidationError) as exc:
        create("pet-cs-inquiry")
    assert list(exc.value.field_errors) == ["details.order_no"]
    new = create("pet-cs-inquiry", details={**VALID["pet-cs-inquiry"][0], "order_no": "A-1"})
    assert new.schema_version.version == 2
    assert new.details["order_no"] == "A-1"


@pytest.mark.parametrize(
    "schema",
    [
        None,
        {},
        {"fields": "x"},
        {"fields": [{"label": "no name", "type": "text"}]},
        {"fields": [{"name": "a", "type": "text"}, {"name": "a", "type": "int"}]},
        {"fields": [{"name": "a", "type": "colour"}]},
        {"fields": [{"name": "a", "type": "choice"}]},
        {"fields": [{"name": "a", "type": "text", "required_when": {"ghost": True}}]},
        {"fields": [{"name": "a", "type": "text"}], "required_refs": ["passport_no"]},
        {"fields": [{"name": "a", "type": "date"}], "rules": [{"rule": "date_order", "start": "a", "end": "ghost"}]},
        {"fields": [{"name": "a", "type": "text"}], "rules": [{"rule": "at_least_one", "fields": ["ghost"]}]},
        {"fields": [{"name": "a", "type": "text"}], "rules": [{"rule": "telepathy"}]},
        {"fields": ["a"]},
    ],
)
def test_invalid_schema_is_refused(schema):
    assert check_schema(schema)
    kind = TicketKind.objects.get(code="pet-cs-inquiry")
    with pytest.raises(DomainValidationError) as exc:
        kind_services.kind_save_schema(kind, schema)
    assert "schema" in exc.value.field_errors
    assert kind.schema_versions.count() == 1


@pytest.mark.parametrize("code", KIND_CODES)
def test_seed_schemas_are_valid(code):
    assert check_schema(SCHEMAS[code]) == []
    # And the stored v1 equals the seed.
    assert TicketKind.objects.get(code=code).schema_versions.get(version=1).schema == SCHEMAS[code]


def test_validate_details_checks_types():
    schema = SCHEMAS["parking-season-pass-registration"]
    plain, personal = validate_details(
        schema,
        {**VALID["parking-season-pass-registration"][0], "onsite_payment_amount": 5000.0, "receipt_attached": True},
        {"vehicle_plate": "12가3456", "parking_lot": "판교"},
    )
    assert plain["onsite_payment_amount"] == 5000 and isinstance(plain["onsite_payment_amount"], int)
    assert plain["receipt_attached"] is True
    assert personal == {}
    with pytest.raises(DomainValidationError) as exc:
        validate_details(
            schema,
            {**VALID["parking-season-pass-registration"][0], "pass_usable_days": 0},
            {"vehicle_plate": "x", "parking_lot": "y"},
        )
    assert "details.pass_usable_days" in exc.value.field_errors
