"""Providers against the fake provider server (real HTTP on 127.0.0.1), and the simple ones."""

import hashlib
import hmac
import json
import logging
import re
import socket
import time
import urllib.request
from datetime import timedelta

import pytest
import time_machine

from cstrack import calendar
from notifications import services
from notifications.models import Message
from notifications.providers import (
    PermanentProviderError,
    ProviderConfigurationError,
    TemporaryProviderError,
    get_provider,
)
from notifications.providers.gateway import HttpGatewayProvider, sign
from notifications.providers.solapi import SolapiProvider, authorization_header, national_number

from .conftest import PHONE_E164, PHONE_VARIANTS, kst

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestSolapi:
    def test_send_sms_is_authenticated_and_recorded(self, enqueue, solapi_settings, fake_provider):
        message = enqueue(body="[테스트] 처리가 끝났습니다.")
        ref = SolapiProvider().send(message)
        [got] = fake_provider.received("solapi")
        assert ref == got["provider_ref"] and ref.startswith("M4V")
        assert got["to"] == "01012345678"
        assert got["sender"] == "15990000"
        assert got["type"] == "SMS"
        assert got["text"] == "[테스트] 처리가 끝났습니다."
        assert got["custom_fields"] == {"idempotencyKey": message.idempotency_key}
        assert fake_provider.stats()["auth_failures"] == 0

    def test_send_lms_with_subject(self, enqueue, solapi_settings, fake_provider):
        message = enqueue(body="가" * 60, subject="안내")
        SolapiProvider().send(message)
        [got] = fake_provider.received("solapi")
        assert (got["type"], got["subject"]) == ("LMS", "안내")

    def test_wrong_secret_is_permanent(self, enqueue, solapi_settings, fake_provider):
        solapi_settings.SOLAPI_API_SECRET = "not-the-secret"
        message = enqueue()
        with pytest.raises(PermanentProviderError) as exc:
            SolapiProvider().send(message)
        assert "403" in str(exc.value) and "SignatureDoesNotMatch" in str(exc.value)
        assert fake_provider.stats()["auth_failures"] == 1
        assert fake_provider.received() == []

    def test_wrong_api_key_is_permanent(self, enqueue, solapi_settings, fake_provider):
        solapi_settings.SOLAPI_API_KEY = "SOMEONEELSE"
        with pytest.raises(PermanentProviderError) as exc:
            SolapiProvider().send(enqueue())
        assert "InvalidAPIKey" in str(exc.value)

    def test_5xx_is_temporary(self, enqueue, solapi_settings, fake_provider):
        fake_provider.fail_next(503)
        with pytest.raises(TemporaryProviderError) as exc:
            SolapiProvider().send(enqueue())
        assert "503" in str(exc.value)
        assert fake_provider.received() == []

    def test_4xx_is_permanent_and_429_temporary(self, enqueue, solapi_settings, fake_provider):
        fake_provider.fail_next(400, 429)
        with pytest.raises(PermanentProviderError):
            SolapiProvider().send(enqueue())
        with pytest.raises(TemporaryProviderError):
            SolapiProvider().send(enqueue())

    def test_timeout_is_temporary_maybe_delivered_and_found_by_lookup(self, enqueue, solapi_settings, fake_provider):
        solapi_settings.PROVIDER_TIMEOUT = 0.3
        fake_provider.configure(timeout_sleep=1.0)
        fake_provider.fail_next("timeout")
        message = enqueue()
        with pytest.raises(TemporaryProviderError) as exc:
            SolapiProvider().send(message)
        assert exc.value.maybe_delivered is True
        assert "timeout" in str(exc.value)
        [got] = fake_provider.received("solapi")
        assert SolapiProvider().lookup(message.idempotency_key, message=message) == got["provider_ref"]

    def test_lookup_not_found(self, enqueue, solapi_settings, fake_provider):
        message = enqueue()
        assert SolapiProvider().lookup(message.idempotency_key, message=message) is None
        assert SolapiProvider().lookup("never-sent") is None

    def test_lookup_pages_through_the_recipients_messages(self, enqueue, solapi_settings, fake_provider, monkeypatch):
        from notifications.providers import solapi

        monkeypatch.setattr(solapi, "LOOKUP_PAGE_SIZE", 2)
        messages = [enqueue() for _ in range(5)]
        for m in messages:
            SolapiProvider().send(m)
        last = messages[-1]
        found = SolapiProvider().lookup(last.idempotency_key, message=last)
        assert found == fake_provider.received()[-1]["provider_ref"]

    def test_connection_refused_is_temporary_not_delivered(self, enqueue, solapi_settings):
        solapi_settings.SOLAPI_BASE_URL = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(TemporaryProviderError) as exc:
            SolapiProvider().send(enqueue())
        assert exc.value.maybe_delivered is False

    def test_missing_credentials(self, enqueue, solapi_settings):
        solapi_settings.SOLAPI_API_KEY = ""
        with pytest.raises(ProviderConfigurationError):
            SolapiProvider().send(enqueue())

    def test_authorization_header_format(self):
        header = authorization_header("KEY1", "SECRET1")
        match = re.fullmatch(r"HMAC-SHA256 apiKey=KEY1, date=(\S+), salt=(\w+), signature=([0-9a-f]{64})", header)
        assert match
        date, salt, signature = match.groups()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", date)
        assert 12 <= len(salt) <= 64
        assert signature == hmac.new(b"SECRET1", (date + salt).encode(), hashlib.sha256).hexdigest()
        assert authorization_header("KEY1", "SECRET1") != header  # fresh salt each time

    def test_national_number(self):
        assert national_number(PHONE_E164) == "01012345678"
        with pytest.raises(PermanentProviderError):
            national_number("+14155552671")

    def test_end_to_end_exactly_once_with_failures(self, enqueue, solapi_settings, fake_provider, published):
        """Many messages, a flaky provider (5xx and timeouts after accepting): every message is
        received exactly once, thanks to the lookup before any resend."""
        solapi_settings.PROVIDER_TIMEOUT = 0.2
        solapi_settings.MESSAGE_MAX_ATTEMPTS = 20
        fake_provider.configure(error_rate=0.3, timeout_rate=0.2, timeout_sleep=0.5, seed=42)
        with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False) as clock:
            messages = [enqueue(idempotency_key=f"e2e:{i}") for i in range(12)]
            for _ in range(40):
                published.calls.clear()
                services.outbox_sweep()
                for pk in published.ids():
                    services.message_deliver(pk)
                if not Message.objects.exclude(state=Message.State.SENT).exists():
                    break
                clock.shift(timedelta(hours=1))
        states = set(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("state", flat=True))
        assert states == {Message.State.SENT}
        assert fake_provider.duplicates() == {}
        assert sorted(r["idempotency_key"] for r in fake_provider.received()) == sorted(
            m.idempotency_key for m in messages
        )
        stats = fake_provider.stats()
        # The failures really happened; each timeout left a recorded message whose blind resend
        # would have shown up as a duplicate above.
        assert stats["errors"] > 0 and stats["timeouts"] > 0

    def test_deliver_through_service_records_ref(self, enqueue, solapi_settings, fake_provider):
        message = enqueue()
        assert services.message_deliver(message.pk) == "sent"
        m = Message.objects.get(pk=message.pk)
        assert (m.provider, m.provider_ref) == ("solapi", fake_provider.received()[0]["provider_ref"])

    def test_solapi_errors_never_carry_the_number(self, enqueue, solapi_settings, fake_provider, caplog):
        caplog.set_level(logging.DEBUG)
        fake_provider.fail_next(400)
        message = enqueue()
        services.message_deliver(message.pk)
        m = Message.objects.get(pk=message.pk)
        assert m.state == Message.State.DEAD
        assert all(v not in m.last_error for v in PHONE_VARIANTS)
        assert all(v not in caplog.text for v in PHONE_VARIANTS)


