"""Fixtures for the escalation-core tests.

* Every test runs with SMS (and e-mail/chat) routed to the in-memory provider and a fresh outbox.
* Nothing is published to a broker: `published.ids()` lists the message ids that would have been.
* `kst(...)` builds an aware KST datetime; `at(...)` travels there with the clock stopped.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from cstrack.actors import Actor
from cstrack.calendar import KST
from notifications.providers import memory
from tests.conftest import PublishedTasks
from tests.seedcodes import seed

PHONE = "010-1234-5678"
PHONE_E164 = "+821012345678"
EMAIL = "hong.gildong@example.com"

# A valid example per kind: (details, extra kwargs for services.ticket_create).
VALID = {
    "pet-cs-inquiry": (
        {"issue_type": "app_error", "description": "결제 화면에서 앱이 멈춤", "reboot_tried": True, "network": "lte"},
        {},
    ),
    "pet-partnership-inquiry": (
        {"company_name": "멍멍상사", "inquirer_name": "김제휴", "contact_phone": PHONE, "inquiry": "제휴 제안"},
        {"consent_basis": "newly_collected"},
    ),
    "mate-sales-statement": (
        {
            "request_detail": "10월 매출내역",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "email": EMAIL,
        },
        {"driver_id": "MATE-1", "consent_basis": "newly_collected"},
    ),
    "pet-cancel-penalty-exemption": (
        {"request_type": "collect", "cancel_requested_on": "2026-11-18", "appeal_reason": "보호자 사정으로 취소"},
        {"driver_id": "MATE-2"},
    ),
    "pet-mate-membership": (
        {"topic": "info_change", "change_item": "phone", "procedure_explained": True, "description": "번호 변경"},
        {},
    ),
    "pet-custom-driver": (
        {"request": "join", "team_name": "강남 비공개팀"},
        {"driver_id": "MATE-3"},
    ),
    "pet-record-issuance": (
        {
            "requester_role": "passenger",
            "record_type": "usage_record",
            "period_start": "2026-11-01",
            "period_end": "2026-11-10",
            "reason": "경찰서 제출",
            "email": EMAIL,
        },
        {"member_id": "M-1", "consent_basis": "newly_collected"},
    ),
    "driver-penalty-request": (
        {
            "penalty_board": "koc",
            "call_type": "own_normal",
            "violation": "no_show",
            "incident_date": "2026-11-18",
            "description": "배정 후 연락 없이 취소됨",
            "feedback_requested": True,
        },
        {"driver_id": "DRV-1", "customer_phone": PHONE, "consent_basis": "newly_collected"},
    ),
    "driver-compensation-demand": (
        {"demand": "택시비 보상 요구", "callback_number": "registered", "incident_date": "2026-11-18"},
        {"member_id": "M-2", "consent_basis": "existing_member"},
    ),
    "parking-season-pass-registration": (
        {
            "pass_link": "linked",
            "cause": "operator_missing",
            "occurred_on": "2026-11-18",
            "exit_handling": "call_button",
            "onsite_payment": True,
            "onsite_payment_amount": 5000,
        },
        {"vehicle_plate": "12가3456", "parking_lot": "판교역 공영주차장"},
    ),
    "business-transfer": (
        {
            "caller_type": "registered_admin",
            "transfer_type": "admin_settings",
            "company_name": "(주)예시",
            "contact_person": "이담당",
            "inquiry": "한도 설정 문의",
        },
        {},
    ),
}


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, test against a file (as the app runs), not Django's shared-cache in-memory
    database: there, concurrent writers get "database table is locked" at once instead of
    waiting on the busy timeout, so concurrency tests cannot run. (Applies when tests/tickets
    sets the test database up; see test_references for the full-suite case.)"""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3" and not db.get("TEST", {}).get("NAME"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test_cstrack.sqlite3")


def kst(*args) -> datetime:
    return datetime(*args, tzinfo=KST)


def at(*args):
    """time_machine.travel to a KST wall-clock time, clock stopped."""
    return time_machine.travel(kst(*args), tick=False)


@pytest.fixture(autouse=True)
def _ticket_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SMS_PROVIDER = "memory"
    settings.NOTIFICATIONS_CHANNEL_PROVIDERS = {"email": "memory", "chat": "memory", "webhook": "memory"}
    settings.CSTRACK_QUIET_HOURS = ("21:00", "08:00")
    settings.CSTRACK_BUSINESS_HOURS = ("09:00", "18:00")
    memory.reset()
    yield
    memory.reset()


@pytest.fixture(autouse=True)
def published(monkeypatch):
    return PublishedTasks().install(monkeypatch)


@pytest.fixture
def operator_actor(operator):
    return Actor.for_user(operator)


@pytest.fixture
def supervisor_actor(supervisor):
    return Actor.for_user(supervisor)


@pytest.fixture
def create(db, actor):
    """create(kind, details=None, **kwargs): the kind's valid example, overridable."""
    from tickets.lifecycle import services

    def _create(kind, details=None, **kwargs):
        base_details, base_kwargs = VALID[kind]
        merged = {**base_kwargs, **kwargs}
        merged.setdefault("actor", actor)
        return services.ticket_create(
            kind=seed(kind), details=dict(base_details) if details is None else details, **merged
        )

    return _create


@pytest.fixture
def operator(operator):
    """Operations staff work their boards' queues: this one is on every board (the access
    policy shows operations staff only their boards' tickets)."""
    from tickets.models import Board

    operator.boards.add(*Board.objects.all())
    return operator
