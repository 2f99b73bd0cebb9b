"""Leak scan: after a full scenario, the customers' phone numbers and e-mail addresses appear
nowhere but in the encrypted columns.

Scenario: a ticket of every kind through the API (and two through the services) with customer
phones and e-mails in the contact fields and in the kinds' personal fields; consent, a
third-party delegation, an attachment whose name holds a number, reveals (with Idempotency-Key),
re-contacts, outcomes, transitions, a webhook subscription, follow-ups dispatched days later and
every message delivered through the in-memory provider, a purge on close and a retention purge;
errors provoked on purpose (invalid numbers, personal data in the wrong fields, bad transitions,
404s, validation errors echoing submitted values).

Searched, for every customer number (01073010001, 7301-0001, 73010001, 010-7301-0001,
+821073010001) and e-mail address:
  (a) every column of every table, read with the raw cursor, except the encrypted columns
      (EncryptedTextField / EncryptedJSONField). Staff e-mail addresses (users, boards) are staff
      data and are not searched for: the scenario's customers use their own domain.
  (b) every log record at DEBUG, from every logger, before any filter touches it;
  (c) every task sent to the broker (Task.apply_async arguments);
  (d) every API error response body, and every DomainError raised by the services.
"""

import json
import logging
from datetime import datetime

import pytest
import time_machine
from celery.app.task import Task
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import DomainError
from cstrack.pii import EncryptedJSONField, EncryptedTextField
from notifications import services as outbox
from notifications.providers import memory
from tickets.api.keys import apikey_create
from tickets.followups import dispatcher
from tickets.lifecycle import services, workflow
from tickets.models import Board, Status, Ticket
from tickets.privacy import consent, contact, delegation, retention

from .conftest import PDF

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 23, 10, 0, tzinfo=calendar.KST)  # a Monday, inside business hours
CUSTOMER_DOMAIN = "customer-leak.example"


class Customers:
    """A distinct phone and e-mail per use, so a finding names where it came from."""

    def __init__(self):
        self.phones: list[str] = []
        self.emails: list[str] = []

    def phone(self) -> str:
        n = len(self.phones) + 1
        value = f"010-73{n:02d}-{1000 + n:04d}"
        self.phones.append(value)
        return value

    def email(self) -> str:
        value = f"cust.leak{len(self.emails) + 1:02d}@{CUSTOMER_DOMAIN}"
        self.emails.append(value)
        return value

    def needles(self) -> list[str]:
        found = []
        for phone in self.phones:
            head, mid, tail = phone.split("-")
            found += [head + mid + tail, f"{mid}-{tail}", mid + tail, phone, f"+82{head[1:]}{mid}{tail}"]
        return found + [e.lower() for e in self.emails]


def _hits(text: str, needles: list[str]) -> list[str]:
    low = text.lower()
    return [n for n in needles if n in low]


@pytest.fixture
def raw_logs():
    """Every record from every logger, formatted before the PII filter on the console handler
    can rewrite it (that filter is the last guard, not what this test relies on)."""
    records: list[str] = []

    class Raw(logging.Handler):
        def emit(self, record):
            text = str(record.msg)
            try:
                text += " " + record.getMessage()
            except Exception:
                text += f" {record.args!r}"
            if record.exc_info:
                text += " " + logging.Formatter().formatException(record.exc_info)
            records.append(f"{record.name}: {text}")

    root = logging.getLogger()
    handler, old_level = Raw(level=logging.DEBUG), root.level
    root.handlers.insert(0, handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.handlers.remove(handler)
    root.setLevel(old_level)


@pytest.fixture
def broker(monkeypatch):
    """Every apply_async (delay goes through it): recorded, not sent."""
    sent: list[tuple] = []

    def record(self, args=None, kwargs=None, **options):
        sent.append((self.name, args, kwargs, {k: v for k, v in options.items() if k not in {"retry"}}))

    monkeypatch.setattr(Task, "apply_async", record)
    return sent


class Recorder:
    """API clients whose every response is kept; errors are what (d) scans."""

    def __init__(self):
        self.responses = []

    def wrap(self, client):
        original = client.generic

        def generic(method, path, *args, **kwargs):
            response = original(method, path, *args, **kwargs)
            self.responses.append((method, path, response.status_code, response.content.decode(errors="replace")))
            return response

        client.generic = generic
        return client


def _encrypted_columns() -> set[tuple[str, str]]:
    columns = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField | EncryptedJSONField):
                columns.add((model._meta.db_table, field.column))
    return columns


