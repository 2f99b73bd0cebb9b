"""Kind behaviour as data: the registry, a kind made in the admin, renames, and the guard that no
code outside the seed data compares a kind's or a board's code."""

import json
import re
from pathlib import Path

import pytest

from cstrack.errors import DomainValidationError
from cstrack.models import ApiKey
from tickets import configuration
from tickets.admin import TicketKindForm
from tickets.api.keys import apikey_create
from tickets.kinds import behaviours, panels
from tickets.kinds.defaults import BOARDS, KINDS
from tickets.lifecycle import services
from tickets.models import Board, FollowUp, FollowUpPolicy, Ticket, TicketKind, Trigger

from .conftest import PHONE, VALID

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

SCHEMA = {
    "fields": [
        {
            "name": "region",
            "label": "지역",
            "type": "choice",
            "required": True,
            "choices": [["north", "북부"], ["south", "남부"]],
        },
        {"name": "blocked", "label": "기사 차단함", "type": "bool"},
        {"name": "note", "label": "내용", "type": "textarea", "required": True},
    ],
    "required_refs": ["driver_id"],
}
BEHAVIOURS = {
    "route_by_field": {"field": "region", "boards": {"north": "penalty-koc", "south": "compensation"}},
    "driver_block": {"field": "blocked"},
    "penalty_history": {},
    "registration_message": {"outcomes": ["done"]},
}


def _form_data(**overrides):
    data = {
        "code": "driver-complaint-v2",
        "name": "기사 불만 (신규)",
        "description": "",
        "service_line": "driver",
        "default_board": Board.objects.get(code="pet-cs").pk,
        "category_path": "대리 > 불만",
        "schema": json.dumps(SCHEMA),
        "outcomes": json.dumps([["done", "처리 완료"], ["dropped", "종결"]]),
        "outcomes_needing_reason": "[]",
        "retention_days": 365,
        "default_requester_type": "customer",
        "behaviours": json.dumps(BEHAVIOURS),
        "active": "on",
        "sort_order": 50,
    }
    data.update(overrides)
    return data


