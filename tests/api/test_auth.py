"""Credentials, scopes, role permissions, list scoping, throttling, the key command."""

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from cstrack import roles
from cstrack.models import ApiKey
from tests.conftest import make_user
from tickets.api.keys import apikey_revoke

from .helpers import assert_problem, penalty_body

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/api/v1/tickets/"),
    ("post", "/api/v1/tickets/"),
    ("get", "/api/v1/tickets/CS-20260101-0001/"),
    ("patch", "/api/v1/tickets/CS-20260101-0001/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/transitions/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/outcome/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/manager-confirmation/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/recontacts/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/assignment/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/consent/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/consent-withdrawal/"),
    ("post", "/api/v1/tickets/CS-20260101-0001/contact-reveal/"),
    ("get", "/api/v1/kinds/"),
    ("get", "/api/v1/kinds/driver-penalty-request/"),
    ("get", "/api/v1/followups/"),
    ("get", "/api/v1/followups/1/"),
    ("post", "/api/v1/followups/1/reschedule/"),
    ("post", "/api/v1/followups/1/cancel/"),
    ("post", "/api/v1/followups/1/completion/"),
    ("get", "/api/v1/messages/"),
    ("get", "/api/v1/messages/1/"),
    ("get", "/api/v1/queues/overdue/"),
    ("get", "/api/v1/webhooks/"),
    ("post", "/api/v1/webhooks/"),
    ("post", "/api/v1/webhooks/1/rotate-secret/"),
    ("delete", "/api/v1/webhooks/1/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_endpoint_refuses_missing_credentials(method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")
    body = assert_problem(response, 401, code="not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["title"] == "인증이 필요합니다."


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_endpoint_refuses_a_wrong_key(method, url, api):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + api.plain[:-3] + "xyz")
    assert_problem(getattr(client, method)(url, {}, format="json"), 401, code="invalid_api_key")


def test_garbage_and_revoked_keys_are_401(api):
    for header in ("Bearer nonsense", "Bearer cst_zz_zz", "Bearer "):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get("/api/v1/tickets/").status_code == 401
    assert api.get("/api/v1/tickets/").status_code == 200
    apikey_revoke(api.key)
    assert_problem(api.get("/api/v1/tickets/"), 401, code="invalid_api_key")


def test_x_api_key_header_and_last_used(api):
    assert ApiKey.objects.get(pk=api.key.pk).last_used_at is None
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api.plain)
    assert client.get("/api/v1/kinds/").status_code == 200
    assert ApiKey.objects.get(pk=api.key.pk).last_used_at is not None


def test_key_is_stored_hashed(api):
    row = ApiKey.objects.get(pk=api.key.pk)
    assert api.plain not in (row.key_hash, row.prefix)
    assert len(row.key_hash) == 64


def test_read_only_key_cannot_write(client_for, make_ticket):
    reader = client_for(name="reporting", scopes=("read",))
    assert reader.get("/api/v1/tickets/").status_code == 200
    assert_problem(reader.post("/api/v1/tickets/", penalty_body(), format="json"), 403, code="permission_denied")
    ticket = make_ticket()
    url = f"/api/v1/tickets/{ticket.reference}/transitions/"
    assert_problem(reader.post(url, {"to_status": "in_progress"}, format="json"), 403)


def test_write_only_key_cannot_read(client_for):
    writer = client_for(name="writer", scopes=("write",))
    assert_problem(writer.get("/api/v1/tickets/"), 403)
    assert writer.post("/api/v1/tickets/", penalty_body(), format="json").status_code == 201


