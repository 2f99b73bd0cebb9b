"""Kinds, follow-ups, the delivery log, the overdue queue, the served schema and docs."""

import datetime as dt

import pytest
import time_machine
import yaml

from notifications.models import Message
from tickets.api.examples import example_request
from tickets.followups import dispatcher
from tickets.models import PENDING_FOLLOWUP_STATES, FollowUp, TicketKind

from .helpers import assert_problem, penalty_body

pytestmark = pytest.mark.django_db
KST = dt.timezone(dt.timedelta(hours=9))


def test_kinds_have_json_schema_and_a_working_example(api):
    kinds = api.get("/api/v1/kinds/").json()
    assert len(kinds) == TicketKind.objects.filter(active=True).count() >= 11
    penalty = api.get("/api/v1/kinds/driver-penalty-request/").json()
    schema = penalty["json_schema"]
    assert schema["properties"]["violation"]["enum"][0] == "no_show"
    assert "incident_date" in schema["required"] and schema["x-required-references"] == ["driver_id"]
    assert {"value": "warning", "label": "경고"} in penalty["outcomes"]
    assert penalty["schema_version"] == 1
    assert_problem(api.get("/api/v1/kinds/nope/"), 404)
    # Every kind's example is a valid request (inside business hours: business-transfer routes to the line).
    with time_machine.travel(dt.datetime(2026, 11, 24, 11, 0, tzinfo=KST), tick=False):
        for kind in kinds:
            assert kind["example"] == example_request(kind["code"], TicketKind.objects.get(code=kind["code"]).schema)
            response = api.post("/api/v1/tickets/", kind["example"], format="json")
            assert response.status_code == 201, (kind["code"], response.json())


