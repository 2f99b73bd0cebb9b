"""Contract tests: tickets, their actions and the error format."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import User

from tests.seedcodes import seed
from tickets.models import FollowUp, Ticket

from .helpers import PROBLEM, assert_problem, penalty_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seed_codes")]  # also under renamed codes
KST = dt.timezone(dt.timedelta(hours=9))


def _create(api, **overrides):
    response = api.post("/api/v1/tickets/", penalty_body(**overrides), format="json")
    assert response.status_code == 201, response.json()
    return response


# --- Create ----------------------------------------------------------------------------------------


def test_create_returns_the_ticket_masked_with_location_and_etag(api):
    response = _create(api)
    body = response.json()
    assert response["Location"] == f"/api/v1/tickets/{body['reference']}/"
    assert response["ETag"] == '"1"'
    assert body["customer_phone"] == "010-****-5678"
    assert b"1234-5678" not in response.content and b"+821012345678" not in response.content
    assert body["created_via"] == "integration:callcentre"
    assert body["status"] == "received" and body["board"] == seed("penalty-koc")
    assert body["received_at"].endswith("+09:00")  # ISO 8601 with offset
    ticket = Ticket.objects.get(reference=body["reference"])
    assert ticket.customer_phone == "+821012345678"  # stored (encrypted), never echoed


def test_create_validates_details_against_the_kind_with_field_errors(api):
    body = penalty_body(details={"penalty_board": "nowhere"}, driver_id="")
    problem = assert_problem(api.post("/api/v1/tickets/", body, format="json"), 400, code="invalid")
    errors = problem["errors"]
    assert "details.penalty_board" in errors and "details.incident_date" in errors and "driver_id" in errors
    assert errors["details.incident_date"] == ["필수 항목입니다."]


def test_create_enforces_consent_rules(api):
    problem = assert_problem(
        api.post("/api/v1/tickets/", penalty_body(consent_basis=""), format="json"), 400, field="consent_basis"
    )
    assert "근거" in problem["errors"]["consent_basis"][0]
    body = penalty_body(consent_basis="third_party_delegated")
    assert_problem(api.post("/api/v1/tickets/", body, format="json"), 400, field="delegation_relation")
    body = penalty_body(consent_basis="existing_member")
    assert_problem(api.post("/api/v1/tickets/", body, format="json"), 400, field="member_id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"details": {}}, "kind"),
        ({"kind": "driver-penalty-request"}, "details"),
        ({"kind": "driver-penalty-request", "details": "text"}, "details"),
        ({"kind": 5, "details": {}}, "kind"),
        (penalty_body(channel="fax"), "channel"),
        (penalty_body(customer_phone="123"), "customer_phone"),
        (penalty_body(customer_email="not-an-email"), "customer_email"),
        (penalty_body(driver_id="x" * 65), "driver_id"),
        (penalty_body(assignee="ghost"), "assignee"),
        (penalty_body(identity_verified="maybe"), "identity_verified"),
        (penalty_body(details={**penalty_body()["details"], "extra": 1}), "details.extra"),
    ],
)
def test_create_bad_input_is_400_never_500(api, body, field):
    if isinstance(body.get("kind"), str):  # parameters are built at import, before any renaming
        body = {**body, "kind": seed(body["kind"])}
    assert_problem(api.post("/api/v1/tickets/", body, format="json"), 400, field=field)


def test_malformed_json_unsupported_media_and_method(api):
    response = api.generic("POST", "/api/v1/tickets/", "{not json", content_type="application/json")
    assert_problem(response, 400)
    response = api.generic("POST", "/api/v1/tickets/", "kind=x", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415)
    assert_problem(api.put("/api/v1/tickets/CS-1/", {}, format="json"), 405)
    assert_problem(api.post("/api/v1/tickets/", [1, 2], format="json"), 400)


def test_unknown_ticket_and_path_are_404(api):
    assert_problem(api.get("/api/v1/tickets/CS-20990101-0001/"), 404, code="not_found")
    assert_problem(api.get("/api/v1/tickets/999999/"), 404)
    assert_problem(api.get("/api/v1/nothing-here/"), 404)


# --- Read ---------------------------------------------------------------------------------------------


def test_retrieve_has_followups_events_and_etag(api):
    reference = _create(api).json()["reference"]
    response = api.get(f"/api/v1/tickets/{reference}/")
    body = response.json()
    assert response["ETag"] == '"1"'
    assert [e["type"] for e in body["events"]] == ["created", "consent"]
    assert {f["policy"] for f in body["followups"]} == {"penalty-feedback-d3-sms", "penalty-feedback-d3-breach"}
    assert body["events"][0]["data"]["customer_phone"] == "010-****-5678"
    assert body["recontacts"] == []
    assert api.get(f"/api/v1/tickets/{body['id']}/").json()["reference"] == reference  # by id too


def test_personal_detail_fields_are_masked(api):
    body = {
        "kind": seed("mate-sales-statement"),
        "driver_id": "DRV-9",
        "details": {
            "request_detail": "지난달 매출",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "email": "mate.kim@example.com",
        },
        "consent_basis": "newly_collected",
    }
    response = api.post("/api/v1/tickets/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["personal_details"] == {"email": "ma******@example.com"}
    assert b"mate.kim@" not in response.content
    assert "email" not in response.json()["details"]


def test_list_filters(api, make_ticket, agent):
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 0, tzinfo=KST), tick=False):
        old = make_ticket(
            driver_id="DRV-1",
            member_id="M-1",
            call_id="C-1",
            customer_phone="010-2222-3333",
            consent_basis="newly_collected",
        )
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=KST), tick=False):
        new = make_ticket(driver_id="DRV-2", assignee=agent)
        pet = make_ticket(kind="pet-cs-inquiry", details={"issue_type": "payment", "description": "문의"})
        api.post(f"/api/v1/tickets/{pet.reference}/transitions/", {"to_status": "in_progress"}, format="json")

        def refs(query):
            response = api.get("/api/v1/tickets/" + query)
            assert response.status_code == 200, response.json()
            return {t["reference"] for t in response.json()["results"]}

        assert refs("") == {old.reference, new.reference, pet.reference}
        assert refs("?kind=" + seed("pet-cs-inquiry")) == {pet.reference}
        assert refs("?status=in_progress") == {pet.reference}
        assert refs("?status=received&status=in_progress") == {old.reference, new.reference, pet.reference}
        assert refs("?board=" + seed("penalty-koc")) == {old.reference, new.reference}
        assert refs("?assignee=agent1") == {new.reference}
        assert refs("?driver_id=DRV-1") == {old.reference}
        assert refs("?member_id=M-1") == {old.reference}
        assert refs("?call_id=C-1") == {old.reference}
        assert refs("?phone=01022223333") == {old.reference}
        assert refs("?phone=%2B82-10-2222-3333") == {old.reference}
        assert refs("?created_after=2026-11-10T00:00:00%2B09:00") == {new.reference, pet.reference}
        assert refs("?created_before=2026-11-10T00:00:00%2B09:00") == {old.reference}
        # The old ticket's D+3 duties (Nov 5) are overdue by Nov 20.
        assert refs("?overdue=true") == {old.reference}
        assert refs("?overdue=false") == {new.reference, pet.reference}
        assert refs("?due_before=2026-11-10T00:00:00%2B09:00") == {old.reference}
        assert refs("?due_after=2026-11-10T00:00:00%2B09:00") == {new.reference}
        body = api.get("/api/v1/tickets/?phone=01022223333").content
        assert b"2222-3333" not in body and b"01022223333" not in body


def test_phone_filter_pages_on_without_echoing_the_number(api, make_ticket):
    mine = {make_ticket(customer_phone="010-2222-3333", consent_basis="newly_collected").reference for _ in range(3)}
    make_ticket(customer_phone="010-9999-0000", consent_basis="newly_collected")
    seen, url = set(), "/api/v1/tickets/?phone=010-2222-3333&page_size=2"
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json()
        assert b"2222-3333" not in response.content and b"22223333" not in response.content
        seen |= {t["reference"] for t in response.json()["results"]}
        url = response.json()["next"]
        if url:
            assert "phone=" not in url and "phone_hash=" in url and "page_size=2" in url
    assert seen == mine  # the hash keeps the filter on every page


def test_phone_hash_filter_refuses_a_malformed_hash(api):
    response = api.get("/api/v1/tickets/?phone_hash=01022223333")
    assert response.status_code == 400
    assert "phone_hash" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "?phone=98765",
        "?status=nope",
        "?overdue=perhaps",
        "?created_after=yesterday",
        "?cursor=%%%",
        "?cursor=abc",
        "?page_size=0",
        "?page_size=x",
    ],
)
def test_bad_filters_are_400(api, query):
    response = api.get("/api/v1/tickets/" + query)
    assert_problem(response, 400)
    assert b"98765" not in response.content  # the phone is never echoed


def test_cursor_pagination(api, make_ticket):
    made = {make_ticket().reference for _ in range(5)}
    seen, url = [], "/api/v1/tickets/?page_size=2"
    while url:
        body = api.get(url).json()
        assert len(body["results"]) <= 2
        seen += [t["reference"] for t in body["results"]]
        url = body["next"]
    assert len(seen) == 5 and set(seen) == made


# --- PATCH with If-Match ---------------------------------------------------------------------------


def test_patch_requires_if_match_and_rejects_stale(api):
    reference = _create(api).json()["reference"]
    url = f"/api/v1/tickets/{reference}/"
    assert_problem(api.patch(url, {"priority": "urgent"}, format="json"), 428, code="precondition_required")
    response = api.patch(
        url, {"priority": "urgent", "details": {"description": "추가 설명"}}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"2"'
    assert response.json()["priority"] == "urgent"
    assert response.json()["details"]["description"] == "추가 설명"
    assert_problem(
        api.patch(url, {"priority": "normal"}, format="json", HTTP_IF_MATCH='"1"'), 412, code="stale_version"
    )
    assert_problem(api.patch(url, {"priority": "normal"}, format="json", HTTP_IF_MATCH="garbage"), 412)
    assert api.patch(url, {"title": "새 제목"}, format="json", HTTP_IF_MATCH='W/"2"').status_code == 200
    assert api.patch(url, {"title": "또"}, format="json", HTTP_IF_MATCH="*").status_code == 200


def test_patch_bad_input(api):
    reference = _create(api).json()["reference"]
    url = f"/api/v1/tickets/{reference}/"
    assert_problem(api.patch(url, {"status": "closed"}, format="json", HTTP_IF_MATCH='"1"'), 400, field="status")
    assert_problem(api.patch(url, {"priority": "high"}, format="json", HTTP_IF_MATCH='"1"'), 400, field="priority")
    body = {"details": {"incident_date": "yesterday"}}
    assert_problem(api.patch(url, body, format="json", HTTP_IF_MATCH='"1"'), 400, field="details.incident_date")
    assert_problem(api.patch(url, {"identity_verified": "x"}, format="json", HTTP_IF_MATCH='"1"'), 400)


# --- Actions ----------------------------------------------------------------------------------------


def test_transitions(api):
    reference = _create(api).json()["reference"]
    url = f"/api/v1/tickets/{reference}/transitions/"
    response = api.post(url, {"to_status": "in_progress", "note": "확인 중"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "in_progress"
    assert response["ETag"] == '"2"'
    problem = assert_problem(api.post(url, {"to_status": "closed"}, format="json"), 409, code="transition_not_allowed")
    assert "처리 중" in problem["detail"]
    problem = assert_problem(api.post(url, {"to_status": "action_taken"}, format="json"), 409, code="outcome_required")
    assert_problem(api.post(url, {"to_status": "flying"}, format="json"), 400, field="to_status")


def test_outcome_and_manager_confirmation(api):
    reference = _create(api).json()["reference"]
    url = f"/api/v1/tickets/{reference}/outcome/"
    assert_problem(api.post(url, {"outcome": "nonsense"}, format="json"), 400, field="outcome")
    assert_problem(api.post(url, {"outcome": "no_action"}, format="json"), 400, field="reason")
    response = api.post(url, {"outcome": "warning", "driver_blocked": True}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["outcome"] == "warning" and response.json()["status"] == "action_taken"
    assert_problem(api.post(url, {"outcome": "warning"}, format="json"), 409, code="outcome_already_recorded")
    confirm = f"/api/v1/tickets/{reference}/manager-confirmation/"
    assert_problem(api.post(confirm, {"manager_name": ""}, format="json"), 400, field="manager_name")
    response = api.post(confirm, {"manager_name": "김관리"}, format="json")
    assert response.status_code == 200 and response.json()["manager_confirmed_by"] == "김관리"


def test_outcome_on_a_kind_without_outcomes_is_409(api):
    body = {"kind": seed("pet-cs-inquiry"), "details": {"issue_type": "payment", "description": "문의"}}
    reference = api.post("/api/v1/tickets/", body, format="json").json()["reference"]
    response = api.post(f"/api/v1/tickets/{reference}/outcome/", {"outcome": "x"}, format="json")
    assert_problem(response, 409, code="no_outcome_for_kind")


def test_recontacts(api):
    reference = _create(api).json()["reference"]
    url = f"/api/v1/tickets/{reference}/recontacts/"
    response = api.post(url, {"channel": "phone", "note": "다시 전화함"}, format="json")
    assert response.status_code == 201, response.json()
    assert "영업일" in response.json()["promise_text"]
    assert response.json()["promised_by"].endswith("+09:00")
    assert FollowUp.objects.filter(ticket__reference=reference, policy__code="recontact-callback").exists()
    assert_problem(api.post(url, {"channel": "pigeon"}, format="json"), 400, field="channel")
    # The note is required (the schema says so): the request is checked before the ticket's state.
    assert_problem(api.post(url, {"note": "  "}, format="json"), 400, field="note")
    api.post(f"/api/v1/tickets/{reference}/transitions/", {"to_status": "cancelled"}, format="json")
    assert_problem(api.post(url, {"note": "또 전화함"}, format="json"), 409)


def test_assignment(api, operator):
    reference = _create(api).json()["reference"]
    url = f"/api/v1/tickets/{reference}/assignment/"
    response = api.post(url, {"assignee": operator.username, "board": seed("penalty-gwangju")}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["assignee"] == "ops1" and response.json()["board"] == seed("penalty-gwangju")
    assert api.post(url, {"assignee": None}, format="json").json()["assignee"] is None
    assert_problem(api.post(url, {}, format="json"), 400, field="assignee")
    assert_problem(api.post(url, {"assignee": "ghost"}, format="json"), 400, field="assignee")
    assert_problem(api.post(url, {"board": "nope"}, format="json"), 400, field="board")


def test_consent_and_withdrawal(api):
    body = penalty_body(customer_phone="", consent_basis="")
    reference = api.post("/api/v1/tickets/", body, format="json").json()["reference"]
    url = f"/api/v1/tickets/{reference}/consent/"
    assert_problem(
        api.post(url, {"basis": "verify_only", "customer_phone": "01099998888"}, format="json"),
        400,
        field="consent_basis",
    )
    response = api.post(url, {"basis": "newly_collected", "customer_phone": "010-9999-8888"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["customer_phone"] == "010-****-8888"
    # A basis the stored number rules out is the ticket's state: 409, not a field error.
    assert_problem(api.post(url, {"basis": "verify_only"}, format="json"), 409, code="personal_data_stored")
    response = api.post(f"/api/v1/tickets/{reference}/consent-withdrawal/", {"note": "고객 요청"}, format="json")
    assert response.status_code == 200 and response.json()["consent_withdrawn_at"]
    sms = FollowUp.objects.get(ticket__reference=reference, policy__code="penalty-feedback-d3-sms")
    assert sms.state == "cancelled"


def test_contact_reveal_only_for_permitted_users_with_reason(api, session_client, operator, agent):
    reference = _create(api).json()["reference"]
    url = f"/api/v1/tickets/{reference}/contact-reveal/"
    assert_problem(api.post(url, {"reason": "회신"}, format="json"), 403)  # keys never reveal
    assert_problem(session_client(agent).post(url, {"reason": "회신"}, format="json"), 403)
    operator.boards.add(Ticket.objects.get(reference=reference).board)
    ops = session_client(User.objects.get(pk=operator.pk))
    assert_problem(ops.post(url, {"reason": ""}, format="json"), 400, field="reason")
    response = ops.post(url, {"reason": "고객 회신 전화"}, format="json")
    assert response.status_code == 200
    assert response.json()["customer_phone"] == "+821012345678"
    assert response["Cache-Control"] == "no-store"
    assert Ticket.objects.get(reference=reference).events.filter(type="contact_revealed").count() == 1


def test_errors_are_problem_json(api):
    response = api.get("/api/v1/tickets/?status=nope")
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"].startswith("urn:cstrack:problem:")
    assert body["instance"] == "/api/v1/tickets/"


def test_inputs_the_database_cannot_store_are_400(api):
    assert_problem(api.get("/api/v1/tickets/?call_id=a%00b"), 400)
    assert_problem(api.post("/api/v1/tickets/", penalty_body(title="a\x00b"), format="json"), 400)
    assert api.get("/api/v1/tickets/?created_after=0381-12-20T23:18:44-21:40").status_code == 200  # odd but valid
    assert_problem(api.get("/api/v1/tickets/?due_before=0001-01-01T00:00:00%2B13:00"), 400)
    assert api.get("/api/v1/tickets/?created_after=2026-11-20T23:18:44-11:00").status_code == 200


def test_season_pass_rules_in_the_detail_and_the_coupon_action(api, make_ticket):
    details = {
        "pass_link": "linked", "cause": "operator_missing", "occurred_on": "2026-11-18",
        "exit_handling": "call_button", "onsite_payment": False,
        "pass_paid_amount": 100000, "pass_usable_days": 30, "pass_used_days": 12,
    }  # fmt: skip
    refs = {"vehicle_plate": "12가3456", "parking_lot": "판교역 공영주차장", "member_id": "M-77"}
    first = make_ticket("parking-season-pass-registration", details=dict(details), **refs)
    second = make_ticket("parking-season-pass-registration", details=dict(details), **refs)
    body = api.get(f"/api/v1/tickets/{first.reference}/").json()
    assert body["season_pass"]["coupon"]["eligible"] is False and body["season_pass"]["refund_krw"] > 0
    assert_problem(
        api.post(f"/api/v1/tickets/{first.reference}/coupon/", {}, format="json"), 409, "coupon_not_eligible"
    )
    body = api.get(f"/api/v1/tickets/{second.reference}/").json()
    assert body["season_pass"]["coupon"] == {
        "eligible": True, "reason": body["season_pass"]["coupon"]["reason"], "occurrences_this_month": 2,
        "amount_krw": 3000,
    }  # fmt: skip
    granted = api.post(f"/api/v1/tickets/{second.reference}/coupon/", {}, format="json")
    assert granted.status_code == 200 and granted.json()["compensation_krw"] == 3000
    assert_problem(
        api.post(f"/api/v1/tickets/{second.reference}/coupon/", {}, format="json"), 409, "coupon_not_eligible"
    )
    penalty = make_ticket()
    assert api.get(f"/api/v1/tickets/{penalty.reference}/").json()["season_pass"] is None
