"""Idempotency-Key for POST requests, per client, kept 24 hours.

* First request with a key: a row is claimed (state in_progress) before the view runs; its
  response (status, body, Location/ETag) is stored when it finishes.
* Same key and same request (method, path, body): the stored response is returned again,
  with `Idempotent-Replayed: true`.
* Same key, different request: 422. Same key while the first is still running: 409.
* A 5xx or a crash releases the key, so the client may retry with it. So does a response
  marked `Cache-Control: no-store` (revealed contact data is never stored here).
The unique (client, key) constraint decides races: exactly one request wins the claim.
"""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer

from cstrack.models import IDEMPOTENCY_TTL_HOURS, IdempotencyRecord

from .errors import IdempotencyConflict, IdempotencyMismatch

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255
# A claim older than this whose request never finished (process killed) may be taken over.
ABANDONED_AFTER = timedelta(minutes=5)
STORED_HEADERS = ("Location", "ETag")


def request_key(request) -> str | None:
    raw = request.META.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise exceptions.ValidationError(
            {"Idempotency-Key": [f"중복 방지 키는 1~{MAX_KEY_LENGTH}자의 ASCII 문자여야 합니다."]}
        )
    return key


def fingerprint(request) -> str:
    if (request.content_type or "").lower().startswith("multipart/form-data"):
        canonical = _multipart_canonical(request)
    else:
        raw = request._request.body or b""
        try:
            canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            canonical = raw
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode(), canonical):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _multipart_canonical(request) -> bytes:
    """An upload's fields and files (name, size, SHA-256 of the bytes): the raw body has a random
    boundary, and it has been parsed already."""
    parts = []
    for name, values in sorted(request.data.lists()):
        for value in values:
            if hasattr(value, "read"):
                digest = hashlib.sha256()
                for chunk in value.chunks():
                    digest.update(chunk)
                value.seek(0)
                parts.append([name, value.name, value.size, digest.hexdigest()])
            else:
                parts.append([name, str(value)])
    return json.dumps(parts, ensure_ascii=False).encode()


def claim(client: str, key: str, fp: str):
    """Returns (record, None) if this request owns the key now, or (None, stored) to replay."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(
        client=client, key=key, created_at__lt=now - timedelta(hours=IDEMPOTENCY_TTL_HOURS)
    ).delete()
    IdempotencyRecord.objects.filter(
        client=client, key=key, state=IdempotencyRecord.State.IN_PROGRESS, created_at__lt=now - ABANDONED_AFTER
    ).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(client=client, key=key, fingerprint=fp), None
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(client=client, key=key).first()
    if existing is None or existing.state == IdempotencyRecord.State.IN_PROGRESS:
        if existing is not None and existing.fingerprint != fp:
            raise IdempotencyMismatch()
        raise IdempotencyConflict()
    if existing.fingerprint != fp:
        raise IdempotencyMismatch()
    return None, existing


def complete(record: IdempotencyRecord, response) -> None:
    # A 5xx may be retried; a `no-store` answer (an unmasked contact number) is never kept in
    # the database: the key is released, and a retry performs (and audits) the request again.
    if response.status_code >= 500 or "no-store" in response.get("Cache-Control", ""):
        release(record)
        return
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    headers = {h: response[h] for h in STORED_HEADERS if response.has_header(h)}
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE,
        response_status=response.status_code,
        response_body=body,
        response_headers=headers,
    )


def release(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS).delete()
