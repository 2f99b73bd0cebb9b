"""Attachments: files on a ticket, encrypted at rest, typed by content, downloads audited.

* Accepted types are detected from the bytes (magic numbers), never from the name or the
  client's Content-Type: PDF, PNG, JPEG and ZIP (encrypted archives of record PDFs).
* Size: at most settings.ATTACHMENT_MAX_BYTES (default 10 MB), never empty.
* Storage: Fernet over the bytes with the personal-data keys (cstrack.pii.fernet(): the first
  key encrypts, every key decrypts), in MEDIA_ROOT/attachments/<random>.bin. The original name
  is kept only sanitised, with phone numbers and e-mail addresses masked.
* Downloads: tickets.download_attachment only (operations, supervisor, administrator), each one
  a TicketEvent. Deleting removes the file and keeps the row (deleted_at) and the audit.
* Kinds with delete_attachments_on_completion lose their files when the ticket is completed;
  the retention purge deletes the files of the tickets it purges.
"""

import hashlib
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpResponse

from cstrack import calendar, pii
from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainValidationError, NotFound
from cstrack.logging import scrub
from tickets import audit
from tickets.access.policy import ensure
from tickets.locking import locked_ticket
from tickets.models import Attachment, EventType, Status, Ticket
from tickets.validation import refuse_contact_in_text

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DIRECTORY = "attachments"
COMPLETED_STATUSES = (Status.ACTION_TAKEN, Status.RESOLVED, Status.CLOSED)
DOWNLOAD_PERMISSION = "tickets.download_attachment"

# (magic prefix, content type, extension)
SIGNATURES = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"PK\x03\x04", "application/zip", "zip"),
)
ALLOWED_TYPES = {content_type: ext for _magic, content_type, ext in SIGNATURES}


