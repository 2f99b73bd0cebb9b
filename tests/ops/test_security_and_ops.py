"""Login throttling, fail-open cache, production settings, metrics, request IDs, PII log scrub,
retention purge and the health command."""

import logging
import os
import subprocess
import sys
from datetime import datetime

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client, override_settings

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.logging import PiiScrubFilter, scrub
from tests.conftest import make_user
from tickets.lifecycle import services
from tickets.models import EventType, Status
from tickets.privacy import contact, retention

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "login-tests"}}


@override_settings(
    LOGIN_MAX_FAILURES=3, CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)
@pytest.mark.django_db
def test_login_is_refused_after_repeated_failures_even_with_the_right_password():
    cache.clear()
    make_user("clerk")
    from django.contrib.auth import authenticate

    for _ in range(3):
        assert authenticate(None, username="clerk", password="wrong") is None
    # The fourth try is refused although the password is right: the account is locked out.
    assert authenticate(None, username="clerk", password="pw-clerk") is None


@override_settings(
    LOGIN_MAX_FAILURES=3, CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)
@pytest.mark.django_db
def test_successful_login_clears_failures():
    cache.clear()
    make_user("clerk2")
    from django.contrib.auth import authenticate

    for _ in range(2):
        authenticate(None, username="clerk2", password="wrong")
    assert authenticate(None, username="clerk2", password="pw-clerk2") is not None
    for _ in range(2):
        authenticate(None, username="clerk2", password="wrong")
    assert authenticate(None, username="clerk2", password="pw-clerk2") is not None


def test_fail_open_cache_answers_when_redis_is_down():
    from cstrack.cache import FailOpenRedisCache

    dead = FailOpenRedisCache(
        "redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}
    )
    assert dead.get("k", "fallback") == "fallback"
    assert dead.add("k", 1) is True
    assert dead.incr("k") == 1


def _settings_subprocess(env_extra, code):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "PII_ENCRYPTION_KEYS", "PII_HASH_KEY"}}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_secrets():
    result = _settings_subprocess({"DJANGO_ENV": "production"}, "import django; django.setup()")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_development_secrets():
    from config import settings as dev

    result = _settings_subprocess(
        {
            "DJANGO_ENV": "production",
            "SECRET_KEY": dev._DEV_SECRET_KEY,
            "PII_ENCRYPTION_KEYS": dev._DEV_PII_KEY,
            "PII_HASH_KEY": dev._DEV_PII_HASH_KEY,
        },
        "import django; django.setup()",
    )
    assert result.returncode != 0
    assert "refuses the development secrets" in result.stderr


