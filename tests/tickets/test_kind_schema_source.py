"""One schema source per kind version: what the API advertises is what it validates against, and
a kind without any schema version answers a field error (400), never a 500."""

import copy
import html
import json

import pytest
from rest_framework.test import APIClient

from tickets.api.keys import apikey_create
from tickets.kinds import services as kind_services
from tickets.models import Board, Ticket, TicketKind

from .conftest import VALID

pytestmark = pytest.mark.django_db
NO_SCHEMA = "'빈 양식' 유형에는 아직 입력 양식(필드 스키마)이 없어 접수할 수 없습니다. 관리자에게 문의해 주세요."


@pytest.fixture
def api(db):
    _key, plain = apikey_create(name="schema-source", scopes=("read", "write"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


@pytest.fixture
def bare_kind(db):
    """A kind an administrator created without a schema version (e.g. straight in the database)."""
    return TicketKind.objects.create(
        code="bare-kind",
        name="빈 양식",
        service_line="pet",
        default_board=Board.objects.get(code="pet-cs"),
        category_path="펫 > 기타",
    )


def test_a_kind_without_a_schema_is_a_field_error_through_the_api(api, bare_kind):
    response = api.post("/api/v1/tickets/", {"kind": "bare-kind", "details": {}}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["kind"] == [NO_SCHEMA]
    assert not Ticket.objects.exists()
    # The kind is still listed, with an empty schema and no version.
    listed = api.get("/api/v1/kinds/bare-kind/").json()
    assert (listed["schema_version"], listed["json_schema"]["properties"]) == (None, {})


def test_a_kind_without_a_schema_is_a_field_error_in_the_console(client, agent, bare_kind):
    client.force_login(agent)
    assert client.get("/tickets/new/?kind=bare-kind").status_code == 200
    response = client.post("/tickets/new/", {"kind": "bare-kind", "channel": "phone", "requester_type": "customer"})
    assert response.status_code == 400
    assert NO_SCHEMA in html.unescape(response.content.decode())
    assert not Ticket.objects.exists()


def test_the_api_advertises_the_version_it_validates_against(api):
    kind = TicketKind.objects.get(code="pet-cs-inquiry")
    schema = copy.deepcopy(kind.schema)
    schema["fields"].append({"name": "order_no", "label": "주문 번호", "type": "text", "required": True})
    kind_services.kind_save_schema(kind, schema)

    advertised = api.get("/api/v1/kinds/pet-cs-inquiry/").json()
    assert advertised["schema_version"] == 2
    assert "order_no" in advertised["json_schema"]["required"]
    body = {"kind": "pet-cs-inquiry", "details": VALID["pet-cs-inquiry"][0]}
    refused = api.post("/api/v1/tickets/", body, format="json")
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["details.order_no"]
    created = api.post("/api/v1/tickets/", advertised["example"], format="json")
    assert created.status_code == 201 and created.json()["schema_version"] == 2


def test_the_admin_saves_a_schema_change_as_a_new_version_only(admin_client):
    kind = TicketKind.objects.get(code="pet-cs-inquiry")
    page = admin_client.get(f"/admin/tickets/ticketkind/{kind.pk}/change/").content.decode()
    assert "issue_type" in page  # the current version is what the form shows
    schema = copy.deepcopy(kind.schema)
    schema["fields"][1]["label"] = "탐색한 내용"
    data = {
        "code": kind.code,
        "name": kind.name,
        "description": kind.description,
        "service_line": kind.service_line,
        "default_board": kind.default_board_id,
        "category_path": kind.category_path,
        "schema": json.dumps(schema),
        "outcomes": "[]",
        "outcomes_needing_reason": "[]",
        "retention_days": kind.retention_days,
        "default_requester_type": kind.default_requester_type,
        "behaviours": "{}",
        "active": "on",
        "sort_order": kind.sort_order,
    }
    response = admin_client.post(f"/admin/tickets/ticketkind/{kind.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:1500]
    fresh = TicketKind.objects.get(pk=kind.pk)
    assert [v.version for v in fresh.schema_versions.order_by("version")] == [1, 2]
    assert fresh.schema == schema
    assert "schema" not in {f.name for f in TicketKind._meta.get_fields()}  # one source: the versions


def test_kind_schema_reads_prefetched_versions(django_assert_num_queries):
    kinds = list(TicketKind.objects.prefetch_related("schema_versions"))
    with django_assert_num_queries(0):
        assert all(kind.schema["fields"] for kind in kinds)
