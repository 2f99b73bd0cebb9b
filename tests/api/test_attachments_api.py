"""Attachments through the API: multipart upload, metadata list, download for console users
with tickets.download_attachment only (never API keys), audited; problem details otherwise."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tickets.models import EventType

from .helpers import assert_problem, penalty_body

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def ticket_ref(api):
    return api.post("/api/v1/tickets/", penalty_body(), format="json").json()["reference"]


@pytest.fixture
def on_board(operator):
    """Operations users see the tickets of their boards (the penalty ticket is on penalty-koc)."""
    from tickets.models import Board

    Board.objects.get(code="penalty-koc").members.add(operator)
    return operator


def _upload(client, ref, data=PDF, name="영수증.pdf", **extra):
    return client.post(
        f"/api/v1/tickets/{ref}/attachments/",
        {"file": SimpleUploadedFile(name, data, content_type="application/octet-stream")},
        format="multipart",
        **extra,
    )


def test_upload_list_and_download(api, ticket_ref, on_board, session_client):
    response = _upload(api, ticket_ref)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == "application/pdf" and body["size"] == len(PDF)
    assert body["original_name"] == "영수증.pdf" and body["ticket"] == ticket_ref
    assert response["Location"] == f"/api/v1/attachments/{body['id']}/"
    listed = api.get(f"/api/v1/tickets/{ticket_ref}/attachments/").json()
    assert [a["id"] for a in listed] == [body["id"]]
    assert api.get(f"/api/v1/attachments/{body['id']}/").json()["sha256"] == body["sha256"]

    ops = session_client(on_board)
    download = ops.get(body["content_url"], HTTP_ACCEPT="application/pdf")
    assert download.status_code == 200
    assert download.content == PDF
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["Cache-Control"] == "no-store" and download["X-Content-Type-Options"] == "nosniff"
    events = api.get(f"/api/v1/tickets/{ticket_ref}/").json()["events"]
    downloaded = [e for e in events if e["type"] == EventType.ATTACHMENT_DOWNLOADED]
    assert len(downloaded) == 1 and downloaded[0]["actor_label"] == on_board.username


def test_api_keys_and_agents_cannot_download(api, ticket_ref, agent, session_client):
    attachment = _upload(api, ticket_ref).json()
    assert_problem(api.get(attachment["content_url"]), 403, "permission_denied")
    assert_problem(session_client(agent).get(attachment["content_url"]), 403)


def test_operations_off_the_board_get_404(api, ticket_ref, operator, session_client):
    attachment = _upload(api, ticket_ref).json()
    assert_problem(session_client(operator).get(attachment["content_url"]), 404)


def test_content_type_is_checked_by_content(api, ticket_ref):
    body = assert_problem(_upload(api, ticket_ref, data=b"MZ\x90\x00not a pdf", name="r.pdf"), 400, "invalid", "file")
    assert "PDF" in body["errors"]["file"][0]


def test_too_large_is_refused_before_parsing(api, ticket_ref, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024
    assert_problem(_upload(api, ticket_ref, data=PDF + b"x" * 2000), 400, "invalid", "file")
    assert_problem(_upload(api, ticket_ref, data=PDF + b"x" * 200_000), 413, "payload_too_large")


def test_missing_file_and_json_body_are_problems(api, ticket_ref):
    assert_problem(api.post(f"/api/v1/tickets/{ticket_ref}/attachments/", {}, format="multipart"), 400, field="file")
    assert_problem(api.post(f"/api/v1/tickets/{ticket_ref}/attachments/", {"file": "x"}, format="json"), 415)


def test_read_only_key_cannot_upload(client_for, ticket_ref):
    reader = client_for(name="reader", scopes=("read",))
    assert_problem(_upload(reader, ticket_ref), 403)


def test_invisible_tickets_and_their_files_are_404(api, client_for, ticket_ref):
    attachment = _upload(api, ticket_ref).json()
    scoped = client_for(name="parking-only", kinds=("parking-season-pass-registration",))
    assert_problem(_upload(scoped, ticket_ref), 404)
    assert_problem(scoped.get(f"/api/v1/tickets/{ticket_ref}/attachments/"), 404)
    assert_problem(scoped.get(f"/api/v1/attachments/{attachment['id']}/"), 404)
    assert_problem(api.get("/api/v1/attachments/999999/"), 404)


def test_upload_is_idempotent(api, ticket_ref):
    first = _upload(api, ticket_ref, HTTP_IDEMPOTENCY_KEY="upload-1")
    again = _upload(api, ticket_ref, HTTP_IDEMPOTENCY_KEY="upload-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    other = _upload(api, ticket_ref, data=PDF + b"other", HTTP_IDEMPOTENCY_KEY="upload-1")
    assert_problem(other, 422)
    assert len(api.get(f"/api/v1/tickets/{ticket_ref}/attachments/").json()) == 1


def test_deleted_attachment_is_listed_without_content(api, ticket_ref, on_board, session_client):
    from tickets.models import Attachment
    from tickets.privacy import attachments

    attachment = _upload(api, ticket_ref).json()
    from cstrack.actors import Actor

    attachments.attachment_delete(Attachment.objects.get(pk=attachment["id"]), actor=Actor(), reason="완료")
    listed = api.get(f"/api/v1/tickets/{ticket_ref}/attachments/").json()
    assert listed[0]["deleted_at"] and listed[0]["content_url"] is None
    assert_problem(session_client(on_board).get(attachment["content_url"]), 409, "attachment_deleted")