def test_followups_list_reschedule_cancel(client_for, make_ticket):
    ticket = make_ticket()
    other = make_ticket()
    supervisor_tool = client_for(name="supervisor-tool", scopes=("read", "write", "followups"))
    listed = supervisor_tool.get(f"/api/v1/followups/?ticket={ticket.reference}").json()["results"]
    assert {f["ticket"] for f in listed} == {ticket.reference} and len(listed) == 2
    assert len(supervisor_tool.get("/api/v1/followups/?action=customer_message").json()["results"]) == 2
    fu = ticket.followups.get(policy__code="penalty-feedback-d3-sms")
    assert supervisor_tool.get(f"/api/v1/followups/{fu.pk}/").json()["id"] == fu.pk
    url = f"/api/v1/followups/{fu.pk}/reschedule/"
    assert_problem(
        supervisor_tool.post(url, {"due_at": "2030-01-02T10:00:00", "reason": "x"}, format="json"), 400, field="due_at"
    )
    assert_problem(
        supervisor_tool.post(url, {"due_at": "2030-01-02T10:00:00+09:00"}, format="json"), 400, field="reason"
    )
    # 1606 in Asia/Seoul is +08:27:52 (local mean time), which a date-time cannot write back.
    for impossible in ("2030-13-45T10:00:00+09:00", "0000-0-0T0:0+09:00", "1606-03-08T12:34:16+09:00"):
        assert_problem(
            supervisor_tool.post(url, {"due_at": impossible, "reason": "x"}, format="json"), 400, field="due_at"
        )
    response = supervisor_tool.post(url, {"due_at": "2030-01-02T10:00:00+09:00", "reason": "고객 요청"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["due_at"] == "2030-01-02T10:00:00+09:00"
    cancel = f"/api/v1/followups/{fu.pk}/cancel/"
    assert_problem(supervisor_tool.post(cancel, {"reason": ""}, format="json"), 400, field="reason")
    assert supervisor_tool.post(cancel, {"reason": "중복 접수"}, format="json").json()["state"] == "cancelled"
    assert_problem(supervisor_tool.post(cancel, {"reason": "또"}, format="json"), 409)
    # Without the follow-ups scope: 403; an unknown id: 404.
    plain_writer = client_for(name="writer")
    other_fu = other.followups.first()
    assert_problem(plain_writer.post(f"/api/v1/followups/{other_fu.pk}/cancel/", {"reason": "x"}, format="json"), 403)
    assert_problem(supervisor_tool.get("/api/v1/followups/999999/"), 404)
    assert_problem(supervisor_tool.get("/api/v1/followups/abc/"), 404)


def test_completion_of_a_call_back(api, make_ticket):
    ticket = make_ticket()
    api.post(f"/api/v1/tickets/{ticket.reference}/recontacts/", {"note": "재문의"}, format="json")
    callback = FollowUp.objects.get(ticket=ticket, action="call_back")
    response = api.post(f"/api/v1/followups/{callback.pk}/completion/", {"note": "통화 완료"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "done"
    sms = ticket.followups.get(policy__code="penalty-feedback-d3-sms")
    assert_problem(api.post(f"/api/v1/followups/{sms.pk}/completion/", {}, format="json"), 409)


def ticket_with_its_d3_sms(api, make_ticket):
    """A penalty ticket with an outcome whose D+3 customer SMS has been dispatched."""
    with time_machine.travel(dt.datetime(2026, 11, 20, 14, 0, tzinfo=KST), tick=False):
        ticket = make_ticket(customer_phone="010-5555-6666", consent_basis="newly_collected")
        api.post(f"/api/v1/tickets/{ticket.reference}/outcome/", {"outcome": "warning"}, format="json")
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 1, tzinfo=KST), tick=False):
        dispatcher.dispatch_due()
    return ticket


def test_messages_are_masked_and_linked_to_tickets(api, make_ticket):
    ticket = ticket_with_its_d3_sms(api, make_ticket)
    response = api.get(f"/api/v1/messages/?ticket={ticket.reference}")
    messages = response.json()["results"]
    assert [m["channel"] for m in messages] == ["sms"]
    assert messages[0]["recipient"] == "010-****-6666" and messages[0]["ticket"] == ticket.reference
    assert b"5555-6666" not in response.content and b"+821055556666" not in response.content
    assert api.get(f"/api/v1/messages/{messages[0]['id']}/").json()["recipient"] == "010-****-6666"
    assert api.get("/api/v1/messages/?ticket=CS-none").json()["results"] == []
    assert_problem(api.get("/api/v1/messages/?state=lost"), 400)
    assert_problem(api.get("/api/v1/messages/999999/"), 404)
    assert Message.objects.count() >= 1


def test_messages_of_invisible_tickets_are_hidden(client_for, make_ticket):
    with time_machine.travel(dt.datetime(2026, 11, 20, 14, 0, tzinfo=KST), tick=False):
        ticket = make_ticket(customer_phone="010-5555-6666", consent_basis="newly_collected")
        client_for(name="ops").post(
            f"/api/v1/tickets/{ticket.reference}/outcome/", {"outcome": "warning"}, format="json"
        )
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 1, tzinfo=KST), tick=False):
        dispatcher.dispatch_due()
    pet_only = client_for(name="pet", kinds=("pet-cs-inquiry",))
    assert pet_only.get("/api/v1/messages/").json()["results"] == []
    penalty_only = client_for(name="penalty", kinds=("driver-penalty-request",))
    assert len(penalty_only.get("/api/v1/messages/").json()["results"]) == 1


def test_overdue_queue_with_counts(api, make_ticket):
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 0, tzinfo=KST), tick=False):
        late = make_ticket()
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=KST), tick=False):
        make_ticket()  # not due yet
        dispatcher.dispatch_due()  # the old ticket's D+3 breach alert fires
        body = api.get("/api/v1/queues/overdue/").json()
    assert [t["reference"] for t in body["results"]] == [late.reference]
    assert body["results"][0]["breached_at"] is not None
    summary = body["summary"]
    assert summary["total"] == 1 and summary["breached"] == 1
    assert summary["by_kind"] == {"대리 기사 페널티 요청": 1}
    assert summary["by_assignee"] == {late.assignee.username if late.assignee else "(미배정)": 1}
    assert sum(summary["by_age"].values()) == 1 and summary["by_age"][">7d"] == 1
    assert api.get("/api/v1/queues/overdue/?kind=pet-cs-inquiry").json()["summary"]["total"] == 0