class TestHttpGateway:
    def test_signed_send_is_accepted(self, enqueue, gateway_settings, fake_provider):
        message = enqueue(body="[테스트] 게이트웨이")
        ref = HttpGatewayProvider().send(message)
        [got] = fake_provider.received("gateway")
        assert ref == got["provider_ref"]
        assert got["to"] == PHONE_E164
        assert got["sender"] == "15990000"
        assert got["type"] == "SMS"
        assert got["idempotency_key"] == message.idempotency_key
        assert fake_provider.stats()["auth_failures"] == 0

    def test_wrong_secret_is_rejected_401_permanent(self, enqueue, gateway_settings, fake_provider):
        gateway_settings.HTTP_GATEWAY_SECRET = "wrong"
        with pytest.raises(PermanentProviderError) as exc:
            HttpGatewayProvider().send(enqueue())
        assert "401" in str(exc.value)
        assert fake_provider.stats()["auth_failures"] == 1

    def test_signature_is_hmac_of_timestamp_dot_body(self, fake_provider):
        """Sign a request by hand, independently of the provider code, and have the fake accept it."""
        body = json.dumps(
            {"idempotency_key": "manual-1", "to": PHONE_E164, "from": "15990000", "type": "SMS", "text": "x"}
        )
        ts = str(int(time.time()))
        signature = hmac.new(fake_provider.gateway_secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
        assert sign(fake_provider.gateway_secret, ts, body) == signature
        req = urllib.request.Request(
            fake_provider.gateway_url,
            data=body.encode(),
            method="POST",
            headers={"X-Cstrack-Timestamp": ts, "X-Cstrack-Signature": signature, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["provider_ref"]

    def test_lookup_found_and_not_found(self, enqueue, gateway_settings, fake_provider):
        message = enqueue()
        assert HttpGatewayProvider().lookup(message.idempotency_key) is None
        ref = HttpGatewayProvider().send(message)
        assert HttpGatewayProvider().lookup(message.idempotency_key) == ref

    def test_5xx_temporary_and_4xx_permanent(self, enqueue, gateway_settings, fake_provider):
        fake_provider.fail_next(502, 422)
        with pytest.raises(TemporaryProviderError):
            HttpGatewayProvider().send(enqueue())
        with pytest.raises(PermanentProviderError):
            HttpGatewayProvider().send(enqueue())

    def test_crash_recovery_through_gateway(self, enqueue, gateway_settings, fake_provider):
        message = enqueue()
        HttpGatewayProvider().send(message)  # the worker sent it, then died before recording
        Message.objects.filter(pk=message.pk).update(
            state=Message.State.SENDING, lease_until=calendar.now() - timedelta(seconds=1)
        )
        assert services.message_deliver(message.pk) == "recovered"
        assert fake_provider.count(message.idempotency_key) == 1

    def test_missing_sender_number(self, enqueue, gateway_settings):
        gateway_settings.SMS_SENDER_NUMBER = ""
        with pytest.raises(ProviderConfigurationError) as exc:
            HttpGatewayProvider().send(enqueue())
        assert "SMS_SENDER_NUMBER" in str(exc.value)


class TestChatAndWebhook:
    def test_chat_posts_text(self, enqueue, fake_provider):
        message = enqueue(
            channel="chat", recipient=f"{fake_provider.url}/hooks/T1/B1/token", subject="기한", body="확인"
        )
        assert services.message_deliver(message.pk) == "sent"
        [got] = fake_provider.received("hook")
        assert got["text"] == "*기한*\n확인"
        assert got["idempotency_key"] == message.idempotency_key
        assert got["signed"] is False

    def test_webhook_is_signed(self, enqueue, fake_provider, settings):
        settings.WEBHOOK_SIGNING_SECRET = fake_provider.gateway_secret
        message = enqueue(channel="webhook", recipient=f"{fake_provider.url}/hooks/ops", body="알림")
        assert services.message_deliver(message.pk) == "sent"
        [got] = fake_provider.received("hook")
        assert got["signed"] is True and got["text"] == "알림"

    def test_webhook_bad_secret_dead_letters(self, enqueue, fake_provider, settings):
        settings.WEBHOOK_SIGNING_SECRET = "wrong"
        message = enqueue(channel="webhook", recipient=f"{fake_provider.url}/hooks/ops", body="알림")
        assert services.message_deliver(message.pk) == "dead"
        assert "401" in Message.objects.get(pk=message.pk).last_error


class TestSimpleProviders:
    def test_console_logs_masked_recipient_only(self, enqueue, settings, caplog):
        settings.SMS_PROVIDER = "console"
        caplog.set_level(logging.INFO, logger="notifications.console")
        message = enqueue(body="[테스트] 콘솔")
        assert services.message_deliver(message.pk) == "sent"
        assert "010-****-5678" in caplog.text and "[테스트] 콘솔" in caplog.text
        assert all(v not in caplog.text for v in PHONE_VARIANTS)

    def test_file_appends_json_lines_without_the_number_and_looks_up(self, enqueue, settings):
        settings.SMS_PROVIDER = "file"
        first, second = enqueue(), enqueue()
        assert services.message_deliver(first.pk) == "sent"
        assert services.message_deliver(second.pk) == "sent"
        with open(settings.SMS_FILE_PATH, encoding="utf-8") as fh:
            raw = fh.read()
        rows = [json.loads(line) for line in raw.splitlines()]
        assert [r["idempotency_key"] for r in rows] == [first.idempotency_key, second.idempotency_key]
        assert rows[0]["to"] == "010-****-5678"
        assert all(v not in raw for v in PHONE_VARIANTS)
        provider = get_provider("sms")
        assert provider.lookup(second.idempotency_key) == rows[1]["provider_ref"]
        assert provider.lookup("nope") is None

    def test_provider_choice_follows_settings(self, settings):
        for name in ("console", "file", "memory", "http", "solapi"):
            settings.SMS_PROVIDER = name
            assert get_provider("sms").name == name
        assert get_provider("email").name == "email"
        assert get_provider("chat").name == "slack"
        assert get_provider("webhook").name == "webhook"
        settings.NOTIFICATIONS_CHANNEL_PROVIDERS = {"email": "memory"}
        assert get_provider("email").name == "memory"
        settings.SMS_PROVIDER = "carrier-pigeon"
        with pytest.raises(ProviderConfigurationError):
            get_provider("sms")

    def test_non_http_urls_are_refused(self, enqueue):
        message = enqueue(channel="chat", recipient="https://example.com/hook", body="x")
        message.recipient = "file:///etc/passwd"
        with pytest.raises(PermanentProviderError):
            get_provider("chat").send(message)


def rotating_secrets(message):
    """A resolver as the tickets app would provide (WEBHOOK_SECRET_RESOLVER)."""
    return ["new-secret", FakeSecrets.previous]


class FakeSecrets:
    previous = ""


class TestWebhookSecretsResolver:
    def test_resolver_secrets_each_sign_and_any_is_accepted(self, enqueue, fake_provider, settings):
        FakeSecrets.previous = fake_provider.gateway_secret  # the receiver still knows the old one
        settings.WEBHOOK_SECRET_RESOLVER = f"{__name__}.rotating_secrets"
        settings.HTTP_GATEWAY_SECRET = "unused-fallback"
        message = enqueue(channel="webhook", recipient=f"{fake_provider.url}/hooks/ops", body="알림")
        assert services.message_deliver(message.pk) == "sent"
        [got] = fake_provider.received("hook")
        assert got["signed"] is True

    def test_empty_resolver_falls_back_to_the_setting(self, enqueue, fake_provider, settings):
        from notifications.providers.webhook import webhook_secrets

        settings.WEBHOOK_SECRET_RESOLVER = f"{__name__}.no_secrets"
        settings.WEBHOOK_SIGNING_SECRET = fake_provider.gateway_secret
        message = enqueue(channel="webhook", recipient=f"{fake_provider.url}/hooks/ops", body="알림")
        assert webhook_secrets(message) == [fake_provider.gateway_secret]
        assert services.message_deliver(message.pk) == "sent"

    def test_bad_resolver_path_dead_letters(self, enqueue, fake_provider, settings):
        settings.WEBHOOK_SECRET_RESOLVER = "no.such.module.resolver"
        message = enqueue(channel="webhook", recipient=f"{fake_provider.url}/hooks/ops", body="알림")
        assert services.message_deliver(message.pk) == "dead"
        assert "WEBHOOK_SECRET_RESOLVER" in Message.objects.get(pk=message.pk).last_error


def no_secrets(message):
    return []