def test_check_deploy_is_clean_in_production():
    from cryptography.fernet import Fernet

    result = _settings_subprocess(
        {
            "DJANGO_ENV": "production",
            "SECRET_KEY": "x" * 20 + "K9#mQ2$vL7!pZ4&nR8*wT1^yU6(bE3)sD5",
            "ALLOWED_HOSTS": "cs.example",
            "PII_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "PII_HASH_KEY": "h" * 32,
            "DATABASE_URL": "sqlite:////tmp/cstrack-deploy-check.sqlite3",
        },
        "import django, sys; django.setup(); from django.core.management import call_command; "
        "call_command('check', '--deploy', '--fail-level', 'WARNING', '--tag', 'security')",
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_log_filter_masks_phone_numbers_and_emails():
    assert scrub("고객 010-1234-5678 / +82 10 9876 5432 / kim@example.com") == "고객 [phone] / [phone] / [email]"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent to %s", ("01012345678",), None)
    PiiScrubFilter().filter(record)
    assert record.getMessage() == "sent to [phone]"


@pytest.mark.django_db
def test_metrics_endpoint_reports_backlog_and_breaches(make_ticket):
    ticket = make_ticket()
    with time_machine.travel(calendar.d_plus(ticket.received_at, 4, datetime.min.time()), tick=False):
        from tickets.followups.dispatcher import dispatch_due

        body = Client().get("/metrics").content.decode()
        assert "cstrack_followups_due 2.0" in body  # D+3 SMS and the breach alert are due
        dispatch_due()
        body = Client().get("/metrics").content.decode()
    assert "cstrack_followups_due 0.0" in body
    assert 'cstrack_open_breached_tickets{board="penalty-koc"} 1.0' in body


@override_settings(METRICS_TOKEN="s3cret")
@pytest.mark.django_db
def test_metrics_token_is_required_when_configured():
    assert Client().get("/metrics").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


@pytest.mark.django_db
def test_every_response_carries_a_request_id():
    response = Client().get("/metrics", HTTP_X_REQUEST_ID="abcdef123456")
    assert response["X-Request-ID"] == "abcdef123456"
    generated = Client().get("/metrics")["X-Request-ID"]
    assert len(generated) == 32


@pytest.mark.django_db
def test_retention_purges_contact_after_the_kind_period_and_keeps_the_ticket(make_ticket, agent):
    ops = Actor.for_user(agent)
    with time_machine.travel(datetime(2026, 1, 5, 10, 0, tzinfo=calendar.KST), tick=False):
        ticket = make_ticket(
            "pet-cs-inquiry",
            details={"issue_type": "payment", "description": "이중 결제"},
            customer_phone="010-2222-3333",
            consent_basis="newly_collected",
        )
        services.ticket_transition(ticket, to_status=Status.CANCELLED, actor=ops)
    days = ticket.kind.retention_days
    with time_machine.travel(datetime(2026, 1, 5, 10, 0, tzinfo=calendar.KST), tick=False):
        assert retention.purge_candidates() == []
    later = calendar.after_seconds(datetime(2026, 1, 5, 10, 0, tzinfo=calendar.KST), (days + 1) * 86400)
    with time_machine.travel(later, tick=False):
        assert [c.reference for c in retention.purge_candidates()] == [ticket.reference]
        call_command("purge_personal_data")
        assert retention.purge_candidates() == []
    ticket.refresh_from_db()
    assert ticket.customer_phone is None and ticket.customer_phone_hash == "" and ticket.contact_purged_at
    assert ticket.events.filter(type=EventType.PURGED).count() == 1
    with connection.cursor() as cur:
        cur.execute("SELECT customer_phone FROM tickets_ticket WHERE id = %s", [ticket.pk])
        assert cur.fetchone()[0] is None


@pytest.mark.django_db
def test_partnership_contact_is_purged_when_the_ticket_closes(make_ticket, agent):
    ticket = make_ticket(
        "pet-partnership-inquiry",
        details={
            "company_name": "멍멍호텔",
            "inquirer_name": "한제휴",
            "contact_email": "p@mung.example",
            "inquiry": "제휴 제안",
        },
        consent_basis="newly_collected",
    )
    actor = Actor.for_user(agent)
    for status in (Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        services.ticket_transition(ticket, to_status=status, actor=actor)
    ticket.refresh_from_db()
    assert ticket.sensitive_details == {} and ticket.contact_purged_at is not None
    assert "inquirer_name" not in ticket.details and ticket.details["company_name"] == "멍멍호텔"
    assert ticket.events.filter(type=EventType.PURGED).exists()


@pytest.mark.django_db
def test_a_name_stored_in_plain_details_under_an_old_schema_version_is_purged(make_ticket, agent):
    """Tickets stored before the name was marked personal keep it in plain details; the purge
    still removes it, because the kind's current schema says it is personal."""
    from tickets.models import Ticket, TicketKindSchema

    ticket = make_ticket(
        "pet-partnership-inquiry",
        details={"company_name": "멍멍호텔", "inquirer_name": "한제휴", "contact_email": "p@mung.example",
                 "inquiry": "제휴 제안"},
        consent_basis="newly_collected",
    )  # fmt: skip
    assert ticket.sensitive_details["inquirer_name"] == "한제휴" and "inquirer_name" not in ticket.details
    current = TicketKindSchema.objects.filter(kind=ticket.kind).order_by("-version").first()
    unmarked = [{k: v for k, v in f.items() if k != "personal"} for f in current.schema["fields"]]
    old = TicketKindSchema.objects.create(
        kind=ticket.kind, version=current.version + 1, schema={**current.schema, "fields": unmarked}
    )  # stands in for a version stored before the field was marked
    # ... and the mark came back in the kind's current (latest) version.
    TicketKindSchema.objects.create(kind=ticket.kind, version=current.version + 2, schema=current.schema)
    Ticket.objects.filter(pk=ticket.pk).update(
        schema_version=old, details={**ticket.details, "inquirer_name": "한제휴"}
    )
    contact.ticket_purge_contact(Ticket.objects.get(pk=ticket.pk), actor=Actor.for_user(agent), reason="요청")
    purged = Ticket.objects.get(pk=ticket.pk)
    assert "inquirer_name" not in purged.details
    assert "inquirer_name" in purged.events.get(type=EventType.PURGED).data["fields"]


@pytest.mark.django_db
def test_health_command_fails_on_an_old_due_backlog(make_ticket, capsys):
    ticket = make_ticket()
    with time_machine.travel(calendar.d_plus(ticket.received_at, 5, datetime.min.time()), tick=False):
        with pytest.raises(SystemExit) as exit_info:
            call_command("health", "--no-workers", "--max-due-age", "600")
        assert exit_info.value.code == 1
        out = capsys.readouterr().out
        assert "healthy: False" in out and "oldest_due_followup_age_s" in out
        from tickets.followups.dispatcher import dispatch_due

        dispatch_due()
        call_command("health", "--no-workers", "--max-due-age", "600")
        assert "healthy: True" in capsys.readouterr().out


@override_settings(LOGIN_MAX_FAILURES=100, LOGIN_MAX_FAILURES_PER_ADDRESS=4, CACHES=LOCAL_CACHE)
@pytest.mark.django_db
def test_many_failures_from_one_address_lock_that_address():
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    cache.clear()
    make_user("clerk3")
    request = RequestFactory().post("/login/", REMOTE_ADDR="203.0.113.9")
    for name in ("a", "b", "c", "d"):
        assert authenticate(request, username=name, password="x") is None
    assert authenticate(request, username="clerk3", password="pw-clerk3") is None
    other = RequestFactory().post("/login/", REMOTE_ADDR="203.0.113.10")
    assert authenticate(other, username="clerk3", password="pw-clerk3") is not None


@pytest.mark.django_db
def test_nul_characters_in_form_fields_and_query_strings_are_refused(agent):
    client = Client()
    client.force_login(agent)
    assert client.get("/metrics?x=a%00b").status_code == 400
    response = client.post("/tickets/new/", {"kind": "pet-cs-inquiry", "title": "a\x00b"})
    assert response.status_code == 400


@pytest.mark.django_db
def test_healthz_answers_on_plain_http_and_any_host_in_production(settings):
    """The container health check calls http://127.0.0.1:8000/healthz: neither the host check nor
    the HTTPS redirect may turn it into a 400 or a 301."""
    settings.ALLOWED_HOSTS = ["cs.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    response = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert (response.status_code, response.content) == (200, b"ok")
    # Everything else still gets both protections.
    assert client.get("/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.get("/login/", HTTP_HOST="cs.example.com").status_code == 301


@pytest.mark.django_db
def test_healthz_reports_a_database_outage(monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = Client().get("/healthz")
    assert response.status_code == 503 and response.content == b"unavailable"


@pytest.mark.django_db
def test_admin_shows_tickets_and_follow_ups_but_cannot_change_them(admin_client, make_ticket):
    """Changes go through the services (permissions + audit trail), never an admin form."""
    ticket = make_ticket()
    followup = ticket.followups.first()
    assert followup is not None
    page = admin_client.get(f"/admin/tickets/ticket/{ticket.pk}/change/")
    assert page.status_code == 200 and ticket.reference in page.content.decode()
    assert 'name="assignee"' not in page.content.decode()
    assert admin_client.post(f"/admin/tickets/ticket/{ticket.pk}/change/", {"assignee": ""}).status_code == 403
    assert admin_client.post(f"/admin/tickets/followup/{followup.pk}/change/", {"reason": "x"}).status_code == 403
    assert admin_client.post(f"/admin/tickets/ticket/{ticket.pk}/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.django_db
def test_resolved_tickets_close_after_the_quiet_period_and_start_their_retention(make_ticket, agent, settings):
    settings.RESOLVED_AUTO_CLOSE_DAYS = 7
    actor = Actor.for_user(agent)
    start = datetime(2026, 3, 2, 10, 0, tzinfo=calendar.KST)
    with time_machine.travel(start, tick=False):
        ticket = make_ticket(
            "pet-cs-inquiry",
            details={"issue_type": "payment", "description": "이중 결제"},
            customer_phone="010-2222-3333",
            consent_basis="newly_collected",
        )
        for status in (Status.IN_PROGRESS, Status.RESOLVED):
            ticket = services.ticket_transition(ticket, to_status=status, actor=actor)
    with time_machine.travel(calendar.after_seconds(start, 7 * 86400 - 60), tick=False):
        assert retention.close_resolved() == 0
    closed_at = calendar.after_seconds(start, 7 * 86400)
    with time_machine.travel(closed_at, tick=False):
        assert retention.close_resolved() == 1
        assert retention.close_resolved() == 0
    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_at) == (Status.CLOSED, closed_at)
    event = ticket.events.filter(type=EventType.TRANSITIONED).order_by("-id").first()
    assert event.actor_label == "auto-close" and event.data["to"] == Status.CLOSED
    # Its retention period now runs from that close.
    later = calendar.after_seconds(closed_at, (ticket.kind.retention_days + 1) * 86400)
    with time_machine.travel(later, tick=False):
        assert [c.reference for c in retention.purge_candidates()] == [ticket.reference]


@pytest.mark.django_db
def test_auto_close_can_be_switched_off(make_ticket, agent, settings):
    settings.RESOLVED_AUTO_CLOSE_DAYS = 0
    ticket = make_ticket("pet-cs-inquiry", details={"issue_type": "payment", "description": "문의"})
    for status in (Status.IN_PROGRESS, Status.RESOLVED):
        ticket = services.ticket_transition(ticket, to_status=status, actor=Actor.for_user(agent))
    with time_machine.travel(calendar.after_seconds(calendar.now(), 400 * 86400), tick=False):
        assert retention.close_resolved() == 0


@pytest.mark.django_db
def test_a_cancelled_partnership_inquiry_loses_its_contact_too(make_ticket, agent):
    ticket = make_ticket(
        "pet-partnership-inquiry",
        details={"company_name": "멍멍호텔", "inquirer_name": "한제휴", "contact_email": "p@mung.example",
                 "inquiry": "제휴 제안"},
        consent_basis="newly_collected",
    )  # fmt: skip
    services.ticket_transition(ticket, to_status=Status.CANCELLED, actor=Actor.for_user(agent))
    ticket.refresh_from_db()
    assert ticket.sensitive_details == {} and ticket.contact_purged_at is not None


@pytest.mark.django_db
def test_ride_records_keep_personal_data_one_year_after_closing(make_ticket, agent):
    closed = datetime(2026, 3, 2, 10, 0, tzinfo=calendar.KST)
    with time_machine.travel(closed, tick=False):
        ticket = make_ticket(
            "pet-record-issuance",
            details={"requester_role": "passenger", "record_type": "usage_record", "period_start": "2026-02-01",
                     "period_end": "2026-02-10", "reason": "경찰서 제출", "email": "rider@example.com"},
            member_id="M-1",
            consent_basis="newly_collected",
        )  # fmt: skip
        services.ticket_transition(ticket, to_status=Status.CANCELLED, actor=Actor.for_user(agent))
    with time_machine.travel(calendar.after_seconds(closed, 364 * 86400), tick=False):
        assert retention.purge_candidates() == []
    with time_machine.travel(calendar.after_seconds(closed, 366 * 86400), tick=False):
        assert [(c.reference, c.retention_days) for c in retention.purge_candidates()] == [(ticket.reference, 365)]