def max_bytes() -> int:
    return int(getattr(settings, "ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def sniff(head: bytes) -> str | None:
    """The content type the bytes really are, or None if not an accepted type."""
    for magic, content_type, _ext in SIGNATURES:
        if head.startswith(magic):
            return content_type
    return None


_UNSAFE = re.compile(r"[^\w.\- ()\[\]가-힣]+")


def sanitise_name(raw: str, content_type: str) -> str:
    """A display name: no path, no control characters, personal data masked, the extension of
    the detected type, at most 150 characters."""
    name = unicodedata.normalize("NFC", str(raw or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = scrub(name)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = _UNSAFE.sub("_", stem).strip(" ._") or "attachment"
    ext = ALLOWED_TYPES[content_type]
    return f"{stem[: 150 - len(ext) - 1]}.{ext}"


def _read_capped(content) -> bytes:
    """bytes, or a file-like object read in chunks, never more than the limit + 1 byte."""
    limit = max_bytes()
    if isinstance(content, bytes | bytearray):
        return bytes(content[: limit + 1])
    chunks, total = [], 0
    if hasattr(content, "seek"):
        content.seek(0)
    while total <= limit:
        chunk = content.read(min(64 * 1024, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _actor_user(actor: Actor):
    return actor.user if getattr(actor.user, "pk", None) else None


def _storage_path(name: str) -> str:
    return f"{DIRECTORY}/{name}"


# --- Add -----------------------------------------------------------------------------------------


@transaction.atomic
def attachment_add(ticket: Ticket, *, actor: Actor, name: str, content) -> Attachment:
    """Check, encrypt and store a file on the ticket; audited (type, size, hash; no content)."""
    ensure(actor, "add_attachment", ticket)
    data = _read_capped(content)
    limit = max_bytes()
    if not data:
        raise DomainValidationError({"file": ["빈 파일은 첨부할 수 없습니다."]})
    if len(data) > limit:
        raise DomainValidationError(
            {"file": [f"파일이 너무 큽니다. {limit // (1024 * 1024)}MB 이하만 첨부할 수 있습니다."]}
        )
    content_type = sniff(data[:16])
    if content_type is None:
        raise DomainValidationError(
            {
                "file": [
                    "PDF, PNG, JPEG 또는 ZIP(암호화 압축) 파일만 첨부할 수 있습니다. 파일 내용으로 형식을 확인합니다."
                ]
            }
        )
    ticket = locked_ticket(ticket)
    if ticket.contact_purged_at:
        raise Conflict("개인정보가 이미 삭제된 티켓에는 파일을 첨부할 수 없습니다.")
    if not ticket.is_open:
        raise Conflict("종료되거나 취소된 티켓에는 파일을 첨부할 수 없습니다.")
    if ticket.kind.delete_attachments_on_completion and ticket.status in COMPLETED_STATUSES:
        raise Conflict("완료된 티켓입니다. 이 유형의 첨부파일은 완료 시 삭제되므로 더 첨부할 수 없습니다.")

    storage_name = f"{secrets.token_hex(20)}.bin"
    stored = default_storage.save(_storage_path(storage_name), ContentFile(pii.fernet().encrypt(data)))
    # If this transaction rolls back the row never exists; the orphan sweep removes the file.
    attachment = Attachment.objects.create(
        ticket=ticket,
        original_name=sanitise_name(name, content_type),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_name=stored.rsplit("/", 1)[-1],
        uploaded_by=_actor_user(actor),
        uploaded_by_label=actor.label[:100],
        uploaded_at=calendar.now(),
    )
    audit.record(
        ticket,
        EventType.ATTACHMENT_ADDED,
        actor,
        attachment=attachment.pk,
        name=attachment.original_name,
        content_type=content_type,
        size=attachment.size,
        sha256=attachment.sha256,
    )
    return attachment


# --- Open ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedAttachment:
    attachment: Attachment
    content: bytes

    def as_download(self) -> HttpResponse:
        """The decrypted file as a download that no browser renders or caches (API and console)."""
        attachment = self.attachment
        response = HttpResponse(self.content, content_type=attachment.content_type)
        ascii_name = attachment.original_name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
        response["Content-Disposition"] = (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(attachment.original_name)}"
        )
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


def attachment_get(attachment_id) -> Attachment:
    if not str(attachment_id).isdigit():
        raise NotFound("첨부파일을 찾을 수 없습니다.")
    found = Attachment.objects.select_related("ticket", "ticket__kind").filter(pk=int(attachment_id)).first()
    if found is None:
        raise NotFound("첨부파일을 찾을 수 없습니다.")
    return found


@transaction.atomic
def attachment_open(attachment: Attachment, *, actor: Actor) -> OpenedAttachment:
    """Decrypt a file for a permitted user; every download is audited."""
    ensure(actor, "download_attachment", attachment)
    attachment = Attachment.objects.select_for_update().get(pk=attachment.pk)
    if attachment.deleted_at:
        raise Conflict("삭제된 첨부파일입니다.", code="attachment_deleted")
    try:
        with default_storage.open(_storage_path(attachment.storage_name), "rb") as handle:
            token = handle.read()
    except FileNotFoundError:
        raise Conflict("첨부파일 원본이 없습니다. 관리자에게 문의해 주세요.", code="attachment_missing") from None
    data = pii.fernet().decrypt(token)
    if hashlib.sha256(data).hexdigest() != attachment.sha256:
        raise Conflict("첨부파일이 손상되었습니다. 관리자에게 문의해 주세요.", code="attachment_corrupt")
    audit.record(
        attachment.ticket,
        EventType.ATTACHMENT_DOWNLOADED,
        actor,
        attachment=attachment.pk,
        name=attachment.original_name,
        sha256=attachment.sha256,
    )
    return OpenedAttachment(attachment, data)


# --- Delete --------------------------------------------------------------------------------------


def _remove_file_on_commit(storage_name: str) -> None:
    def remove():
        default_storage.delete(_storage_path(storage_name))

    transaction.on_commit(remove)


@transaction.atomic
def attachment_delete(attachment: Attachment, *, actor: Actor, reason: str) -> Attachment:
    """Remove the file (after commit) and keep the row with deleted_at; audited."""
    refuse_contact_in_text({"reason": reason})
    attachment = Attachment.objects.select_for_update().select_related("ticket").get(pk=attachment.pk)
    if attachment.deleted_at:
        return attachment
    if not (reason or "").strip():
        raise DomainValidationError({"reason": ["삭제 사유를 입력해 주세요."]})
    attachment.deleted_at = calendar.now()
    attachment.deleted_reason = reason.strip()[:200]
    attachment.save(update_fields=["deleted_at", "deleted_reason"])
    _remove_file_on_commit(attachment.storage_name)
    audit.record(
        attachment.ticket,
        EventType.ATTACHMENT_DELETED,
        actor,
        attachment=attachment.pk,
        name=attachment.original_name,
        reason=attachment.deleted_reason,
    )
    return attachment


def delete_all_for(ticket: Ticket, *, actor: Actor, reason: str) -> int:
    """Delete every live attachment of a ticket (completion, purge). Inside the caller's
    transaction; files go after commit."""
    count = 0
    for attachment in Attachment.objects.filter(ticket=ticket, deleted_at__isnull=True).order_by("pk"):
        attachment_delete(attachment, actor=actor, reason=reason)
        count += 1
    return count


def on_status_change(ticket: Ticket, to_status: str, actor: Actor) -> None:
    """Kinds with delete_attachments_on_completion lose their files when completed."""
    if to_status in COMPLETED_STATUSES and ticket.kind.delete_attachments_on_completion:
        delete_all_for(ticket, actor=actor, reason=f"완료 시 첨부파일 삭제 (유형 정책, {to_status})")


# --- Sweep ---------------------------------------------------------------------------------------


def sweep_files(*, older_than=timedelta(hours=1)) -> int:
    """Remove files with no live row: deleted rows whose file removal did not run (a crash
    after commit) and files of uploads whose transaction rolled back. Only files older than
    `older_than`, so an upload in flight is left alone."""
    try:
        _dirs, files = default_storage.listdir(DIRECTORY)
    except FileNotFoundError:
        return 0
    live = set(Attachment.objects.filter(deleted_at__isnull=True).values_list("storage_name", flat=True))
    cutoff = calendar.now() - older_than
    removed = 0
    for name in files:
        if name in live:
            continue
        path = _storage_path(name)
        try:
            modified = default_storage.get_modified_time(path)
        except (FileNotFoundError, OSError):
            continue
        if modified < cutoff:
            default_storage.delete(path)
            removed += 1
    return removed


def rotate_files() -> int:
    """Re-encrypt every live file under the newest PII key (run by rotate_pii_keys). Each file
    is replaced atomically; a file already under the newest key is rewritten harmlessly."""
    count = 0
    for attachment in Attachment.objects.filter(deleted_at__isnull=True).order_by("pk").iterator():
        path = stored_path(attachment)
        try:
            with open(path, "rb") as handle:
                token = handle.read()
        except FileNotFoundError:
            continue
        rotated = pii.fernet().rotate(token)
        temporary = f"{path}.rotating"
        with open(temporary, "wb") as handle:
            handle.write(rotated)
        os.replace(temporary, path)
        count += 1
    return count


def stored_file_exists(attachment: Attachment) -> bool:
    return default_storage.exists(_storage_path(attachment.storage_name))


def stored_path(attachment: Attachment) -> str:
    """The file's path on disk (tests and proof of deletion)."""
    return os.path.join(default_storage.location, DIRECTORY, attachment.storage_name)
