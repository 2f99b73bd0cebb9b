"""Third-party delegation through the API: recorded (number masked), consent rule for
non-members, the number only via an active record for console users with reveal permission."""

import pytest

from .helpers import assert_problem, penalty_body

pytestmark = pytest.mark.django_db

BODY = {
    "caller": "호출자 본인(회원)",
    "relation": "passenger",
    "case": "caller_not_passenger_fare",
    "third_party_phone": "010-2718-2818",
    "third_party_is_member": False,
    "third_party_consented": True,
}


@pytest.fixture
def ticket_ref(api):
    return api.post("/api/v1/tickets/", penalty_body(), format="json").json()["reference"]


@pytest.fixture
def on_board(operator):
    """Operations users see the tickets of their boards (the penalty ticket is on penalty-koc)."""
    from tickets.models import Board

    Board.objects.get(code="penalty-koc").members.add(operator)
    return operator


def test_record_list_and_contact_number(api, ticket_ref, on_board, session_client):
    response = api.post(f"/api/v1/tickets/{ticket_ref}/delegations/", BODY, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["third_party_phone"] == "010-****-2818" and body["active"] is True
    assert body["relation"] == "passenger" and body["case"] == "caller_not_passenger_fare"
    assert body["third_party_consent_at"] and body["recorded_by"] == "integration:callcentre"
    assert api.get(f"/api/v1/tickets/{ticket_ref}/delegations/").json() == [body]
    assert "27182818" not in api.get(f"/api/v1/tickets/{ticket_ref}/").content.decode()

    url = f"/api/v1/tickets/{ticket_ref}/delegations/{body['id']}/contact-number/"
    assert_problem(api.post(url, {"reason": "통화"}, format="json"), 403)  # keys never see numbers
    ops = session_client(on_board)
    assert_problem(ops.post(url, {}, format="json"), 400, field="reason")
    revealed = ops.post(url, {"reason": "요금 조정 통화"}, format="json")
    assert revealed.status_code == 200
    assert revealed.json() == {"delegation": body["id"], "third_party_phone": "+821027182818"}
    assert revealed["Cache-Control"] == "no-store"
    assert_problem(
        ops.post(f"/api/v1/tickets/{ticket_ref}/delegations/99999/contact-number/", {"reason": "x"}, format="json"), 404
    )


def test_non_member_without_consent_is_a_field_error(api, ticket_ref):
    body = {**BODY, "third_party_consented": False}
    assert_problem(
        api.post(f"/api/v1/tickets/{ticket_ref}/delegations/", body, format="json"),
        400,
        "invalid",
        "third_party_consented",
    )


@pytest.mark.parametrize(("field", "value"), [("relation", "boss"), ("case", "x"), ("third_party_phone", "123")])
def test_bad_values_are_field_errors(api, ticket_ref, field, value):
    response = api.post(f"/api/v1/tickets/{ticket_ref}/delegations/", {**BODY, field: value}, format="json")
    assert_problem(response, 400, "invalid", field)


def test_error_bodies_do_not_echo_personal_data(api, ticket_ref):
    response = api.post(
        f"/api/v1/tickets/{ticket_ref}/delegations/", {**BODY, "relation": "010-5555-6666"}, format="json"
    )
    assert_problem(response, 400, "invalid", "relation")
    assert "5555" not in response.content.decode()


def test_read_only_key_cannot_record(client_for, ticket_ref):
    reader = client_for(name="reader", scopes=("read",))
    assert_problem(reader.post(f"/api/v1/tickets/{ticket_ref}/delegations/", BODY, format="json"), 403)