def test_kind_scoped_key_sees_and_writes_only_its_kinds(client_for, make_ticket):
    penalty = make_ticket()
    other = make_ticket(kind="pet-cs-inquiry", details={"issue_type": "payment", "description": "결제 문의"})
    ops_tool = client_for(name="driver-ops", scopes=("read", "write"), kinds=("driver-penalty-request",))
    listed = [t["reference"] for t in ops_tool.get("/api/v1/tickets/").json()["results"]]
    assert listed == [penalty.reference]
    assert ops_tool.get(f"/api/v1/tickets/{penalty.reference}/").status_code == 200
    assert_problem(ops_tool.get(f"/api/v1/tickets/{other.reference}/"), 404)
    assert_problem(ops_tool.post(f"/api/v1/tickets/{other.reference}/recontacts/", {}, format="json"), 404)
    kinds = [k["code"] for k in ops_tool.get("/api/v1/kinds/").json()]
    assert kinds == ["driver-penalty-request"]
    body = {"kind": "pet-cs-inquiry", "details": {"issue_type": "payment", "description": "x"}}
    assert_problem(ops_tool.post("/api/v1/tickets/", body, format="json"), 403)
    followup_tickets = {f["ticket"] for f in ops_tool.get("/api/v1/followups/").json()["results"]}
    assert followup_tickets <= {penalty.reference}


def test_session_users_by_role(session_client, agent, operator, supervisor, make_ticket):
    ticket = make_ticket()
    assert session_client(agent).get("/api/v1/tickets/").status_code == 200
    # Operations only see the boards they belong to (and tickets assigned to them).
    ops = session_client(operator)
    assert ops.get("/api/v1/tickets/").json()["results"] == []
    assert_problem(ops.get(f"/api/v1/tickets/{ticket.reference}/"), 404)
    ticket.board.members.add(operator)
    assert [t["reference"] for t in ops.get("/api/v1/tickets/").json()["results"]] == [ticket.reference]
    # Agents may not reschedule follow-ups; supervisors may.
    fu = ticket.followups.first()
    body = {"due_at": "2030-01-02T10:00:00+09:00", "reason": "고객 요청"}
    assert_problem(session_client(agent).post(f"/api/v1/followups/{fu.pk}/reschedule/", body, format="json"), 403)
    sup = session_client(supervisor)
    assert sup.post(f"/api/v1/followups/{fu.pk}/reschedule/", body, format="json").status_code == 200


def test_user_without_any_role_is_forbidden(session_client):
    nobody = make_user("nobody")
    assert_problem(session_client(nobody).get("/api/v1/tickets/"), 403)


def test_session_post_needs_csrf(agent):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)
    assert_problem(client.post("/api/v1/tickets/", penalty_body(), format="json"), 403)


def test_throttled_per_key(client_for):
    slow = client_for(name="slow", rate_per_minute=3)
    fast = client_for(name="fast", rate_per_minute=100)
    for _ in range(3):
        assert slow.get("/api/v1/kinds/").status_code == 200
    response = slow.get("/api/v1/kinds/")
    assert_problem(response, 429, code="throttled")
    assert int(response["Retry-After"]) > 0
    assert fast.get("/api/v1/kinds/").status_code == 200


def test_create_api_key_command_prints_the_key_once():
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_key",
        "callcentre",
        "--scope",
        "read,write",
        "--kinds",
        "driver-penalty-request",
        stdout=out,
        stderr=err,
    )
    plain = out.getvalue().strip()
    key = ApiKey.objects.get(name="callcentre")
    assert plain.startswith(f"cst_{key.prefix}_")
    assert key.can_read and key.can_write and not key.can_manage_followups
    assert key.kinds == ["driver-penalty-request"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert client.get("/api/v1/tickets/").status_code == 200
    call_command("create_api_key", "callcentre", "--revoke", stdout=io.StringIO())
    assert client.get("/api/v1/tickets/").status_code == 401


def test_create_api_key_command_rejects_bad_input():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_key", "x", "--scope", "admin", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError):
        call_command("create_api_key", "x", "--kinds", "nope", stdout=io.StringIO(), stderr=io.StringIO())


def test_roles_fixture_sanity(agent):
    assert roles.AGENT in roles.user_roles(agent)
