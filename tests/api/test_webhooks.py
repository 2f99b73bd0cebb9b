"""Webhooks: subscriptions over the API, fan-out through the outbox, signing, dead letters."""

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.test import override_settings

from notifications.models import Message
from notifications.services import message_deliver
from tickets import webhooks
from tickets.models import WebhookSubscription

from .helpers import assert_problem, penalty_body

pytestmark = pytest.mark.django_db


def _subscribe(client, **body):
    body = {"name": "messaging", "target_url": "https://hooks.example.com/cstrack/abc", **body}
    response = client.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_subscribe_list_rotate_delete(api, client_for):
    created = _subscribe(api, event_types=["created", "outcome"])
    assert created["secret"].startswith("whsec_")
    listed = api.get("/api/v1/webhooks/").json()["results"]
    assert [s["id"] for s in listed] == [created["id"]] and "secret" not in listed[0]
    assert client_for(name="someone-else").get("/api/v1/webhooks/").json()["results"] == []
    assert_problem(client_for(name="third").get(f"/api/v1/webhooks/{created['id']}/"), 404)
    rotated = api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/", {}, format="json").json()
    assert rotated["secret"] != created["secret"] and rotated["secret_rotated_at"]
    sub = WebhookSubscription.objects.get(pk=created["id"])
    assert sub.previous_secret == created["secret"]
    assert api.delete(f"/api/v1/webhooks/{created['id']}/").status_code == 204
    assert WebhookSubscription.objects.get(pk=created["id"]).active is False
    assert_problem(
        api.post("/api/v1/webhooks/", {"name": "x", "target_url": "ftp://x"}, format="json"), 400, field="target_url"
    )
    body = {"name": "x", "target_url": "https://x.example", "event_types": ["exploded"]}
    assert_problem(api.post("/api/v1/webhooks/", body, format="json"), 400, field="event_types.0")


def test_staff_logins_cannot_subscribe_only_integrations_and_administrators(session_client, agent, admin_user):
    body = {"name": "mine", "target_url": "https://hooks.example.com/x"}
    assert_problem(session_client(agent).post("/api/v1/webhooks/", body, format="json"), 403)
    assert not WebhookSubscription.objects.exists()
    created = session_client(admin_user).post("/api/v1/webhooks/", body, format="json")
    assert created.status_code == 201, created.json()
    assert WebhookSubscription.objects.get().api_key is None


def test_secret_is_encrypted_at_rest(api):
    created = _subscribe(api)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM tickets_webhooksubscription WHERE id = %s", [created["id"]])
        stored = cursor.fetchone()[0]
    assert created["secret"] not in stored


def test_events_fan_out_to_matching_subscriptions_masked(api, client_for):
    everything = _subscribe(api, name="all")
    only_outcome = _subscribe(api, name="outcomes", event_types=["outcome"])
    pet_only = _subscribe(client_for(name="pet", kinds=("pet-cs-inquiry",)), name="pet")
    reference = api.post("/api/v1/tickets/", penalty_body(), format="json").json()["reference"]
    api.post(f"/api/v1/tickets/{reference}/outcome/", {"outcome": "warning"}, format="json")
    hooks = Message.objects.filter(channel="webhook")
    keys = set(hooks.values_list("idempotency_key", flat=True))
    assert any(k.startswith(f"webhook:{everything['id']}:") for k in keys)
    outcome_keys = [k for k in keys if k.startswith(f"webhook:{only_outcome['id']}:")]
    assert len(outcome_keys) == 1
    assert not any(k.startswith(f"webhook:{pet_only['id']}:") for k in keys)
    created = hooks.filter(subject="ticket.created").first()
    payload = json.loads(created.body)
    assert payload["type"] == "ticket.created" and payload["ticket"]["reference"] == reference
    assert payload["data"]["customer_phone"] == "010-****-5678"
    for message in hooks:
        assert "1234-5678" not in message.body and "+8210" not in message.body
        assert message.recipient_masked == "https://hooks.example.com/***"


def test_publish_is_idempotent_per_subscription_and_event(api):
    _subscribe(api)
    api.post("/api/v1/tickets/", penalty_body(), format="json")
    from tickets.models import TicketEvent

    event = TicketEvent.objects.first()
    before = Message.objects.filter(channel="webhook").count()
    webhooks.publish(event)
    assert Message.objects.filter(channel="webhook").count() == before


def test_signing_secrets_follow_the_subscription_and_rotation(api):
    created = _subscribe(api)
    api.post("/api/v1/tickets/", penalty_body(), format="json")
    message = Message.objects.filter(channel="webhook").first()
    assert webhooks.webhook_signing_secrets(message) == [created["secret"]]
    sub = webhooks.subscription_rotate_secret(WebhookSubscription.objects.get(pk=created["id"]))
    assert webhooks.webhook_signing_secrets(message) == [sub.secret, created["secret"]]
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)):
        assert webhooks.webhook_signing_secrets(message) == [sub.secret]
    other = Message(idempotency_key="followup:1:customer")
    assert webhooks.webhook_signing_secrets(other) == []


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@override_settings(WEBHOOK_SIGNING_SECRET="deployment-wide-secret")
def test_delivery_is_signed_with_the_subscription_secret_over_timestamp_and_body(api, receiver):
    created = _subscribe(api, target_url=f"http://127.0.0.1:{receiver.server_port}/hook", event_types=["created"])
    api.post("/api/v1/tickets/", penalty_body(), format="json")
    message = Message.objects.get(channel="webhook")
    assert message_deliver(message.pk) == "sent"
    headers, body = _Receiver.received[0]
    timestamp = headers["X-Cstrack-Timestamp"]
    expected = hmac.new(created["secret"].encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Cstrack-Signature"].endswith(expected)
    wrong = hmac.new(b"deployment-wide-secret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert wrong not in headers["X-Cstrack-Signature"]
    envelope = json.loads(body)
    assert json.loads(envelope["text"])["type"] == "ticket.created"


@override_settings(WEBHOOK_SIGNING_SECRET="s", MESSAGE_MAX_ATTEMPTS=2)
def test_failed_deliveries_retry_then_dead_letter(api, receiver):
    _Receiver.status = 503
    _subscribe(api, target_url=f"http://127.0.0.1:{receiver.server_port}/hook", event_types=["created"])
    api.post("/api/v1/tickets/", penalty_body(), format="json")
    message = Message.objects.get(channel="webhook")
    assert message_deliver(message.pk) == "retry"
    Message.objects.filter(pk=message.pk).update(next_attempt_at=dt.datetime.now(dt.UTC))
    assert message_deliver(message.pk) == "dead"
    assert api.get("/api/v1/messages/?state=dead").json()["results"][0]["id"] == message.pk