# The overdue queue's rows: what a queue shows, not the whole ticket (docs/api.md).
QUEUE_ROW_FIELDS = {
    "id", "reference", "kind", "kind_name", "board", "assignee", "status", "priority", "channel", "title",
    "received_at", "oldest_due", "breached_at", "outcome", "member_id", "driver_id", "call_id", "vehicle_plate",
    "customer_phone", "customer_email", "version", "updated_at",
}  # fmt: skip


def test_overdue_rows_are_queue_rows_that_agree_with_the_ticket(api, make_ticket, agent):
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 0, tzinfo=KST), tick=False):
        late = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected", assignee=agent)
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=KST), tick=False):
        dispatcher.dispatch_due()  # the D+3 breach alert fires; the ticket stays open
        response = api.get("/api/v1/queues/overdue/")
        ticket = api.get(f"/api/v1/tickets/{late.reference}/").json()
    (row,) = response.json()["results"]
    assert set(row) == QUEUE_ROW_FIELDS
    assert row["customer_phone"] == "010-****-5678" and b"1234-5678" not in response.content
    assert row["assignee"] == agent.username and row["breached_at"] is not None
    # Every field the row shares with the ticket says the same as the ticket.
    assert {k: row[k] for k in QUEUE_ROW_FIELDS - {"oldest_due"}} == {
        k: ticket[k] for k in QUEUE_ROW_FIELDS - {"oldest_due"}
    }
    pending = [f["due_at"] for f in ticket["followups"] if f["state"] in PENDING_FOLLOWUP_STATES]
    assert pending and row["oldest_due"] == min(pending, key=dt.datetime.fromisoformat)


def test_schema_documents_the_lean_queue_rows(api):
    schema = yaml.safe_load(api.get("/api/schema/").content)
    row = schema["components"]["schemas"]["OverdueTicket"]
    assert set(row["properties"]) == QUEUE_ROW_FIELDS == set(row["required"])
    assert "not the whole ticket" in row["description"] and "/api/v1/tickets/{reference}/" in row["description"]
    page = schema["components"]["schemas"]["PaginatedOverdueTicketList"]
    assert page["properties"]["results"]["items"] == {"$ref": "#/components/schemas/OverdueTicket"}
    assert "summary" in page["required"]