def test_a_kind_created_in_the_admin_works_by_its_behaviours(admin_client, actor, operator_actor, make_ticket):
    response = admin_client.post("/admin/tickets/ticketkind/add/", _form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    kind = TicketKind.objects.get(code="driver-complaint-v2")
    FollowUpPolicy.objects.create(
        code="complaint-done-sms",
        name="처리 완료 문자",
        kind=kind,
        trigger=Trigger.REGISTRATION_CONFIRMED,
        action="customer_message",
        template_id=FollowUpPolicy.objects.get(code="season-pass-registered-sms").template_id,
        timing="immediate",
    )

    ticket = services.ticket_create(
        kind=kind.code,
        details={"region": "south", "blocked": True, "note": "불친절"},
        driver_id="DRV-77",
        customer_phone=PHONE,
        consent_basis="newly_collected",
        actor=actor,
    )
    assert (ticket.board.code, ticket.driver_blocked) == ("compensation", True)
    # The board follows the field on update, and the driver block follows its field.
    updated = services.ticket_update(ticket, actor=actor, changes={"details": {"region": "north", "blocked": False}})
    assert (updated.board.code, updated.driver_blocked) == ("penalty-koc", False)
    # Penalty history counts every kind that shows it: the seed penalty request and this one.
    make_ticket(driver_id="DRV-77")
    assert panels.penalty_history(ticket)[1]["total"] == 2
    # The configured outcome fires the registration trigger; another outcome does not.
    services.ticket_record_outcome(ticket, outcome="done", actor=operator_actor)
    assert FollowUp.objects.filter(ticket=ticket, policy__code="complaint-done-sms").count() == 1
    assert panels.season_pass(ticket) is None


@pytest.mark.parametrize(
    ("behaviours_config", "message"),
    [
        ({"telepathy": {}}, "알 수 없는 동작"),
        ({"route_by_field": {"field": "ghost", "boards": {"north": "pet-cs"}}}, "ghost"),
        ({"route_by_field": {"field": "region", "boards": {"north": "no-such-board"}}}, "no-such-board"),
        ({"route_by_field": {"field": "region", "boards": {"west": "pet-cs"}}}, "west"),
        ({"route_by_field": {"field": "note", "boards": {"x": "pet-cs"}}}, "choice"),
        ({"driver_block": {"field": "note"}}, "bool"),
        ({"registration_message": {"outcomes": ["registered"]}}, "registered"),
        ({"callback_number_needs_phone": {}}, "callback_number"),
        ({"business_hours_routing": {"routes": {"*": {"in_hours": "moon"}}}}, "after_hours"),
        (
            {
                "business_hours_routing": {
                    "field": "region",
                    "routes": {"north": {"in_hours": "business_line", "after_hours": "business_team"}},
                }
            },
            "*",
        ),
        ({"driver_block": "yes"}, "JSON 객체"),
        (["driver_block"], "JSON 객체"),
    ],
)
def test_admin_refuses_behaviours_it_cannot_carry_out(behaviours_config, message):
    form = TicketKindForm(data=_form_data(behaviours=json.dumps(behaviours_config)))
    assert not form.is_valid()
    assert message in " ".join(form.errors["behaviours"])


def test_every_seed_kind_passes_its_own_behaviour_check():
    for spec in KINDS:
        kind = TicketKind.objects.get(code=spec["code"])
        assert kind.behaviours == spec.get("behaviours", {})
        assert behaviours.check(kind.behaviours, spec["schema"], kind.outcomes) == [], spec["code"]


def test_renaming_a_board_in_the_admin_keeps_routing(admin_client, make_ticket):
    board = Board.objects.get(code="penalty-gwangju")
    data = {
        "code": "gj-penalty",
        "name": board.name,
        "team": board.team,
        "supervisor_email": "",
        "escalation_email": "",
    }
    assert admin_client.post(f"/admin/tickets/board/{board.pk}/change/", data).status_code == 302
    details = {**VALID["driver-penalty-request"][0], "penalty_board": "gwangju_kmcc"}
    assert make_ticket(details=details, driver_id="DRV-5").board.code == "gj-penalty"


def test_renaming_a_kind_in_the_admin_keeps_api_key_scopes(admin_client):
    key, _plain = apikey_create(name="ops-tool", scopes=("read",), kinds=("driver-penalty-request", "pet-cs-inquiry"))
    kind = TicketKind.objects.get(code="driver-penalty-request")
    data = _form_data(
        code="driver-penalty",
        name=kind.name,
        service_line=kind.service_line,
        default_board=kind.default_board_id,
        category_path=kind.category_path,
        schema=json.dumps(kind.schema),
        outcomes=json.dumps(kind.outcomes),
        outcomes_needing_reason=json.dumps(kind.outcomes_needing_reason),
        behaviours=json.dumps(kind.behaviours),
    )
    response = admin_client.post(f"/admin/tickets/ticketkind/{kind.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ApiKey.objects.get(pk=key.pk).kinds == ["driver-penalty", "pet-cs-inquiry"]


def test_delegation_required_refuses_a_ticket_without_the_callers_delegation(create):
    TicketKind.objects.filter(code="pet-cs-inquiry").update(behaviours={"delegation_required": {}})
    with pytest.raises(DomainValidationError) as exc:
        create("pet-cs-inquiry")
    assert list(exc.value.field_errors) == ["consent_basis"]
    ticket = create(
        "pet-cs-inquiry",
        consent_basis="third_party_delegated",
        delegation_caller="호출자 본인(회원)",
        delegation_relation="spouse",
    )
    assert Ticket.objects.get(pk=ticket.pk).consent_basis == "third_party_delegated"


def test_a_kind_without_behaviours_has_none_of_their_effects(create):
    TicketKind.objects.filter(code="driver-penalty-request").update(behaviours={})
    details = {**VALID["driver-penalty-request"][0], "penalty_board": "gwangju_kmcc", "driver_blocked": True}
    ticket = create("driver-penalty-request", details=details)
    assert (ticket.board.code, ticket.driver_blocked) == ("penalty-koc", False)  # the kind's default board
    assert panels.penalty_history(ticket) is None


def test_default_requester_type_is_the_kinds_field(create):
    assert create("mate-sales-statement").requester_type == "mate"
    TicketKind.objects.filter(code="mate-sales-statement").update(default_requester_type="driver")
    configuration.changed()  # a raw update sends no signal (the admin's save does)
    assert create("mate-sales-statement").requester_type == "driver"


# --- The guard ----------------------------------------------------------------------------------

SEED_CODES = {spec["code"] for spec in KINDS} | {code for code, _name, _team in BOARDS}
# Seed data, migrations and the demo loader may name seed codes; nothing else may.
ALLOWED = {"tickets/kinds/defaults.py", "tickets/management/commands/seed_demo.py"}
FORBIDDEN_NAMES = re.compile(r"\b(PENALTY_KIND|SEASON_PASS_KIND|DEFAULT_REQUESTER|PENALTY_BOARDS)\b")
CODE_COMPARISON = re.compile(r"""\b(kind|board)(\.code|__code)\s*(==|!=|=)\s*["']""")


def _sources():
    for package in ("tickets", "notifications", "cstrack"):
        for path in (ROOT / package).rglob("*"):
            rel = str(path.relative_to(ROOT))
            if path.suffix in {".py", ".html", ".txt"} and "migrations" not in path.parts and rel not in ALLOWED:
                yield rel, path.read_text(encoding="utf-8")


def test_no_code_outside_the_seed_data_names_a_seed_kind_or_board_code():
    alternatives = "|".join(map(re.escape, sorted(SEED_CODES, key=len, reverse=True)))
    quoted = re.compile(rf"""["']({alternatives})["']""")
    offenders = {}
    for rel, text in _sources():
        found = set(quoted.findall(text)) | set(FORBIDDEN_NAMES.findall(text))
        found |= {m.group(0) for m in CODE_COMPARISON.finditer(text)}
        if found:
            offenders[rel] = sorted(found)
    assert offenders == {}
