"""A fake SMS provider over real HTTP: the generic cstrack gateway AND Solapi's endpoints.

Stdlib only (http.server + ThreadingHTTPServer) on 127.0.0.1. It checks authentication the way
the real services do, records every accepted message (duplicates included: tests count "sent
twice"), answers look-ups, and injects failures with a seeded RNG.

In-process (tests)::

    from tests.fakes.provider_server import FakeProviderServer

    with FakeProviderServer(seed=1) as fake:            # or fake = FakeProviderServer().start()
        settings.SOLAPI_BASE_URL = fake.solapi_base_url  # + SOLAPI_API_KEY / SOLAPI_API_SECRET
        settings.HTTP_GATEWAY_URL = fake.gateway_url     # + HTTP_GATEWAY_SECRET
        ...
        fake.received()               # list of dicts, one per accepted send, in order
        fake.count("key")             # how many times that idempotency key was received
        fake.duplicates()             # {key: n} for n > 1
        fake.configure(error_rate=0.2, timeout_rate=0.1, timeout_sleep=2.0, seed=7)
        fake.fail_next(503, "timeout", 400)  # deterministic: the next sends, in order
        fake.stats()                  # counters: requests, connections, batches, auth_failures, errors, ...

As a separate process (end-to-end tests with real workers)::

    python tests/fakes/provider_server.py --port 8765 --record /tmp/received.jsonl \
        [--error-rate 0.1] [--timeout-rate 0.05] [--timeout-sleep 3] [--seed 1] \
        [--gateway-secret S] [--solapi-key K] [--solapi-secret S] [--port-file F]

It prints "fake provider listening on http://127.0.0.1:PORT" and serves until SIGINT/SIGTERM;
every accepted message is appended to the --record file as one JSON line. Control over HTTP:
``GET /_fake/health``, ``GET /_fake/received``, ``GET /_fake/stats``, ``POST /_fake/config``
(JSON with any of error_rate, timeout_rate, timeout_sleep, seed), ``POST /_fake/fail_next``
(JSON {"outcomes": [503, "timeout"]}), ``POST /_fake/reset``.

Endpoints faked
---------------
Generic gateway (cstrack's own contract, see docs/delivery.md):
    POST /gateway/messages           JSON {idempotency_key, to, from, type, subject, text}
                                      -> 200 {"provider_ref": "gw-N"}
    POST /gateway/messages/batch     {"messages": [...]} -> 200 {"results": [{idempotency_key,
                                      provider_ref} | {idempotency_key, error_code}]}
    GET  /gateway/messages/<key>     -> 200 {"provider_ref"} | 404
    Both need X-Cstrack-Timestamp (unix seconds, within 5 min) and X-Cstrack-Signature =
    hex HMAC-SHA256(secret, f"{timestamp}.{raw body}") (empty body for GET); else 401.
Solapi:
    POST /messages/v4/send           {"message": {to, from, text, type?, subject?, customFields?}}
                                      -> 200 {groupId, messageId, statusCode "2000", ...}
    POST /messages/v4/send-many/detail  {"messages": [...], "showMessageList"?} -> 200
                                      {groupInfo, messageList: [...], failedMessageList: [...]}
                                      (a refused message is listed as failed, the others go)
    GET  /messages/v4/list           ?to=&from=&startDate=&limit=&startKey= -> {messageList, nextKey}
    Authorization: HMAC-SHA256 apiKey=K, date=<ISO 8601>, salt=<12-64 chars>,
    signature=<hex HMAC-SHA256(secret, date + salt)>; date within 15 min, a signature used once.
    Failures answer 403 with errorCode InvalidAPIKey / SignatureDoesNotMatch /
    RequestTimeTooSkewed / DuplicatedSignature, as Solapi documents (the gateway uses 401).
    SMS longer than 90 EUC-KR bytes or LMS over 2,000 bytes -> 400 ValidationError.
    AlimTalk: a message of type "ATA" with kakaoOptions {pfId, templateId, variables,
    disableSms} (text up to 1,000 characters, any characters) is accepted like an SMS.
Delivery reports (Solapi's later word on each accepted message):
    fake.set_report("01012345678", "3104", kind="ATA")   # that number has no KakaoTalk
    fake.reports()                   # one message object per accepted, unreported message,
                                     # statusCode 4000 (received) unless set_report said otherwise
    body, headers = fake.report_webhook(secret)   # the same, as a signed webhook to POST
    The list endpoint answers statusCode 3000 (with the carrier) until a message is reported.
Chat / webhook receivers:
    POST /hooks/<anything>           JSON with "text" (Slack incoming-webhook style, or the signed
                                      cstrack webhook; a signature, if sent, is checked as for the
                                      gateway) -> 200 {"ok": true}; recorded with api="hook".

Failure injection (send endpoints only, after authentication): a scripted outcome from
fail_next() if any, else with probability error_rate a 503 (nothing recorded), else with
probability timeout_rate a "timeout": the message IS recorded, then the server sleeps
timeout_sleep seconds before answering (set it above PROVIDER_TIMEOUT: the client gives up
without knowing the message was taken, the case the look-up exists for).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import random
import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_GATEWAY_SECRET = "fake-gateway-secret"
DEFAULT_SOLAPI_KEY = "FAKESOLAPIKEY0001"
DEFAULT_SOLAPI_SECRET = "fake-solapi-secret-0123456789abcdef"
GATEWAY_MAX_SKEW = 300
SOLAPI_MAX_SKEW = 900

_AUTH_RE = re.compile(r"^\s*HMAC-SHA256\s+(?P<params>.+)$", re.IGNORECASE)


def _euc_kr_bytes(text: str) -> int:
    return len(text.encode("euc-kr", errors="replace"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)):
            return  # the client gave up (an injected timeout): expected
        super().handle_error(request, client_address)


class FakeProviderServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        gateway_secret: str = DEFAULT_GATEWAY_SECRET,
        solapi_api_key: str = DEFAULT_SOLAPI_KEY,
        solapi_api_secret: str = DEFAULT_SOLAPI_SECRET,
        error_rate: float = 0.0,
        timeout_rate: float = 0.0,
        timeout_sleep: float = 2.0,
        seed: int | None = 0,
        record_path: str | None = None,
        verbose: bool = False,
    ):
        self.host, self.port = host, port
        self.gateway_secret = gateway_secret
        self.solapi_api_key = solapi_api_key
        self.solapi_api_secret = solapi_api_secret
        self.error_rate, self.timeout_rate, self.timeout_sleep = error_rate, timeout_rate, timeout_sleep
        self.record_path = record_path
        self.verbose = verbose
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._received: list[dict] = []
        self._scripted: list = []
        self._used_signatures: dict[str, float] = {}
        self._report_codes: dict[tuple, str] = {}
        self._ids = itertools.count(1)
        counters = "requests accepted auth_failures errors timeouts rejected lookups batches connections"
        self._stats = dict.fromkeys(counters.split(), 0)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping for an injected timeout
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeProviderServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"{self.url}/gateway/messages"

    @property
    def solapi_base_url(self) -> str:
        return self.url

    # --- inspection and control -----------------------------------------------------------------

    def received(self, api: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._received if api is None or r["api"] == api]

    def count(self, idempotency_key: str) -> int:
        with self._lock:
            return sum(1 for r in self._received if r["idempotency_key"] == idempotency_key)

    def duplicates(self) -> dict[str, int]:
        """{key: n} for keys received more than once on the same route. An AlimTalk and its
        SMS fallback share the key but not the route (customFields.route), so they are not
        duplicates; the key is then shown as "key#route"."""
        counts: dict[str, int] = {}
        for r in self.received():
            route = (r.get("custom_fields") or {}).get("route")
            key = f"{r['idempotency_key']}#{route}" if route else r["idempotency_key"]
            counts[key] = counts.get(key, 0) + 1
        return {k: n for k, n in counts.items() if n > 1}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def configure(self, *, error_rate=None, timeout_rate=None, timeout_sleep=None, seed=None) -> None:
        with self._lock:
            if error_rate is not None:
                self.error_rate = float(error_rate)
            if timeout_rate is not None:
                self.timeout_rate = float(timeout_rate)
            if timeout_sleep is not None:
                self.timeout_sleep = float(timeout_sleep)
            if seed is not None:
                self._rng = random.Random(seed)

    def fail_next(self, *outcomes) -> None:
        """Script the next send outcomes: an HTTP status (e.g. 503, 400) or "timeout"."""
        with self._lock:
            self._scripted.extend(outcomes)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self._scripted.clear()
            self._used_signatures.clear()
            self._report_codes.clear()
            for key in self._stats:
                self._stats[key] = 0

    def record(self, api: str, **fields) -> dict:
        """Store a message as received (also usable by tests to pre-seed the provider)."""
        with self._lock:
            n = next(self._ids)
            ref = f"gw-{n}" if api == "gateway" else f"M4V{datetime.now(UTC):%Y%m%d%H%M%S}FAKE{n:08d}"
            row = {
                "api": api,
                "provider_ref": ref,
                "received_at": datetime.now(UTC).isoformat(),
                "idempotency_key": fields.pop("idempotency_key", None),
                **fields,
            }
            self._received.append(row)
            self._stats["accepted"] += 1
            if self.record_path:
                with open(self.record_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            return dict(row)

    # --- delivery reports ---------------------------------------------------------------------

    def set_report(self, to: str, code: str, *, kind: str | None = None) -> None:
        """What the report will say for messages to `to` (national digits), optionally only of
        one type ("ATA": e.g. 3104, no KakaoTalk account). Default: 4000, received."""
        with self._lock:
            self._report_codes[(to, kind)] = code

    def _report_code(self, row: dict) -> str:
        return self._report_codes.get((row["to"], row["type"])) or self._report_codes.get((row["to"], None)) or "4000"

    def reports(self) -> list[dict]:
        """A report (Solapi message object with its final statusCode) for every accepted Solapi
        message not reported yet; each is reported once."""
        out = []
        with self._lock:
            for row in self._received:
                if row["api"] != "solapi" or row.get("reported"):
                    continue
                row["reported"] = True
                out.append(
                    {
                        "messageId": row["provider_ref"],
                        "statusCode": self._report_code(row),
                        "type": row["type"],
                        "to": row["to"],
                        "customFields": row.get("custom_fields") or {},
                        "dateReceived": datetime.now(UTC).isoformat(),
                    }
                )
        return out

    @staticmethod
    def sign_report(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
        """The headers a signed report webhook carries (HMAC-SHA256 over f"{ts}.{body}")."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        return {"X-Cstrack-Timestamp": ts, "X-Cstrack-Signature": signature}

    def report_webhook(self, secret: str) -> tuple[bytes, dict[str, str]]:
        """The next report webhook as (body, headers), for a test client to POST."""
        body = json.dumps(self.reports(), ensure_ascii=False).encode("utf-8")
        return body, self.sign_report(body, secret)

    # --- used by the handler --------------------------------------------------------------------

    def _bump(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def _next_outcome(self):
        """None (accept), an int status, or "timeout"."""
        with self._lock:
            if self._scripted:
                return self._scripted.pop(0)
            r = self._rng.random()
            if r < self.error_rate:
                return 503
            if r < self.error_rate + self.timeout_rate:
                return "timeout"
            return None

    def _signature_seen(self, signature: str) -> bool:
        now = time.time()
        with self._lock:
            for sig, at in list(self._used_signatures.items()):
                if now - at > SOLAPI_MAX_SKEW:
                    del self._used_signatures[sig]
            if signature in self._used_signatures:
                return True
            self._used_signatures[signature] = now
            return False


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProviderServer
    protocol_version = "HTTP/1.1"
    server_version = "FakeProvider/1"

    def setup(self):
        super().setup()
        self.fake._bump("connections")  # one per TCP connection: keep-alive clients reuse theirs

    # Never log request lines: Solapi look-ups carry the recipient in the query string.
    def log_message(self, fmt, *args):
        if self.fake.verbose:
            sys.stderr.write(f"fake provider: {self.command} {urlsplit(self.path).path}\n")

    # --- plumbing -------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self, method: str) -> None:
        self.fake._bump("requests")
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        body = self._body() if method == "POST" else b""
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        if path == "/gateway/messages" and method == "POST":
            return self._gateway_send(body)
        if path == "/gateway/messages/batch" and method == "POST":
            return self._gateway_batch(body)
        if path.startswith("/gateway/messages/") and method == "GET":
            return self._gateway_lookup(unquote(path[len("/gateway/messages/") :]))
        if path == "/messages/v4/send" and method == "POST":
            return self._solapi_send(body)
        if path == "/messages/v4/send-many/detail" and method == "POST":
            return self._solapi_send_many(body)
        if path == "/messages/v4/list" and method == "GET":
            return self._solapi_list(query)
        if path.startswith("/hooks/") and method == "POST":
            return self._hook(path, body)
        self._send(404, {"errorCode": "NotFound"})

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    # --- gateway --------------------------------------------------------------------------------

    def _gateway_authentic(self, body: bytes) -> bool:
        ts = self.headers.get("X-Cstrack-Timestamp") or ""
        sig = self.headers.get("X-Cstrack-Signature") or ""
        try:
            fresh = abs(time.time() - int(ts)) <= GATEWAY_MAX_SKEW
        except ValueError:
            fresh = False
        expected = hmac.new(self.fake.gateway_secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        # A signed webhook may carry several signatures (secret rotation): any one will do.
        if fresh and any(hmac.compare_digest(expected, candidate.strip()) for candidate in sig.split(",")):
            return True
        self.fake._bump("auth_failures")
        self._send(401, {"error_code": "bad_signature" if fresh else "stale_timestamp"})
        return False

    def _gateway_send(self, body: bytes) -> None:
        if not self._gateway_authentic(body):
            return
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            data = None
        required = ("idempotency_key", "to", "from", "type", "text")
        if not isinstance(data, dict) or any(not data.get(k) for k in required):
            self.fake._bump("rejected")
            return self._send(400, {"error_code": "invalid_request"})
        if self._injected_or_timeout() == "answered":
            return
        stall = self._pending_timeout
        row = self.fake.record(
            "gateway",
            idempotency_key=data["idempotency_key"],
            to=data["to"],
            sender=data["from"],
            type=data["type"],
            subject=data.get("subject") or "",
            text=data["text"],
        )
        if stall:
            return self._stall(200, {"provider_ref": row["provider_ref"]})
        self._send(200, {"provider_ref": row["provider_ref"]})

    def _gateway_batch(self, body: bytes) -> None:
        """{"messages": [...]}: every complete message recorded, an incomplete one answered with
        an error_code; one injected outcome applies to the whole request."""
        if not self._gateway_authentic(body):
            return
        try:
            messages = json.loads(body).get("messages")
        except (json.JSONDecodeError, AttributeError):
            messages = None
        if not isinstance(messages, list) or not messages:
            self.fake._bump("rejected")
            return self._send(400, {"error_code": "invalid_request"})
        if self._injected_or_timeout() == "answered":
            return
        stall = self._pending_timeout
        self.fake._bump("batches")
        required = ("idempotency_key", "to", "from", "type", "text")
        results = []
        for data in messages:
            key = data.get("idempotency_key") if isinstance(data, dict) else None
            if not isinstance(data, dict) or any(not data.get(k) for k in required):
                self.fake._bump("rejected")
                results.append({"idempotency_key": key, "error_code": "invalid_request"})
                continue
            row = self.fake.record(
                "gateway", idempotency_key=key, to=data["to"], sender=data["from"], type=data["type"],
                subject=data.get("subject") or "", text=data["text"],
            )  # fmt: skip
            results.append({"idempotency_key": key, "provider_ref": row["provider_ref"]})
        if stall:
            return self._stall(200, {"results": results})
        self._send(200, {"results": results})

    def _gateway_lookup(self, key: str) -> None:
        if not self._gateway_authentic(b""):
            return
        self.fake._bump("lookups")
        for row in self.fake.received("gateway"):
            if row["idempotency_key"] == key:
                return self._send(200, {"provider_ref": row["provider_ref"]})
        self._send(404, {"error_code": "not_found"})

    def _stall(self, status: int, payload) -> None:
        self.fake._bump("timeouts")
        self.fake._stopping.wait(self.fake.timeout_sleep)
        self._send(status, payload)

    # --- Solapi ---------------------------------------------------------------------------------

    def _solapi_authentic(self) -> bool:
        def deny(code: str) -> bool:
            self.fake._bump("auth_failures")
            self._send(403, {"errorCode": code, "errorMessage": "authentication failed"})
            return False

        match = _AUTH_RE.match(self.headers.get("Authorization") or "")
        if not match:
            return deny("InvalidAuthorizationHeader")
        params = {}
        for part in match.group("params").split(","):
            name, _, value = part.strip().partition("=")
            params[name.strip().lower()] = value.strip()
        api_key, date, salt, signature = (params.get(k, "") for k in ("apikey", "date", "salt", "signature"))
        if not (api_key and date and salt and signature) or not 12 <= len(salt) <= 64:
            return deny("InvalidAuthorizationHeader")
        if api_key != self.fake.solapi_api_key:
            return deny("InvalidAPIKey")
        try:
            when = datetime.fromisoformat(date)
            if when.tzinfo is None:
                raise ValueError
        except ValueError:
            return deny("InvalidAuthorizationHeader")
        if abs(datetime.now(UTC) - when) > timedelta(seconds=SOLAPI_MAX_SKEW):
            return deny("RequestTimeTooSkewed")
        expected = hmac.new(self.fake.solapi_api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return deny("SignatureDoesNotMatch")
        if self.fake._signature_seen(signature):
            return deny("DuplicatedSignature")
        return True

    @staticmethod
    def _solapi_invalid(message) -> str | None:
        """Why Solapi would refuse this message at once, or None."""
        if not isinstance(message, dict):
            return "message is required"
        for name in ("to", "from", "text"):
            if not isinstance(message.get(name), str) or not message[name]:
                return f"{name} is required"
        if not message["to"].isdigit() or not message["from"].isdigit():
            return "to/from must be digits"
        if message.get("type") == "ATA":
            options = message.get("kakaoOptions")
            if not isinstance(options, dict) or not options.get("pfId") or not options.get("templateId"):
                return "kakaoOptions.pfId and kakaoOptions.templateId are required for ATA"
            if not isinstance(options.get("variables", {}), dict):
                return "kakaoOptions.variables must be an object"
            if len(message["text"]) > 1000:
                return "AlimTalk text over 1000 characters"
            return None
        kind = message.get("type") or ("SMS" if _euc_kr_bytes(message["text"]) <= 90 else "LMS")
        if kind not in ("SMS", "LMS"):
            return "unsupported type"
        if kind == "SMS" and _euc_kr_bytes(message["text"]) > 90:
            return "SMS text over 90 bytes"
        if _euc_kr_bytes(message["text"]) > 2000:
            return "text over 2000 bytes"
        return None

    def _solapi_record(self, message: dict) -> dict:
        kind = message.get("type") or ("SMS" if _euc_kr_bytes(message["text"]) <= 90 else "LMS")
        fields = message.get("customFields") or {}
        row = self.fake.record(
            "solapi",
            idempotency_key=fields.get("idempotencyKey"),
            to=message["to"],
            sender=message["from"],
            type=kind,
            subject=message.get("subject") or "",
            text=message["text"],
            custom_fields=fields,
            kakao_options=message.get("kakaoOptions"),
        )
        return {
            "groupId": "G4V" + row["provider_ref"][3:],
            "messageId": row["provider_ref"],
            "accountId": "fake-account",
            "statusMessage": "정상 접수(이통사로 접수 예정) ",
            "statusCode": "2000",
            "to": message["to"],
            "from": message["from"],
            "type": kind,
            "country": "82",
            "customFields": fields,
        }

    def _solapi_send(self, body: bytes) -> None:
        if not self._solapi_authentic():
            return
        try:
            message = json.loads(body).get("message")
        except (json.JSONDecodeError, AttributeError):
            message = None
        reason = self._solapi_invalid(message)
        if reason:
            self.fake._bump("rejected")
            return self._send(400, {"errorCode": "ValidationError", "errorMessage": reason})
        if self._injected_or_timeout() == "answered":
            return
        stall = self._pending_timeout
        payload = self._solapi_record(message)
        payload.pop("customFields")
        if stall:
            return self._stall(200, payload)
        self._send(200, payload)

    def _solapi_send_many(self, body: bytes) -> None:
        """send-many/detail: every valid message is registered, the others come back in
        failedMessageList (statusCode 1xxx, as Solapi does for a refused message); 200 either
        way. One injected outcome (error, timeout) applies to the whole request."""
        if not self._solapi_authentic():
            return
        try:
            messages = json.loads(body).get("messages")
        except (json.JSONDecodeError, AttributeError):
            messages = None
        if not isinstance(messages, list) or not messages or len(messages) > 10_000:
            self.fake._bump("rejected")
            return self._send(400, {"errorCode": "ValidationError", "errorMessage": "messages is required"})
        if self._injected_or_timeout() == "answered":
            return
        stall = self._pending_timeout
        self.fake._bump("batches")
        accepted, failed = [], []
        for message in messages:
            reason = self._solapi_invalid(message)
            if reason:
                self.fake._bump("rejected")
                failed.append(
                    {
                        "to": (message or {}).get("to") if isinstance(message, dict) else None,
                        "customFields": (message or {}).get("customFields") if isinstance(message, dict) else None,
                        "statusCode": "1062",
                        "statusMessage": reason,
                    }
                )
            else:
                accepted.append(self._solapi_record(message))
        group_id = accepted[0]["groupId"] if accepted else "G4VFAKEEMPTY"
        payload = {
            "groupInfo": {
                "groupId": group_id,
                "count": {"total": len(messages), "registeredSuccess": len(accepted), "registeredFailed": len(failed)},
                "status": "SENDING",
            },
            "failedMessageList": failed,
            "messageList": accepted,
        }
        if stall:
            return self._stall(200, payload)
        self._send(200, payload)

    def _injected_or_timeout(self) -> str:
        """Apply the next injected outcome: "answered" (an error was sent) or "go" (accept; with
        self._pending_timeout set, record and then stall past the client's timeout)."""
        outcome = self.fake._next_outcome()
        self._pending_timeout = outcome == "timeout"
        if outcome is None or outcome == "timeout":
            return "go"
        self.fake._bump("errors")
        status = int(outcome)
        self._send(
            status, {"errorCode": "InternalError" if status >= 500 else "ValidationError", "errorMessage": "injected"}
        )
        return "answered"

    def _solapi_list(self, query: dict) -> None:
        if not self._solapi_authentic():
            return
        self.fake._bump("lookups")

        def one(name):
            values = query.get(name)
            return values[0] if values else None

        rows = self.fake.received("solapi")
        if one("to"):
            rows = [r for r in rows if r["to"] == one("to")]
        if one("from"):
            rows = [r for r in rows if r["sender"] == one("from")]
        if one("startDate"):
            try:
                since = datetime.fromisoformat(one("startDate"))
            except ValueError:
                return self._send(400, {"errorCode": "ValidationError", "errorMessage": "bad startDate"})
            rows = [r for r in rows if datetime.fromisoformat(r["received_at"]) >= since]
        limit = max(1, min(500, int(one("limit") or 20)))
        start = int(one("startKey") or 0)
        page = rows[start : start + limit]
        next_key = str(start + limit) if start + limit < len(rows) else None
        listing = {
            r["provider_ref"]: {
                "messageId": r["provider_ref"],
                "_id": r["provider_ref"],
                "to": r["to"],
                "from": r["sender"],
                "type": r["type"],
                "subject": r["subject"] or None,
                "text": r["text"],
                "customFields": r.get("custom_fields") or {},
                "statusCode": self.fake._report_code(r) if r.get("reported") else "3000",
                "dateCreated": r["received_at"],
            }
            for r in page
        }
        self._send(200, {"startKey": one("startKey"), "nextKey": next_key, "limit": limit, "messageList": listing})

    # --- chat / webhook receivers -----------------------------------------------------------------

    def _hook(self, path: str, body: bytes) -> None:
        """Any POST /hooks/...: a Slack-style incoming webhook ({"text"}) or, when signed, a
        cstrack webhook (signature checked with the gateway secret)."""
        if self.headers.get("X-Cstrack-Signature") and not self._gateway_authentic(body):
            return
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not data.get("text"):
            self.fake._bump("rejected")
            return self._send(400, {"error_code": "invalid_payload"})
        if self._injected_or_timeout() == "answered":
            return
        stall = self._pending_timeout
        self.fake.record(
            "hook",
            idempotency_key=self.headers.get("X-Cstrack-Idempotency-Key"),
            path=path,
            signed=bool(self.headers.get("X-Cstrack-Signature")),
            subject=data.get("subject") or "",
            text=data["text"],
            to=None,
            sender=None,
            type=data.get("type") or "CHAT",
        )
        if stall:
            return self._stall(200, {"ok": True})
        self._send(200, {"ok": True})

    # --- control (separate-process use) ---------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> None:
        fake = self.fake
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return self._send(400, {"error": "bad json"})
        if path == "/_fake/health":
            return self._send(200, {"ok": True})
        if path == "/_fake/received" and method == "GET":
            return self._send(200, {"messages": fake.received()})
        if path == "/_fake/stats" and method == "GET":
            return self._send(200, fake.stats() | {"duplicates": fake.duplicates()})
        if path == "/_fake/config" and method == "POST":
            fake.configure(**{k: data[k] for k in ("error_rate", "timeout_rate", "timeout_sleep", "seed") if k in data})
            return self._send(200, {"ok": True})
        if path == "/_fake/fail_next" and method == "POST":
            fake.fail_next(*data.get("outcomes", []))
            return self._send(200, {"ok": True})
        if path == "/_fake/reset" and method == "POST":
            fake.reset()
            return self._send(200, {"ok": True})
        self._send(404, {"error": "unknown control endpoint"})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fake SMS provider (generic gateway + Solapi) for cstrack tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed, and written to --port-file)")
    parser.add_argument("--port-file", help="write the chosen port to this file once listening")
    parser.add_argument("--record", help="append every accepted message to this JSON-lines file")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--timeout-rate", type=float, default=0.0)
    parser.add_argument("--timeout-sleep", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gateway-secret", default=DEFAULT_GATEWAY_SECRET)
    parser.add_argument("--solapi-key", default=DEFAULT_SOLAPI_KEY)
    parser.add_argument("--solapi-secret", default=DEFAULT_SOLAPI_SECRET)
    parser.add_argument("--verbose", action="store_true", help="log method and path (never the query)")
    args = parser.parse_args(argv)

    fake = FakeProviderServer(
        host=args.host,
        port=args.port,
        gateway_secret=args.gateway_secret,
        solapi_api_key=args.solapi_key,
        solapi_api_secret=args.solapi_secret,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        timeout_sleep=args.timeout_sleep,
        seed=args.seed,
        record_path=args.record,
        verbose=args.verbose,
    ).start()
    if args.port_file:
        with open(args.port_file, "w") as fh:
            fh.write(str(fake.port))
    print(f"fake provider listening on {fake.url}", flush=True)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
