"""Fixtures for the notifications tests.

* Every test runs with SMS_PROVIDER=memory and a fresh in-memory outbox.
* `published` records the deliver tasks that would have gone to the broker (nothing is sent to
  a broker in these tests); call `published.ids()` to see the message ids.
* `fake_provider` is a FakeProviderServer (real HTTP on 127.0.0.1) shared by the module and
  reset for each test; `solapi_settings` / `gateway_settings` point the providers at it.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from cstrack.calendar import KST
from notifications.providers import memory
from tests.conftest import PublishedTasks
from tests.fakes.provider_server import FakeProviderServer

PHONE = "010-1234-5678"
PHONE_E164 = "+821012345678"
PHONE_VARIANTS = ("01012345678", "+821012345678", "821012345678", "010-1234-5678", "1012345678")


def kst(*args) -> datetime:
    return datetime(*args, tzinfo=KST)


@pytest.fixture(autouse=True)
def _notification_settings(settings, tmp_path):
    settings.SMS_PROVIDER = "memory"
    settings.SMS_SENDER_NUMBER = "1599-0000"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    settings.MESSAGE_MAX_ATTEMPTS = 6
    settings.MESSAGE_LEASE_SECONDS = 120
    settings.PROVIDER_TIMEOUT = 2.0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CSTRACK_QUIET_HOURS = ("21:00", "08:00")
    memory.reset()
    yield
    memory.reset()


@pytest.fixture(autouse=True)
def published(monkeypatch):
    return PublishedTasks().install(monkeypatch)


@pytest.fixture(scope="module")
def _fake_server():
    server = FakeProviderServer(seed=1).start()
    yield server
    server.stop()


@pytest.fixture
def fake_provider(_fake_server):
    _fake_server.reset()
    _fake_server.configure(error_rate=0.0, timeout_rate=0.0, timeout_sleep=2.0, seed=1)
    return _fake_server


@pytest.fixture
def solapi_settings(settings, fake_provider):
    settings.SMS_PROVIDER = "solapi"
    settings.SOLAPI_BASE_URL = fake_provider.solapi_base_url
    settings.SOLAPI_API_KEY = fake_provider.solapi_api_key
    settings.SOLAPI_API_SECRET = fake_provider.solapi_api_secret
    return settings


@pytest.fixture
def gateway_settings(settings, fake_provider):
    settings.SMS_PROVIDER = "http"
    settings.HTTP_GATEWAY_URL = fake_provider.gateway_url
    settings.HTTP_GATEWAY_SECRET = fake_provider.gateway_secret
    return settings


@pytest.fixture
def sms_template(db):
    from notifications.models import MessageTemplate

    return MessageTemplate.objects.create(
        code="test-sms",
        name="테스트 문자",
        channel="sms",
        body="[테스트] {reference} 건 처리가 끝났습니다. {customer_name_masked}님 감사합니다.",
    )


@pytest.fixture
def enqueue(db, django_capture_on_commit_callbacks):
    """enqueue(**overrides) -> Message: a customer SMS by default, on-commit callbacks run."""
    from notifications import services

    counter = iter(range(1, 10_000))

    def _enqueue(**kwargs):
        kwargs.setdefault("channel", "sms")
        kwargs.setdefault("recipient", PHONE)
        kwargs.setdefault("idempotency_key", f"test:{next(counter)}")
        if "template" not in kwargs and "body" not in kwargs:
            kwargs["body"] = "[테스트] 요청하신 처리가 끝났습니다."
        with django_capture_on_commit_callbacks(execute=True):
            return services.message_enqueue(**kwargs)

    return _enqueue