def test_schema_and_docs_are_served(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    create = schema["paths"]["/api/v1/tickets/"]["post"]
    examples = create["requestBody"]["content"]["application/json"]["examples"]
    assert {e["value"]["kind"] for e in examples.values()} >= set(TicketKind.objects.values_list("code", flat=True))
    assert "application/problem+json" in create["responses"]["400"]["content"]
    assert {p["name"] for p in create["parameters"]} >= {"Idempotency-Key"}
    patch = schema["paths"]["/api/v1/tickets/{reference}/"]["patch"]
    assert {"412", "428"} <= set(patch["responses"])
    assert set(schema["components"]["securitySchemes"]) >= {"ApiKeyBearer", "ApiKeyHeader"}
    docs = api.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_penalty_body_helper_is_valid(api):
    assert api.post("/api/v1/tickets/", penalty_body(), format="json").status_code == 201


def test_messages_show_accepted_delivered_and_failed_with_the_channel_used(api, make_ticket):
    ticket = ticket_with_its_d3_sms(api, make_ticket)
    message = Message.objects.get(pk=FollowUp.objects.get(ticket=ticket, message__isnull=False).message_id)

    def shown():
        return api.get(f"/api/v1/messages/{message.pk}/").json()

    assert shown()["delivery_status"] is None and shown()["state_label"] == "발송 대기"
    Message.objects.filter(pk=message.pk).update(state="sent", sent_as="ATA", provider_ref="M-1")
    row = shown()
    assert (row["delivery_status"], row["delivery_status_label"], row["sent_as"]) == ("accepted", "발송사 접수", "ATA")
    Message.objects.filter(pk=message.pk).update(state="delivered", report_code="4000")
    row = shown()
    assert (row["delivery_status"], row["delivery_status_label"], row["report_code"]) == (
        "delivered",
        "수신 확인",
        "4000",
    )
    Message.objects.filter(pk=message.pk).update(state="dead", report_code="3059")
    assert (shown()["delivery_status"], shown()["delivery_status_label"]) == ("failed", "발송 실패")
    assert [m["id"] for m in api.get("/api/v1/messages/?state=dead").json()["results"]] == [message.pk]


def test_schema_documents_the_problems_each_operation_answers(api):
    """Per operation, the 4xx it really answers (tickets/api/schema.py: problem_statuses): a
    body's 413/415 only where a body is read, 404 only where the path names an object."""
    paths = yaml.safe_load(api.get("/api/schema/").content)["paths"]

    def problems(path, method):
        responses = paths[path][method]["responses"]
        assert all(list(r["content"]) == ["application/problem+json"] for c, r in responses.items() if c >= "400")
        return {code for code in responses if code >= "400"}

    common = {"400", "401", "403", "406", "429"}
    assert problems("/api/v1/tickets/", "get") == common
    assert problems("/api/v1/tickets/", "post") == common | {"409", "413", "415", "422"}
    assert problems("/api/v1/tickets/{reference}/", "patch") == common | {"404", "409", "412", "413", "415", "428"}
    assert problems("/api/v1/webhooks/{id}/", "delete") == common | {"404"}
    # A DELETE's body is never read: neither too big nor of the wrong type.
    response = api.delete("/api/v1/webhooks/999999/", "x" * 100, content_type="text/plain")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/problem+json")


def test_schema_states_the_request_rules_and_links(api):
    """What tickets/api/schema.py adds: rules every request meets, the kinds that exist now (a
    kind switched off leaves the enum on the next request) and links from creates."""

    def served():
        return yaml.safe_load(api.get("/api/schema/").content)

    schema = served()
    components = schema["components"]["schemas"]
    kinds = components["TicketCreateRequest"]["properties"]["kind"]["enum"]
    assert set(kinds) == set(TicketKind.objects.filter(active=True).values_list("code", flat=True))
    assert components["AssignmentRequest"]["anyOf"] == [{"required": ["assignee"]}, {"required": ["board"]}]
    assert components["ReasonRequest"]["properties"]["reason"]["pattern"] == "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    listing = {p["name"]: p for p in schema["paths"]["/api/v1/tickets/"]["get"]["parameters"]}
    assert listing["page_size"]["schema"]["minimum"] == 1 and "allowEmptyValue" not in listing["page_size"]
    assert listing["created_after"]["allowEmptyValue"] is True
    assert "allowEmptyValue" not in listing["status"]  # an empty choice is refused
    create = schema["paths"]["/api/v1/tickets/"]["post"]
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert key["schema"]["maxLength"] == 255
    links = create["responses"]["201"]["links"]
    assert links["UpdateTicket"] == {
        "operationId": "v1_tickets_partial_update",
        "parameters": {"reference": "$response.body#/reference", "header.If-Match": "$response.header.ETag"},
    }

    TicketKind.objects.filter(code=kinds[0]).update(active=False)
    assert kinds[0] not in served()["components"]["schemas"]["TicketCreateRequest"]["properties"]["kind"]["enum"]
    assert api.post("/api/v1/tickets/", {"kind": kinds[0], "details": {}}, format="json").status_code == 400
