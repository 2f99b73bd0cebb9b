"""Generic signed webhook. The recipient is the URL; signed like the HTTP gateway.

POST JSON {idempotency_key, type, subject, text, created_at} with X-Cstrack-Timestamp and
X-Cstrack-Signature = hex HMAC-SHA256(secret, f"{timestamp}.{body}").

Secrets: if settings.WEBHOOK_SECRET_RESOLVER names a callable (dotted path) it is called
with the message and returns the secrets to sign with, newest first (e.g. a per-subscription
secret plus the previous one during a rotation); the header then carries one signature per
secret, comma-separated, and a receiver accepts the request if any matches. Otherwise, or if it
returns nothing, the secret is settings.WEBHOOK_SIGNING_SECRET, else HTTP_GATEWAY_SECRET.
Secrets never go into a message row or a task argument.

Receivers should de-duplicate on idempotency_key (also sent as X-Cstrack-Idempotency-Key): a
generic endpoint cannot be queried, so lookup() is not supported.
"""

import json
import time

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Provider, ProviderConfigurationError
from .gateway import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, raise_for_status, request, sign


def webhook_secret() -> str:
    secret = getattr(settings, "WEBHOOK_SIGNING_SECRET", "") or getattr(settings, "HTTP_GATEWAY_SECRET", "") or ""
    if not secret:
        raise ProviderConfigurationError("WEBHOOK_SIGNING_SECRET (or HTTP_GATEWAY_SECRET) is not set")
    return secret


def webhook_secrets(message) -> list[str]:
    path = getattr(settings, "WEBHOOK_SECRET_RESOLVER", "") or ""
    if path:
        try:
            resolver = import_string(path)
        except ImportError:
            raise ProviderConfigurationError("WEBHOOK_SECRET_RESOLVER does not name a callable") from None
        found = [s for s in (resolver(message) or []) if s]
        if found:
            return found
    return [webhook_secret()]


class SignedWebhookProvider(Provider):
    name = "webhook"

    def send(self, message) -> str:
        payload = {
            "idempotency_key": message.idempotency_key,
            "type": message.message_type,
            "subject": message.subject,
            "text": message.body,
            "created_at": message.created_at.isoformat() if message.created_at else None,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        timestamp = str(int(time.time()))
        signatures = ",".join(sign(secret, timestamp, body) for secret in webhook_secrets(message))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signatures,
            IDEMPOTENCY_HEADER: message.idempotency_key,
        }
        resp = request("POST", message.recipient, body=body.encode("utf-8"), headers=headers, what="webhook")
        raise_for_status(resp, "webhook")
        return f"webhook:{message.idempotency_key}"
