"""Attachments: typed by content, size-capped, encrypted at rest under a random name, served
only to permitted roles with every download audited, deleted on completion for the kinds that
say so and by the retention purge; the row and the audit stay as the proof."""

import hashlib
import io
import os
from datetime import datetime

import pytest
import time_machine
from django.core.management import call_command

from cstrack import calendar, pii
from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainValidationError, PermissionDenied
from tickets.lifecycle import services
from tickets.models import Attachment, EventType, Status
from tickets.privacy import attachments, contact, retention

from .conftest import JPEG, PDF, PNG, ZIP

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (ZIP, "application/zip")],
)
def test_type_is_detected_from_the_content(cs_ticket, actor, data, content_type):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="영수증.exe", content=data)
    assert a.content_type == content_type
    assert a.original_name.endswith("." + attachments.ALLOWED_TYPES[content_type])


@pytest.mark.parametrize(
    "data",
    [b"MZ\x90\x00 windows executable", b"<html><script>alert(1)</script>", b"GIF89a....", b"plain text", b" %PDF-1.4"],
)
def test_other_content_is_refused_whatever_the_name(cs_ticket, actor, data):
    with pytest.raises(DomainValidationError) as exc:
        attachments.attachment_add(cs_ticket, actor=actor, name="receipt.pdf", content=data)
    assert "file" in exc.value.field_errors
    assert not Attachment.objects.exists()


def test_empty_and_oversized_files_are_refused(cs_ticket, actor, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024
    with pytest.raises(DomainValidationError):
        attachments.attachment_add(cs_ticket, actor=actor, name="a.pdf", content=b"")
    with pytest.raises(DomainValidationError):
        attachments.attachment_add(cs_ticket, actor=actor, name="a.pdf", content=io.BytesIO(PDF + b"x" * 1024))
    assert attachments.attachment_add(cs_ticket, actor=actor, name="a.pdf", content=PDF + b"x" * (1024 - len(PDF)))


def test_default_limit_is_ten_megabytes(settings):
    del settings.ATTACHMENT_MAX_BYTES
    assert attachments.max_bytes() == 10 * 1024 * 1024


def test_encrypted_at_rest_under_a_random_name(cs_ticket, actor):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="../../etc/홍길동 영수증.pdf", content=PDF)
    path = attachments.stored_path(a)
    assert os.path.dirname(path).endswith("attachments")
    assert "영수증" not in os.path.basename(path) and len(os.path.basename(path)) == 44
    with open(path, "rb") as handle:
        stored = handle.read()
    assert b"%PDF" not in stored and PDF not in stored
    assert pii.fernet().decrypt(stored) == PDF
    assert a.sha256 == hashlib.sha256(PDF).hexdigest() and a.size == len(PDF)
    assert a.original_name == "홍길동 영수증.pdf"


def test_personal_data_in_the_name_is_masked(cs_ticket, actor):
    a = attachments.attachment_add(
        cs_ticket, actor=actor, name="receipt_010-9876-5432_kim.lee@example.com.png", content=PNG
    )
    assert "9876" not in a.original_name and "kim.lee" not in a.original_name
    assert a.original_name.endswith(".png")


def test_adding_is_audited_without_content(cs_ticket, actor):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
    event = cs_ticket.events.get(type=EventType.ATTACHMENT_ADDED)
    assert event.data == {
        "attachment": a.pk,
        "name": "r.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": a.sha256,
    }


def test_download_for_permitted_roles_only_and_every_download_audited(cs_ticket, actor, operator, supervisor):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
    with pytest.raises(PermissionDenied):
        attachments.attachment_open(a, actor=actor)  # agents log tickets, they do not download files
    with pytest.raises(PermissionDenied):
        attachments.attachment_open(a, actor=Actor(label="system"))
    for user in (operator, supervisor, operator):
        assert attachments.attachment_open(a, actor=Actor.for_user(user)).content == PDF
    downloads = cs_ticket.events.filter(type=EventType.ATTACHMENT_DOWNLOADED)
    assert [e.actor for e in downloads] == [operator, supervisor, operator]
    assert all(e.data["attachment"] == a.pk for e in downloads)


def test_tampered_file_is_refused(cs_ticket, actor, operator):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
    with open(attachments.stored_path(a), "wb") as handle:
        handle.write(pii.fernet().encrypt(PDF + b"tampered"))
    with pytest.raises(Conflict) as exc:
        attachments.attachment_open(a, actor=Actor.for_user(operator))
    assert exc.value.code == "attachment_corrupt"


def test_delete_removes_the_file_and_keeps_the_row(cs_ticket, actor, operator, django_capture_on_commit_callbacks):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
    path = attachments.stored_path(a)
    with pytest.raises(DomainValidationError):
        attachments.attachment_delete(a, actor=actor, reason="")
    with django_capture_on_commit_callbacks(execute=True):
        attachments.attachment_delete(a, actor=actor, reason="고객 요청")
    a.refresh_from_db()
    assert a.deleted_at and a.deleted_reason == "고객 요청" and not os.path.exists(path)
    assert cs_ticket.events.filter(type=EventType.ATTACHMENT_DELETED, data__attachment=a.pk).exists()
    with pytest.raises(Conflict) as exc:
        attachments.attachment_open(a, actor=Actor.for_user(operator))
    assert exc.value.code == "attachment_deleted"


def _record_with_file(record_ticket, actor, supervisor):
    services.ticket_confirm_manager(record_ticket, manager_name="김관리", actor=Actor.for_user(supervisor))
    return attachments.attachment_add(record_ticket, actor=actor, name="이용기록.zip", content=ZIP)


