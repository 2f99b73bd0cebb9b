"""Finding 1: webhook SSRF. A key with write scope registered internal URLs (metadata service,
Redis, private ranges, [::1], user:password@), the worker posted to them and followed a 302,
and `last_error` told the caller "connection refused" vs "HTTP 403"."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from cstrack import outbound
from notifications.models import Message
from notifications.services import message_deliver, message_enqueue
from tests.api.helpers import penalty_body
from tickets.models import WebhookSubscription

pytestmark = pytest.mark.django_db

INTERNAL_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "http://localhost:5432/",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.0.10/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0:8000/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[::1]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f.1/",
    "http://internal.example/hook",  # a name that resolves to a private address
    "http://mixed.example/hook",  # one public and one private address
]


@pytest.fixture(autouse=True)
def strict_policy(settings, monkeypatch):
    settings.OUTBOUND_ALLOWLIST = []
    resolve = outbound.resolve_host
    table = {"internal.example": ["10.1.2.3"], "mixed.example": ["93.184.215.14", "192.168.1.1"]}
    monkeypatch.setattr(outbound, "resolve_host", lambda host, port: table.get(host) or resolve(host, port))
    return table


def _subscribe(api, url):
    body = {"name": "probe", "target_url": url, "event_types": ["created"]}
    return api.post("/api/v1/webhooks/", body, format="json")


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_targets_are_refused_at_subscription(api, url, problem_json):
    body = problem_json(_subscribe(api, url), 400)
    assert "target_url" in body["errors"], body
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["https://user:secret@hooks.example.com/x", "https://hooks.example.com@10.0.0.1/x", "https://:@hooks.example.com/"],
)
def test_user_info_is_refused(api, url, problem_json):
    body = problem_json(_subscribe(api, url), 400)
    assert "target_url" in body["errors"]


def test_https_only_in_production(api, settings, problem_json):
    settings.OUTBOUND_REQUIRE_HTTPS = True
    assert "https" in problem_json(_subscribe(api, "http://hooks.example.com/x"), 400)["errors"]["target_url"][0]
    assert _subscribe(api, "https://hooks.example.com/x").status_code == 201


def test_operator_allowlist_admits_named_internal_targets(api, settings):
    settings.OUTBOUND_ALLOWLIST = ["internal.example", "192.168.0.0/24"]
    assert _subscribe(api, "http://internal.example/hook").status_code == 201
    assert _subscribe(api, "http://192.168.0.10/hook").status_code == 201
    assert _subscribe(api, "http://192.168.1.10/hook").status_code == 400


class _Receiver(BaseHTTPRequestHandler):
    hits: list[str] = []
    redirect_to = ""

    def do_POST(self):
        type(self).hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if type(self).redirect_to:
            self.send_response(302)
            self.send_header("Location", type(self).redirect_to)
        else:
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.hits, _Receiver.redirect_to = [], ""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@override_settings(WEBHOOK_SIGNING_SECRET="s")
def test_dns_rebinding_after_subscription_is_refused_at_send(api, receiver, strict_policy):
    strict_policy["rebind.example"] = ["93.184.215.14"]  # public when subscribed...
    assert _subscribe(api, f"http://rebind.example:{receiver.server_port}/hook").status_code == 201
    strict_policy["rebind.example"] = ["127.0.0.1"]  # ...loopback when delivered
    api.post("/api/v1/tickets/", penalty_body(), format="json")
    message = Message.objects.get(channel="webhook")
    assert message_deliver(message.pk) == "dead"  # refused by policy: permanent, not retried
    assert _Receiver.hits == []
    message.refresh_from_db()
    assert "outbound policy" in message.last_error  # the detail, for staff
    listed = api.get("/api/v1/messages/?channel=webhook").json()["results"][0]
    assert listed["last_error"] == "refused_by_policy"


@override_settings(WEBHOOK_SIGNING_SECRET="s")
def test_redirects_are_not_followed(api, receiver, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    _Receiver.redirect_to = f"http://127.0.0.1:{receiver.server_port}/after-redirect"
    assert _subscribe(api, f"http://127.0.0.1:{receiver.server_port}/hook").status_code == 201
    api.post("/api/v1/tickets/", penalty_body(), format="json")
    message = Message.objects.get(channel="webhook")
    assert message_deliver(message.pk) == "dead"
    assert _Receiver.hits == ["/hook"]  # the Location was never requested
    listed = api.get("/api/v1/messages/?channel=webhook").json()["results"][0]
    assert listed["last_error"] == "http_3xx"


def test_api_callers_see_a_category_never_the_network_detail(api, settings):
    """An integration must not tell "connection refused" from "host not found" from a status."""
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.MESSAGE_MAX_ATTEMPTS = 1
    cases = {
        "http://127.0.0.1:1/closed-port": "connection_failed",
        "http://nowhere.invalid/hook": "connection_failed",
    }
    for index, url in enumerate(cases):
        message = message_enqueue(channel="webhook", recipient=url, idempotency_key=f"probe:{index}", body="{}")
        message_deliver(message.pk)
    seen = {m["id"]: m["last_error"] for m in api.get("/api/v1/messages/?channel=webhook").json()["results"]}
    assert sorted(seen.values()) == ["connection_failed", "connection_failed"]
    details = set(Message.objects.values_list("last_error", flat=True))
    assert any("refused" in d for d in details) and any("not found" in d for d in details)  # staff still see why


def test_gateway_url_is_checked_before_every_send(settings):
    settings.SMS_PROVIDER = "http"
    settings.HTTP_GATEWAY_URL = "http://169.254.169.254/latest/meta-data"
    settings.HTTP_GATEWAY_SECRET = "x"
    message = message_enqueue(channel="sms", recipient="010-2468-1357", idempotency_key="gw:1", body="hi")
    assert message_deliver(message.pk) == "dead"
    message.refresh_from_db()
    assert "outbound policy" in message.last_error


def test_error_category_table():
    assert outbound.error_category("") == ""
    assert outbound.error_category("webhook: timeout") == "timeout"
    assert outbound.error_category("webhook: connection refused") == "connection_failed"
    assert outbound.error_category("webhook: host not found") == "connection_failed"
    assert outbound.error_category("webhook: connection error (ConnectionResetError)") == "connection_failed"
    assert outbound.error_category("webhook: HTTP 403") == "http_4xx"
    assert outbound.error_category("gateway: HTTP 502 E_UPSTREAM") == "http_5xx"
    assert outbound.error_category("webhook: refused by outbound policy: private address") == "refused_by_policy"
    assert outbound.error_category("HTTP_GATEWAY_URL is not set") == "configuration"
    # A provider's report that the message never arrived, and an AlimTalk re-sent as SMS/LMS.
    assert outbound.error_category("수신 실패(결과 코드 3059)") == "not_delivered"
    assert outbound.error_category("알림톡 수신 실패(결과 코드 3018) → 대체 문자로 발송") == "fell_back"
