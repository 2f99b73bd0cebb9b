"""Privacy tests: files under a temporary MEDIA_ROOT, messages through the in-memory provider."""

import pytest

from notifications.providers import memory

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
ZIP = b"PK\x03\x04" + b"\x00" * 32


@pytest.fixture(autouse=True)
def _privacy_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SMS_PROVIDER = "memory"
    settings.NOTIFICATIONS_CHANNEL_PROVIDERS = {"email": "memory", "chat": "memory", "webhook": "memory"}
    memory.reset()
    yield
    memory.reset()


@pytest.fixture
def record_ticket(make_ticket):
    """A record-issuance ticket (its attachments are deleted on completion)."""
    return make_ticket(
        "pet-record-issuance",
        details={
            "requester_role": "passenger",
            "record_type": "usage_record",
            "period_start": "2026-11-01",
            "period_end": "2026-11-10",
            "reason": "경찰서 제출",
            "email": "record.asker@example.com",
        },
        member_id="M-1",
        consent_basis="newly_collected",
    )


@pytest.fixture
def cs_ticket(make_ticket):
    return make_ticket(
        "pet-cs-inquiry",
        details={"issue_type": "payment", "description": "현장 결제 영수증 확인"},
        customer_phone="010-2468-1357",
        consent_basis="newly_collected",
    )


@pytest.fixture
def operator(operator):
    """Operations staff work their boards' queues: this one is on every board (the access
    policy shows operations staff only their boards' tickets)."""
    from tickets.models import Board

    operator.boards.add(*Board.objects.all())
    return operator
