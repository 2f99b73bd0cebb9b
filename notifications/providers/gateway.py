"""HTTP plumbing shared by the HTTP providers, and the generic gateway.

Requests go through one pooled keep-alive `httpx.Client` per process (`client()`): a batch of
messages to the same provider reuses its TCP (and TLS) connections instead of opening one per
message. The client is created lazily and again after a fork (Celery's prefork pool).

Status mapping: 2xx ok; 408, 429 and 5xx -> TemporaryProviderError; other 4xx ->
PermanentProviderError; timeout or connection reset -> TemporaryProviderError that may have
been delivered; connection refused or DNS failure -> TemporaryProviderError, not delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass

import httpcore
import httpx
from django.conf import settings

from cstrack import outbound

from .base import (
    PermanentProviderError,
    Provider,
    ProviderConfigurationError,
    ProviderError,
    TemporaryProviderError,
)

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


class _GuardedBackend(httpcore.SyncBackend):
    """Connects only to addresses the outbound policy allows, vetted at every new connection
    (so a name that resolves elsewhere after it was checked gains nothing); TLS still verifies
    the certificate for the URL's host name."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = outbound.vetted_addresses(host, port)  # OutboundRefused goes up as it is
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"host not found ({type(exc).__name__})") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError("no address")


def _transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(limits=limits, trust_env=False)
    # httpx builds its connection pool without a way to pass the network backend; the pool keeps
    # it in `_network_backend` (httpcore 1.0, pinned through httpx==0.28.1).
    transport._pool._network_backend = _GuardedBackend()
    return transport


_client: httpx.Client | None = None
_client_pid: int | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """This process's pooled keep-alive client (a new one after a fork: sockets are not shared
    between processes). Redirects are not followed: a provider answering 3xx is an error."""
    global _client, _client_pid
    pid = os.getpid()
    if _client is None or _client_pid != pid:
        with _client_lock:
            if _client is None or _client_pid != pid:
                limits = httpx.Limits(
                    max_connections=int(getattr(settings, "PROVIDER_MAX_CONNECTIONS", 10)),
                    max_keepalive_connections=int(getattr(settings, "PROVIDER_MAX_CONNECTIONS", 10)),
                    keepalive_expiry=float(getattr(settings, "PROVIDER_KEEPALIVE_SECONDS", 30)),
                )
                _client = httpx.Client(
                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                    transport=_transport(limits),
                    follow_redirects=False,
                    trust_env=False,
                )
                _client_pid = pid
    return _client


def close_client() -> None:
    """Close this process's pool (tests; a worker shutting down)."""
    global _client
    with _client_lock:
        if _client is not None and _client_pid == os.getpid():
            _client.close()
        _client = None


def _caused_by(exc: BaseException, kind: type) -> bool:
    seen = exc
    for _ in range(10):
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return False
    return False


def request(method: str, url: str, *, body: bytes | None = None, headers: dict | None = None, what: str = "provider"):
    """Perform one HTTP request on the pooled client. Returns HttpResponse for any status;
    raises only for transport errors (mapped to TemporaryProviderError). The URL never appears
    in an error text: it may carry a recipient (a query) or a secret (a webhook path)."""
    all_headers = {}
    if body is not None:
        all_headers["Content-Type"] = "application/json; charset=utf-8"
    all_headers.update(headers or {})
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PermanentProviderError(f"{what}: only http and https URLs are allowed")
    limit = timeout()
    try:
        # The outbound policy (cstrack/outbound.py): the URL's shape now, the addresses at every
        # connection (_GuardedBackend); redirects are not followed.
        outbound.check_url(url, resolve=False)
        resp = client().request(
            method, url, content=body, headers=all_headers, timeout=httpx.Timeout(limit, pool=limit)
        )
        return HttpResponse(resp.status_code, resp.content)
    except outbound.OutboundRefused as exc:
        raise PermanentProviderError(f"{what}: {exc}") from None
    except httpx.ConnectTimeout:
        raise TemporaryProviderError(f"{what}: connection timeout") from None
    except httpx.PoolTimeout:
        raise TemporaryProviderError(f"{what}: no free connection") from None
    except httpx.TimeoutException:  # read or write timeout: the request may have been taken
        raise TemporaryProviderError(f"{what}: timeout", maybe_delivered=True) from None
    except httpx.ConnectError as exc:  # nothing was sent on this connection
        if _caused_by(exc, ConnectionRefusedError):
            raise TemporaryProviderError(f"{what}: connection refused") from None
        if _caused_by(exc, socket.gaierror):
            raise TemporaryProviderError(f"{what}: host not found") from None
        raise TemporaryProviderError(f"{what}: connection error (ConnectError)") from None
    except httpx.UnsupportedProtocol:
        raise PermanentProviderError(f"{what}: only http and https URLs are allowed") from None
    except (httpx.TransportError, OSError) as exc:
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
    POST {HTTP_GATEWAY_URL}/batch JSON {"messages": [<as above>, ...]}
      -> 2xx {"results": [{"idempotency_key", "provider_ref"} | {"idempotency_key", "error_code"}]}
      (optional: a gateway answering 404/405/501 gets one request per message instead)
    GET  {HTTP_GATEWAY_URL}/{idempotency_key} -> 200 {"provider_ref": "..."} | 404
    All signed: X-Cstrack-Timestamp (unix seconds) and X-Cstrack-Signature = hex
    HMAC-SHA256(HTTP_GATEWAY_SECRET, f"{timestamp}.{body}") with body "" for the GET.
    """

    name = "http"
    supports_lookup = True
    #: Gateway URLs that answered the batch endpoint with "not there" (this process).
    _no_batch: set[str] = set()

    def _payload(self, message, sender: str) -> dict:
        return {
            "idempotency_key": message.idempotency_key,
            "to": message.recipient,
            "from": sender,
            "type": message.message_type,
            "subject": message.subject,
            "text": message.body,
        }

    def send_many(self, messages, *, deadline=None) -> list:
        """The batch in one request to `{url}/batch`; one request per message if the gateway
        has no batch endpoint. A message missing from the answer has an unknown outcome."""
        try:
            url, secret = self._config()
            sender = sender_number()
        except PermanentProviderError as exc:
            return [exc] * len(messages)
        if len(messages) < 2 or url in self._no_batch:
            return super().send_many(messages, deadline=deadline)
        body = json.dumps(
            {"messages": [self._payload(m, sender) for m in messages]}, ensure_ascii=False, separators=(",", ":")
        )
        try:
            resp = request("POST", f"{url}/batch", body=body.encode("utf-8"), headers=signed_headers(secret, body),
                           what="gateway")  # fmt: skip
            if resp.status in (404, 405, 501):  # nothing was taken: this gateway has no batch endpoint
                self._no_batch.add(url)
                return super().send_many(messages, deadline=deadline)
            data = resp.json()
            raise_for_status(resp, "gateway", error_code(data))
        except ProviderError as exc:
            return [exc] * len(messages)
        answers = {}
        rows = data.get("results") if isinstance(data, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("idempotency_key"):
                answers[row["idempotency_key"]] = row
        results = []
        for message in messages:
            row = answers.get(message.idempotency_key)
            if row is None:
                results.append(TemporaryProviderError("gateway: message missing from the answer", maybe_delivered=True))
            elif row.get("provider_ref"):
                results.append(str(row["provider_ref"]))
            else:
                results.append(PermanentProviderError(f"gateway: refused {error_code(row) or ''}".strip()))
        return results

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
        payload = self._payload(message, sender_number())
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
