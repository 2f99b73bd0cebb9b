"""Provider report webhooks: the provider tells us, later, whether an accepted message reached the
phone. Thin: check the signature, parse, hand the reports to `services.messages_apply_reports`.

Signed like our outgoing webhooks: `X-Cstrack-Timestamp` (Unix seconds) and
`X-Cstrack-Signature` = hex HMAC-SHA256(SOLAPI_WEBHOOK_SECRET, f"{timestamp}.{raw body}"); several
comma-separated signatures are accepted during a secret rotation. A timestamp more than
REPORT_MAX_AGE_SECONDS (300) from our clock is refused, and a signature already seen inside
that window is answered 200 without being applied again (a replay, or the provider retrying a
delivery we already took). Applying a report is idempotent in any case.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .providers.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from .providers.solapi import parse_reports

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


def _max_age() -> int:
    return int(getattr(settings, "REPORT_MAX_AGE_SECONDS", 300))


def _secrets() -> list[str]:
    value = getattr(settings, "SOLAPI_WEBHOOK_SECRET", "") or ""
    return [s.strip() for s in value.split(",") if s.strip()]


def verify_signature(request, body: bytes, secrets: list[str]) -> str | None:
    """The problem with the request's signature, or None if it is authentic and fresh."""
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    given = [s.strip() for s in request.headers.get(SIGNATURE_HEADER, "").split(",") if s.strip()]
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return "missing or malformed timestamp"
    if age > _max_age():
        return "stale timestamp"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    expected = [sign(secret, timestamp, text) for secret in secrets]
    if not any(hmac.compare_digest(e, g) for e in expected for g in given):
        return "bad signature"
    return None


@csrf_exempt
@require_POST
def solapi_reports(request):
    secrets = _secrets()
    if not secrets:
        return HttpResponse(status=404)  # reports are not configured here
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return JsonResponse({"detail": "body too large"}, status=413)
    problem = verify_signature(request, body, secrets)
    if problem:
        logger.warning("solapi report webhook refused: %s", problem)
        return JsonResponse({"detail": problem}, status=401)
    signature = request.headers.get(SIGNATURE_HEADER, "").split(",")[0].strip()
    if not cache.add(f"notifications:report:{signature}", 1, timeout=2 * _max_age()):
        return JsonResponse({"duplicate": True})
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return JsonResponse({"detail": "body is not JSON"}, status=400)
    counts = services.messages_apply_reports("solapi", parse_reports(data))
    return JsonResponse(counts)