def test_record_issuance_files_are_deleted_on_completion(
    record_ticket, actor, supervisor, django_capture_on_commit_callbacks
):
    a = _record_with_file(record_ticket, actor, supervisor)
    path = attachments.stored_path(a)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_record_outcome(record_ticket, outcome="issued", actor=Actor.for_user(supervisor))
    record_ticket.refresh_from_db()
    assert record_ticket.status == Status.ACTION_TAKEN
    a.refresh_from_db()
    assert a.deleted_at and not os.path.exists(path)
    assert record_ticket.events.filter(type=EventType.ATTACHMENT_DELETED).count() == 1
    with pytest.raises(Conflict):  # completed: a new file would never be deleted
        attachments.attachment_add(record_ticket, actor=actor, name="again.zip", content=ZIP)


def test_sales_statement_files_are_deleted_on_resolve(make_ticket, actor, django_capture_on_commit_callbacks):
    ticket = make_ticket(
        "mate-sales-statement",
        details={
            "request_detail": "10월 매출",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "email": "mate.one@example.com",
        },
        driver_id="MATE-1",
        consent_basis="newly_collected",
    )
    a = attachments.attachment_add(ticket, actor=actor, name="매출.zip", content=ZIP)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=actor)
        assert Attachment.objects.get(pk=a.pk).deleted_at is None
        services.ticket_transition(ticket, to_status=Status.RESOLVED, actor=actor)
    a.refresh_from_db()
    assert a.deleted_at and not attachments.stored_file_exists(a)


def test_other_kinds_keep_files_on_completion(cs_ticket, actor):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
    services.ticket_transition(cs_ticket, to_status=Status.IN_PROGRESS, actor=actor)
    services.ticket_transition(cs_ticket, to_status=Status.RESOLVED, actor=actor)
    a.refresh_from_db()
    assert a.deleted_at is None and attachments.stored_file_exists(a)


def test_a_rolled_back_completion_keeps_the_file(record_ticket, actor, supervisor):
    a = _record_with_file(record_ticket, actor, supervisor)
    with pytest.raises(RuntimeError), django_db_atomic():
        services.ticket_record_outcome(record_ticket, outcome="issued", actor=Actor.for_user(supervisor))
        raise RuntimeError
    a.refresh_from_db()
    assert a.deleted_at is None and attachments.stored_file_exists(a)


def django_db_atomic():
    from django.db import transaction

    return transaction.atomic()


def test_retention_purge_deletes_files_and_dry_run_lists_them(make_ticket, actor, capsys, settings):
    start = datetime(2026, 1, 5, 10, 0, tzinfo=calendar.KST)
    with time_machine.travel(start, tick=False):
        ticket = make_ticket(
            "pet-cs-inquiry",
            details={"issue_type": "payment", "description": "영수증 첨부"},
            member_id="M-9",
            consent_basis="existing_member",
        )
        a = attachments.attachment_add(ticket, actor=actor, name="r.jpg", content=JPEG)
        services.ticket_transition(ticket, to_status=Status.CANCELLED, actor=actor)
    later = calendar.after_seconds(start, (ticket.kind.retention_days + 1) * 86400)
    with time_machine.travel(later, tick=False):
        # Holding a file alone (no contact data) makes the ticket a candidate.
        assert [c.reference for c in retention.purge_candidates()] == [ticket.reference]
        call_command("purge_personal_data", "--dry-run")
        assert ticket.reference in capsys.readouterr().out
        assert Attachment.objects.get(pk=a.pk).deleted_at is None  # a dry run changes nothing
        call_command("purge_personal_data")
    a.refresh_from_db()
    # (on_commit callbacks do not run inside the test transaction: the run's final sweep is what
    # removed the file here, as it would after a crash between commit and removal.)
    assert a.deleted_at and not attachments.stored_file_exists(a)
    purge = ticket.events.get(type=EventType.PURGED)
    assert "attachments:1" in purge.data["fields"]


def test_dry_run_lists_leftover_files_of_completed_kinds(record_ticket, actor, supervisor, capsys):
    a = _record_with_file(record_ticket, actor, supervisor)
    # As if the kind's flag was switched on after completion: the file is still there.
    record_ticket.kind.delete_attachments_on_completion = False
    record_ticket.kind.save()
    services.ticket_record_outcome(record_ticket, outcome="issued", actor=Actor.for_user(supervisor))
    record_ticket.kind.delete_attachments_on_completion = True
    record_ticket.kind.save()
    call_command("purge_personal_data", "--dry-run")
    out = capsys.readouterr().out
    assert f"attachment {a.pk}" in out and "1 attachment(s)" in out
    retention.purge_expired()
    assert Attachment.objects.get(pk=a.pk).deleted_at


def test_sweep_leaves_live_and_recent_files(cs_ticket, actor):
    a = attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
    orphan = os.path.join(os.path.dirname(attachments.stored_path(a)), "orphan.bin")
    with open(orphan, "wb") as handle:
        handle.write(b"x")
    written_at = calendar.now().timestamp()  # the file system keeps the real clock; use ours
    os.utime(orphan, (written_at, written_at))
    assert attachments.sweep_files() == 0  # the orphan is too recent: maybe an upload in flight
    with time_machine.travel(calendar.after_seconds(calendar.now(), 7200), tick=False):
        assert attachments.sweep_files() == 1
    assert attachments.stored_file_exists(a) and not os.path.exists(orphan)


def test_purged_or_closed_tickets_take_no_files(cs_ticket, actor):
    contact.ticket_purge_contact(cs_ticket, actor=actor, reason="시험")
    with pytest.raises(Conflict):
        attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
