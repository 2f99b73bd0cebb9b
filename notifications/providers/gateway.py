"""HTTP plumbing shared by the HTTP providers (stdlib urllib only), and the generic gateway.

Status mapping: 2xx ok; 408, 429 and 5xx -> TemporaryProviderError; other 4xx ->
PermanentProviderError; timeout or connection reset -> TemporaryProviderError that may have
been delivered; connection refused or DNS failure -> TemporaryProviderError, not delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from cstrack import outbound

from .base import PermanentProviderError, Provider, ProviderConfigurationError, TemporaryProviderError

TIMESTAMP_HEADER = "X-Cstrack-Timestamp"
SIGNATURE_HEADER = "X-Cstrack-Signature"
IDEMPOTENCY_HEADER = "X-Cstrack-Idempotency-Key"
USER_AGENT = "cstrack-notifications/1"
TEMPORARY_STATUSES = {408, 425, 429}


@dataclass
class HttpResponse:
    status: int
    body: bytes

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None


def timeout() -> float:
    return float(getattr(settings, "PROVIDER_TIMEOUT", 5.0))


def sign(secret: str, timestamp: str, body: str) -> str:
    """Hex HMAC-SHA256 over f"{timestamp}.{body}" (the gateway and webhook signature)."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


def request(method: str, url: str, *, body: bytes | None = None, headers: dict | None = None, what: str = "provider"):
    """Perform one HTTP request. Returns HttpResponse for any status; raises only for transport
    errors (mapped to TemporaryProviderError). The URL never appears in an error text: it may
    carry a recipient (a query) or a secret (a webhook path)."""
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if body is not None:
        all_headers["Content-Type"] = "application/json; charset=utf-8"
    all_headers.update(headers or {})
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PermanentProviderError(f"{what}: only http and https URLs are allowed")
    req = urllib.request.Request(url, data=body, headers=all_headers, method=method)  # noqa: S310 (scheme checked)
    try:
        # The outbound policy (cstrack/outbound.py): checked now, at every send; no redirects.
        with outbound.urlopen(req, timeout=timeout()) as resp:
            return HttpResponse(resp.status, resp.read())
    except outbound.OutboundRefused as exc:
        raise PermanentProviderError(f"{what}: {exc}") from None
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read()
        except Exception:  # the error body is a courtesy
            data = b""
        finally:
            exc.close()
        return HttpResponse(exc.code, data)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise TemporaryProviderError(f"{what}: timeout", maybe_delivered=True) from None
        if isinstance(reason, ConnectionRefusedError):
            raise TemporaryProviderError(f"{what}: connection refused") from None
        if isinstance(reason, socket.gaierror):
            raise TemporaryProviderError(f"{what}: host not found") from None
        raise TemporaryProviderError(
            f"{what}: connection error ({type(reason).__name__})", maybe_delivered=True
        ) from None
    except TimeoutError:
        raise TemporaryProviderError(f"{what}: timeout", maybe_delivered=True) from None
    except (ConnectionError, http.client.HTTPException, OSError) as exc:
        raise TemporaryProviderError(f"{what}: connection error ({type(exc).__name__})", maybe_delivered=True) from None


def raise_for_status(resp: HttpResponse, what: str, code: str = "") -> None:
    """Map a non-2xx status to the right error. `code` is a provider error code (PII-free)."""
    if 200 <= resp.status < 300:
        return
    detail = f"{what}: HTTP {resp.status}" + (f" {code}" if code else "")
    if resp.status >= 500:
        raise TemporaryProviderError(detail, maybe_delivered=True)
    if resp.status in TEMPORARY_STATUSES:
        raise TemporaryProviderError(detail)
    raise PermanentProviderError(detail)


def sender_number() -> str:
    number = getattr(settings, "SMS_SENDER_NUMBER", "") or ""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not digits:
        raise ProviderConfigurationError(
            "SMS_SENDER_NUMBER is not set: Korean carriers only accept a pre-registered sender number"
        )
    return digits


class HttpGatewayProvider(Provider):
    """A generic HTTP SMS gateway (our own contract, see docs/delivery.md).

    POST {HTTP_GATEWAY_URL} JSON {idempotency_key, to, from, type, subject, text}
      -> 2xx {"provider_ref": "..."}
    GET  {HTTP_GATEWAY_URL}/{idempotency_key} -> 200 {"provider_ref": "..."} | 404
    Both signed: X-Cstrack-Timestamp (unix seconds) and X-Cstrack-Signature = hex
    HMAC-SHA256(HTTP_GATEWAY_SECRET, f"{timestamp}.{body}") with body "" for the GET.
    """

    name = "http"
    supports_lookup = True

    def _config(self) -> tuple[str, str]:
        url = (getattr(settings, "HTTP_GATEWAY_URL", "") or "").rstrip("/")
        secret = getattr(settings, "HTTP_GATEWAY_SECRET", "") or ""
        if not url:
            raise ProviderConfigurationError("HTTP_GATEWAY_URL is not set")
        if not secret:
            raise ProviderConfigurationError("HTTP_GATEWAY_SECRET is not set")
        return url, secret

    def send(self, message) -> str:
        url, secret = self._config()
        payload = {
            "idempotency_key": message.idempotency_key,
            "to": message.recipient,
            "from": sender_number(),
            "type": message.message_type,
            "subject": message.subject,
            "text": message.body,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        headers = signed_headers(secret, body) | {IDEMPOTENCY_HEADER: message.idempotency_key}
        resp = request("POST", url, body=body.encode("utf-8"), headers=headers, what="gateway")
        data = resp.json()
        raise_for_status(resp, "gateway", error_code(data))
        ref = data.get("provider_ref") if isinstance(data, dict) else None
        if not ref:
            # Accepted, but we cannot tell which message it became; the key still identifies it.
            return f"gw:{message.idempotency_key}"
        return str(ref)

    def lookup(self, idempotency_key, *, message=None):
        url, secret = self._config()
        headers = signed_headers(secret, "")
        resp = request("GET", f"{url}/{urllib.parse.quote(idempotency_key, safe='')}", headers=headers, what="gateway")
        if resp.status == 404:
            return None
        data = resp.json()
        raise_for_status(resp, "gateway lookup", error_code(data))
        ref = data.get("provider_ref") if isinstance(data, dict) else None
        return str(ref) if ref else None


def error_code(data) -> str:
    """A provider's machine error code, if any (never its free-text message: it may echo input)."""
    if isinstance(data, dict):
        code = data.get("errorCode") or data.get("error_code") or data.get("code")
        if isinstance(code, str) and code.replace("_", "").replace(".", "").isalnum() and len(code) <= 60:
            return code
    return ""