def _database_hits(needles: list[str]) -> list[str]:
    skip = _encrypted_columns()
    findings = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            wanted = [c for c in columns if (table, c) not in skip]
            if not wanted:
                continue
            quoted = ", ".join(connection.ops.quote_name(c) for c in wanted)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from introspection
            for row in cursor.fetchall():
                for column, value in zip(wanted, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("utf-8", errors="replace")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    else:
                        text = str(value)
                    for hit in _hits(text, needles):
                        findings.append(f"{table}.{column}: {hit} in {text[:200]!r}")
    return findings


def _fill_personal(example: dict, people: Customers) -> dict:
    """A kind's example body with customer data wherever the kind takes phones or e-mails."""
    from tickets.models import TicketKind

    body = json.loads(json.dumps(example))
    kind = TicketKind.objects.get(code=body["kind"])
    for f in kind.schema.get("fields", []):
        if f["type"] == "phone":
            body["details"][f["name"]] = people.phone()
        elif f["type"] == "email":
            body["details"][f["name"]] = people.email()
    body["customer_phone"] = people.phone()
    body["customer_email"] = people.email()
    body["consent_basis"] = "newly_collected"
    if body["kind"] == "driver-compensation-demand":
        body["details"]["callback_number"] = "other"
    if body["kind"] == "business-transfer":
        body["details"]["transfer_type"] = "signup"
    return body


def test_no_customer_phone_or_email_outside_encrypted_columns(
    raw_logs, broker, settings, supervisor, operator, agent, django_capture_on_commit_callbacks
):
    settings.CSTRACK_QUIET_HOURS = ("21:00", "08:00")
    people = Customers()
    recorder = Recorder()
    service_errors: list[str] = []
    _key, plain = apikey_create(
        name="leakscan", scopes=("read", "write", "followups"), kinds=(), rate_per_minute=100_000
    )
    api = recorder.wrap(APIClient())
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    boss = recorder.wrap(APIClient())
    boss.force_login(supervisor)
    for board in Board.objects.all():
        board.supervisor_email = f"lead-{board.code}@staff.example"
        board.chat_webhook_url = f"https://chat.staff.example/{board.code}"
        board.save()
    ops_actor, boss_actor, agent_actor = Actor.for_user(operator), Actor.for_user(supervisor), Actor.for_user(agent)

    def expect_error(call):
        try:
            call()
        except DomainError as exc:
            service_errors.append(f"{type(exc).__name__}: {exc.detail} {exc.field_errors}")
        else:
            raise AssertionError("expected a DomainError")

    with django_capture_on_commit_callbacks(execute=True), time_machine.travel(START, tick=False):
        api.post("/api/v1/webhooks/", {"name": "crm", "target_url": "https://crm.example.com/hook"}, format="json")
        kinds = api.get("/api/v1/kinds/").json()
        assert len(kinds) == 11
        refs = {}
        for kind in kinds:
            response = api.post("/api/v1/tickets/", _fill_personal(kind["example"], people), format="json")
            assert response.status_code == 201, (kind["code"], response.content)
            refs[kind["code"]] = response.json()["reference"]
        # Through the services too (as the console does).
        direct = services.ticket_create(
            kind="pet-cs-inquiry",
            details={"issue_type": "payment", "description": "이중 결제"},
            customer_phone=people.phone(),
            customer_email=people.email(),
            consent_basis="newly_collected",
            actor=agent_actor,
        )
        consent.ticket_record_consent(direct, actor=agent_actor, basis="newly_collected", customer_phone=people.phone())
        services.ticket_log_recontact(direct, actor=agent_actor, note="재문의")

        penalty = refs["driver-penalty-request"]
        # Third party, attachment, reveals (an Idempotency-Key on a reveal must not store it).
        third = people.phone()
        d = boss.post(
            f"/api/v1/tickets/{penalty}/delegations/",
            {
                "caller": "호출자 본인(회원)",
                "relation": "spouse",
                "case": "spouse_accident_or_rm",
                "third_party_phone": third,
                "third_party_is_member": False,
                "third_party_consented": True,
            },
            format="json",
        ).json()
        revealed = boss.post(
            f"/api/v1/tickets/{penalty}/delegations/{d['id']}/contact-number/",
            {"reason": "사고 처리 통화"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="reveal-third",
        )
        assert revealed.status_code == 200
        assert (
            boss.post(
                f"/api/v1/tickets/{penalty}/contact-reveal/",
                {"reason": "회신"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="r1",
            ).status_code
            == 200
        )
        upload = api.post(
            f"/api/v1/tickets/{refs['parking-season-pass-registration']}/attachments/",
            {"file": SimpleUploadedFile(f"영수증_{people.phone()}_{people.email()}.pdf", PDF)},
            format="multipart",
        )
        assert upload.status_code == 201, upload.content
        assert boss.get(upload.json()["content_url"]).status_code == 200

        # Outcomes and transitions that schedule and send messages.
        api.post(f"/api/v1/tickets/{penalty}/outcome/", {"outcome": "warning"}, format="json")
        season = refs["parking-season-pass-registration"]
        api.post(f"/api/v1/tickets/{season}/outcome/", {"outcome": "registered"}, format="json")
        api.post(f"/api/v1/tickets/{refs['pet-cs-inquiry']}/recontacts/", {"note": "다시 전화함"}, format="json")
        partnership = refs["pet-partnership-inquiry"]
        for status in ("in_progress", "resolved", "closed"):
            api.post(f"/api/v1/tickets/{partnership}/transitions/", {"to_status": status}, format="json")

        # Errors on purpose: personal data where it does not belong, bad states, missing objects.
        body = _fill_personal(kinds[0]["example"], people)
        api.post("/api/v1/tickets/", {**body, "customer_phone": "010-73"}, format="json")
        api.post("/api/v1/tickets/", {**body, "customer_phone": people.email()}, format="json")
        api.post("/api/v1/tickets/", {**body, "customer_email": people.phone()}, format="json")
        api.post("/api/v1/tickets/", {**body, "channel": people.phone()}, format="json")
        api.post("/api/v1/tickets/", {**body, "kind": people.email()}, format="json")
        api.post("/api/v1/tickets/", {**body, "consent_basis": ""}, format="json")
        api.post(
            "/api/v1/tickets/", {**body, "details": {**body["details"], "issue_type": people.phone()}}, format="json"
        )
        api.post("/api/v1/tickets/", {**body, "member_id": people.phone() * 10}, format="json")
        api.post(f"/api/v1/tickets/{penalty}/transitions/", {"to_status": people.phone()}, format="json")
        api.post(f"/api/v1/tickets/{partnership}/transitions/", {"to_status": "in_progress"}, format="json")
        api.post(
            f"/api/v1/tickets/{penalty}/consent/", {"basis": "newly_collected", "customer_phone": "0107"}, format="json"
        )
        api.post(f"/api/v1/tickets/{penalty}/contact-reveal/", {"reason": "x"}, format="json")  # keys: 403
        api.get("/api/v1/tickets/CS-20000101-9999/")
        api.get(f"/api/v1/tickets/?phone={people.phone()}")
        api.get(f"/api/v1/tickets/?phone={people.email()}")
        api.get(f"/api/v1/messages/?recipient={people.phone()}")
        api.post(
            f"/api/v1/tickets/{penalty}/delegations/",
            {
                "caller": f"호출자 {people.phone()}",
                "relation": people.email(),
                "case": "x",
                "third_party_phone": people.email(),
                "third_party_is_member": False,
            },
            format="json",
        )
        api.post(
            f"/api/v1/tickets/{penalty}/attachments/",
            {"file": SimpleUploadedFile(f"{people.phone()}.pdf", b"not a pdf " + people.email().encode())},
            format="multipart",
        )
        api.patch(f"/api/v1/tickets/{penalty}/", {"title": people.phone()}, format="json", HTTP_IF_MATCH='"999"')
        api.patch(f"/api/v1/tickets/{penalty}/", {"customer_phone": people.phone()}, format="json", HTTP_IF_MATCH="*")
        expect_error(
            lambda: services.ticket_create(
                kind="pet-cs-inquiry",
                details={"description": people.email()},
                customer_phone=people.phone(),
                actor=agent_actor,
            )
        )
        expect_error(lambda: services.ticket_create(kind=people.phone(), details={}, actor=agent_actor))
        expect_error(
            lambda: services.ticket_update(direct, actor=agent_actor, changes={"customer_phone": people.phone()})
        )
        expect_error(lambda: services.ticket_transition(direct, to_status=people.email(), actor=agent_actor))
        expect_error(lambda: contact.ticket_reveal_contact(direct, actor=agent_actor, reason="x"))
        expect_error(
            lambda: delegation.delegation_record(
                direct,
                actor=agent_actor,
                relation="spouse",
                case="call_on_behalf",
                caller="호출자",
                third_party_phone=people.phone(),
                third_party_is_member=False,
                third_party_consented=False,
            )
        )
        expect_error(
            lambda: outbox.message_enqueue(
                channel="sms", recipient=people.email(), idempotency_key="leak-x", body="안내"
            )
        )

    # Days later: every follow-up due is dispatched and every queued message delivered.
    def deliver_everything():
        for _round in range(5):
            queued = []
            for name, args, _kw, _opt in broker:
                if name == "notifications.deliver_message":  # one id, or a batch of ids
                    queued.extend(args[0] if isinstance(args[0], list) else [args[0]])
            pending = [pk for pk in queued if pk not in delivered]
            if not pending:
                return
            for pk in pending:
                delivered.add(pk)
                outbox.message_deliver(pk)

    delivered: set[int] = set()
    for days in (1, 2, 3, 4, 7):
        with (
            django_capture_on_commit_callbacks(execute=True),
            time_machine.travel(calendar.after_seconds(START, days * 86400 + 3600), tick=False),
        ):
            dispatcher.dispatch_due()
            outbox.outbox_sweep()
            deliver_everything()
    from notifications.models import Message

    sent = Message.objects.filter(state=Message.State.SENT)
    channels = set(sent.values_list("channel", flat=True))
    assert {"sms", "email", "chat", "webhook"} <= channels, channels
    customer_sent = [m for m in sent if m.recipient in people.emails or m.recipient.startswith("+8210")]
    assert len(customer_sent) >= 2  # the season-pass SMS and the business intro e-mail at least
    assert len(memory.outbox()) == sent.count()

    # A retention purge long after: personal data leaves the finished tickets.
    later = calendar.after_seconds(START, 4 * 365 * 86400)
    for ref in refs.values():
        ticket = Ticket.objects.get(reference=ref)
        while ticket.is_open:
            targets = workflow.allowed_targets(ticket)
            target = next(t for t in (Status.CLOSED, Status.CANCELLED, Status.RESOLVED) if t in targets)
            ticket = services.ticket_transition(ticket, to_status=target, actor=boss_actor)
    with django_capture_on_commit_callbacks(execute=True), time_machine.travel(later, tick=False):
        assert retention.purge_expired() >= 1
    assert ops_actor  # the operator exists (board-scoped role) without seeing anything here

    needles = people.needles()
    assert len(needles) > 60
    findings = _database_hits(needles)
    findings += [f"log {line[:300]}" for line in raw_logs if _hits(line, needles)]
    findings += [f"broker {entry!r}"[:300] for entry in broker if _hits(repr(entry), needles)]
    errors = [r for r in recorder.responses if r[2] >= 400]
    assert len(errors) >= 15, [(r[0], r[1], r[2]) for r in recorder.responses]
    findings += [f"response {m} {p} {s}: {c[:300]}" for m, p, s, c in errors if _hits(c, needles)]
    findings += [f"service error {e[:300]}" for e in service_errors if _hits(e, needles)]
    assert len(service_errors) == 7
    assert raw_logs, "the scenario logged nothing: the log check would prove nothing"
    assert broker, "nothing was sent to the broker: the task check would prove nothing"
    assert not findings, "\n".join(findings)


def test_the_scanner_finds_a_planted_number_and_skips_encrypted_columns(make_ticket):
    """The scan can fail: a number in a plain column is found, the same number encrypted is not."""
    people = Customers()
    phone = people.phone()
    make_ticket(customer_phone=phone, consent_basis="newly_collected")
    assert _database_hits(people.needles()) == []
    # The services refuse a number in a title now (tests/security), so plant it around them.
    planted = make_ticket()
    type(planted).objects.filter(pk=planted.pk).update(title=f"고객 {phone} 회신 요청")
    findings = _database_hits(people.needles())
    assert findings and all(f.startswith("tickets_ticket.title") for f in findings)
