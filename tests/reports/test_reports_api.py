"""/api/v1/reports/promises/: the same figures as the selector, scoped, in the schema."""

from datetime import date

import pytest
import time_machine

from tests.api.helpers import assert_problem
from tests.conftest import make_user
from tickets.models import Board

from .histories import CALLBACK, call_back_at, kst, recontacted

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/promises/"
AS_OF = kst(2026, 12, 30, 12, 0)
RANGE = {"from": "2026-11-23", "to": "2026-11-29", "period": "week"}


@pytest.fixture
def two_boards(create, actor):
    kept = recontacted(create, actor, (2026, 11, 23, 10, 0))  # pet CS board
    call_back_at(kept, actor, (2026, 11, 24, 10, 0))
    late = recontacted(create, actor, (2026, 11, 23, 11, 0), kind="driver-compensation-demand")
    call_back_at(late, actor, (2026, 11, 25, 21, 0))
    return kept, late


def test_figures_match_the_definitions(two_boards, client_for):
    client = client_for(scopes=("read",))
    with time_machine.travel(AS_OF, tick=False):
        r = client.get(URL, {**RANGE, "promise": CALLBACK, "group_by": "kind"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["period"] == "week" and body["date_from"] == "2026-11-23"
    assert body["totals"]["made"] == 2
    assert body["totals"]["on_time"] == 1 and body["totals"]["late"] == 1
    assert body["totals"]["on_time_rate"] == 0.5
    assert body["totals"]["late_median_minutes"] == 180.0
    by_kind = {row["group"]: row for row in body["rows"]}
    assert by_kind["driver-compensation-demand"]["late"] == 1
    assert [t["period_start"] for t in body["trend"]] == ["2026-11-23"]


def test_drill_down_is_cursor_paginated(two_boards, client_for):
    client = client_for(scopes=("read",))
    with time_machine.travel(AS_OF, tick=False):
        r = client.get(URL + "tickets/", {**RANGE, "promise": CALLBACK, "figure": "made", "page_size": 1})
        assert r.status_code == 200, r.content
        first = r.json()
        assert len(first["results"]) == 1 and first["next"]
        second = client.get(first["next"]).json()
    refs = {first["results"][0]["ticket"], second["results"][0]["ticket"]}
    assert refs == {t.reference for t in two_boards}
    late = [p for p in first["results"] + second["results"] if p["lateness_minutes"]]
    assert len(late) == 1 and late[0]["lateness_minutes"] == 180.0


def test_bad_parameters_are_field_errors(client_for):
    client = client_for(scopes=("read",))
    assert_problem(client.get(URL, {"period": "year"}), 400, field="period")
    assert_problem(client.get(URL, {"from": "2026-13-01"}), 400, field="from")
    assert_problem(client.get(URL, {"from": "2026-12-01", "to": "2026-11-01"}), 400, field="from")
    assert_problem(client.get(URL + "tickets/", {"figure": "everything"}), 400, field="figure")


def test_a_key_sees_only_its_kinds(two_boards, client_for):
    client = client_for(scopes=("read",), kinds=("pet-cs-inquiry",))
    with time_machine.travel(AS_OF, tick=False):
        body = client.get(URL, {**RANGE, "promise": CALLBACK}).json()
        drilled = client.get(URL + "tickets/", {**RANGE, "figure": "made"}).json()
    assert (body["totals"]["made"], body["totals"]["late"]) == (1, 0)
    assert {p["kind"] for p in drilled["results"]} == {"pet-cs-inquiry"}


def test_operations_staff_see_their_boards(two_boards, session_client):
    ops = make_user("ops-pet", "operations")
    Board.objects.get(pk=two_boards[0].board_id).members.add(ops)
    with time_machine.travel(AS_OF, tick=False):
        body = session_client(ops).get(URL, {**RANGE, "promise": CALLBACK}).json()
    assert body["totals"]["made"] == 1


def test_without_the_right_to_see_follow_ups(db, session_client):
    nobody = make_user("nobody")
    assert session_client(nobody).get(URL).status_code == 403


def test_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/reports/promises/" in schema["paths"]
    drill = schema["paths"]["/api/v1/reports/promises/tickets/"]["get"]
    names = {p["name"] for p in drill["parameters"]}
    assert {"figure", "period", "from", "to", "group_by", "cursor"} <= names
    assert date.fromisoformat("2026-11-23")  # the dates above are ISO dates
