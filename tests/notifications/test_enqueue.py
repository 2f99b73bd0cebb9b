"""message_enqueue: idempotency, normalisation, encryption at rest, quiet hours, publish on commit."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction

from cstrack import pii
from cstrack.errors import DomainValidationError
from notifications import services
from notifications.models import Message, MessageTemplate

from .conftest import PHONE, PHONE_E164, PHONE_VARIANTS, kst

pytestmark = pytest.mark.django_db


def test_same_key_twice_gives_one_row(enqueue, published):
    first = enqueue(idempotency_key="followup:1:customer")
    second = enqueue(idempotency_key="followup:1:customer", body="다른 내용이어도 같은 메시지")
    assert first.pk == second.pk
    assert Message.objects.filter(idempotency_key="followup:1:customer").count() == 1
    assert second.body == first.body
    assert published.ids() == [first.pk]  # queued once


def test_same_key_inside_one_transaction(db, django_capture_on_commit_callbacks, published):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        a = services.message_enqueue(channel="sms", recipient=PHONE, idempotency_key="k", body="본문")
        b = services.message_enqueue(channel="sms", recipient=PHONE, idempotency_key="k", body="본문")
    assert a.pk == b.pk
    assert published.ids() == [a.pk]


def test_integrity_error_race_returns_existing_row(enqueue, monkeypatch):
    """Another transaction inserted the key between our check and our insert."""
    original = enqueue(idempotency_key="race")
    real_filter = Message.objects.filter
    calls = {"n": 0}

    def filter_missing_once(*args, **kwargs):
        qs = real_filter(*args, **kwargs)
        if kwargs.get("idempotency_key") == "race" and calls["n"] == 0:
            calls["n"] += 1
            return qs.none()  # pretend our pre-check saw nothing
        return qs

    monkeypatch.setattr(Message.objects, "filter", filter_missing_once)
    again = services.message_enqueue(channel="sms", recipient=PHONE, idempotency_key="race", body="본문")
    assert again.pk == original.pk
    assert Message.objects.count() == 1


def test_phone_is_normalised_encrypted_and_masked(enqueue):
    message = enqueue(recipient="010 1234 5678")
    message.refresh_from_db()
    assert message.recipient == PHONE_E164
    assert message.recipient_masked == "010-****-5678"
    with connection.cursor() as cursor:
        cursor.execute("SELECT recipient, recipient_masked FROM notifications_message WHERE id = %s", [message.pk])
        raw, masked = cursor.fetchone()
    assert all(variant not in raw for variant in PHONE_VARIANTS)
    assert "12345678" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert masked == "010-****-5678"


def test_email_recipient_is_masked(enqueue):
    message = enqueue(channel="email", recipient="Hong.Gildong@Example.COM", subject="제목", body="본문")
    assert message.recipient == "Hong.Gildong@example.com"
    assert message.recipient_masked.startswith("Ho") and "Gildong" not in message.recipient_masked
    assert message.message_type == "EMAIL"


def test_chat_webhook_url_is_masked(enqueue):
    url = "https://hooks.slack.example/services/T000/B000/SECRETTOKEN"
    message = enqueue(channel="chat", recipient=url, body="알림")
    assert message.recipient == url
    assert "SECRET" not in message.recipient_masked
    assert message.recipient_masked == "https://hooks.slack.example/***"


def test_bad_phone_is_refused_and_nothing_written(enqueue, published):
    with pytest.raises(DomainValidationError) as exc:
        enqueue(recipient="12345")
    assert "recipient" in exc.value.field_errors
    assert Message.objects.count() == 0
    assert published.ids() == []


def test_bad_webhook_url_is_refused(enqueue):
    with pytest.raises(DomainValidationError):
        enqueue(channel="webhook", recipient="ftp://example.com/x", body="x")


def test_key_with_personal_data_is_refused(enqueue):
    with pytest.raises(DomainValidationError) as exc:
        enqueue(idempotency_key="customer:010-1234-5678")
    assert "idempotency_key" in exc.value.field_errors


def test_template_by_code_renders_and_sets_type(enqueue, sms_template):
    message = enqueue(template="test-sms", context={"reference": "PEN-20261122-0001", "customer_name_masked": "홍*동"})
    assert message.template == sms_template
    assert message.body == "[테스트] PEN-20261122-0001 건 처리가 끝났습니다. 홍*동님 감사합니다."
    assert message.message_type == "SMS"


def test_lms_when_long(enqueue):
    message = enqueue(body="가" * 46)
    assert message.message_type == "LMS"


def test_sms_body_with_emoji_is_refused(enqueue):
    with pytest.raises(DomainValidationError) as exc:
        enqueue(body="안녕하세요 😀")
    assert "😀" in exc.value.field_errors["body"][0]


def test_rendered_sms_over_2000_bytes_is_refused(enqueue, sms_template):
    with pytest.raises(DomainValidationError):
        enqueue(template=sms_template, context={"reference": "가" * 1000, "customer_name_masked": "x"})


def test_missing_context_value_is_refused(enqueue, sms_template):
    with pytest.raises(DomainValidationError) as exc:
        enqueue(template=sms_template, context={"reference": "A-1"})
    assert "{customer_name_masked}" in exc.value.field_errors["body"][0]


def test_template_channel_must_match(enqueue, sms_template):
    with pytest.raises(DomainValidationError) as exc:
        enqueue(channel="email", recipient="a@example.com", template=sms_template, context={})
    assert "template" in exc.value.field_errors


def test_inactive_or_unknown_template_is_refused(enqueue, sms_template):
    MessageTemplate.objects.filter(pk=sms_template.pk).update(active=False)
    with pytest.raises(DomainValidationError):
        enqueue(template="test-sms", context={"reference": "a", "customer_name_masked": "b"})
    with pytest.raises(DomainValidationError):
        enqueue(template="no-such-template", context={})


def test_publish_happens_only_after_commit(db, django_capture_on_commit_callbacks, published):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            message = services.message_enqueue(channel="sms", recipient=PHONE, idempotency_key="c", body="본문")
        assert published.ids() == []  # not yet: the callback waits for the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert published.ids() == [message.pk]


def test_rolled_back_enqueue_leaves_nothing(db, published):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_enqueue(channel="sms", recipient=PHONE, idempotency_key="rb", body="본문")
        raise RuntimeError("the caller's change failed")
    assert not Message.objects.filter(idempotency_key="rb").exists()
    assert published.ids() == []


def test_future_message_is_not_published(enqueue, published):
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False):
        later = kst(2026, 11, 26, 10, 0)
        message = enqueue(not_before=later, respect_quiet_hours=True)
    assert message.next_attempt_at == later
    assert message.not_before == later
    assert published.ids() == []  # the sweep picks it up when due


def test_customer_message_at_2230_waits_for_0800_next_day(enqueue, published):
    with time_machine.travel(kst(2026, 11, 23, 22, 30), tick=False):
        message = enqueue(respect_quiet_hours=True)
    assert message.next_attempt_at == kst(2026, 11, 24, 8, 0)
    assert message.state == Message.State.PENDING
    assert published.ids() == []


def test_customer_message_due_in_quiet_hours_moves_to_0800(enqueue):
    with time_machine.travel(kst(2026, 11, 23, 10, 0), tick=False):
        message = enqueue(respect_quiet_hours=True, not_before=kst(2026, 11, 25, 21, 0))
    assert message.next_attempt_at == kst(2026, 11, 26, 8, 0)


def test_staff_email_at_2230_is_not_delayed(enqueue, published):
    with time_machine.travel(kst(2026, 11, 23, 22, 30), tick=False):
        message = enqueue(channel="email", recipient="lead@staff.example", subject="알림", body="기한 초과")
        assert message.next_attempt_at == kst(2026, 11, 23, 22, 30)
    assert published.ids() == [message.pk]


def test_due_now_is_published_once(enqueue, published):
    message = enqueue()
    assert published.ids() == [message.pk]
    assert message.next_attempt_at <= message.created_at + timedelta(seconds=1)


def test_template_with_explicit_body_is_refused(enqueue, sms_template):
    with pytest.raises(DomainValidationError):
        enqueue(template=sms_template, body="이것도", context={"reference": "a", "customer_name_masked": "b"})


class TestNormalisedPhone:
    """A number a record stores normalised with its mask (a ticket's customer phone) is taken
    as it is: the same row as from the number typed by hand, without parsing it again."""

    def test_gives_the_same_recipient_and_mask_as_the_typed_number(self, enqueue, monkeypatch):
        typed = enqueue(idempotency_key="typed", recipient=PHONE)
        stored = pii.NormalisedPhone(PHONE_E164, pii.mask_phone(PHONE_E164))

        def not_again(*args, **kwargs):
            raise AssertionError("a stored normalised number is not parsed again")

        monkeypatch.setattr(services, "normalise_phone", not_again)
        reused = enqueue(idempotency_key="reused", recipient=stored)
        reused.refresh_from_db()
        assert (reused.recipient, reused.recipient_masked) == (typed.recipient, typed.recipient_masked)
        assert (reused.recipient, reused.recipient_masked) == (PHONE_E164, "010-****-5678")
        assert reused.message_type == typed.message_type

    def test_without_a_mask_or_not_mobile_it_is_checked_as_usual(self, enqueue):
        unmasked = enqueue(idempotency_key="unmasked", recipient=pii.NormalisedPhone("010 1234 5678", ""))
        assert (unmasked.recipient, unmasked.recipient_masked) == (PHONE_E164, "010-****-5678")
        with pytest.raises(DomainValidationError) as exc:
            enqueue(idempotency_key="landline", recipient=pii.NormalisedPhone("+8221234567", "02-***-4567"))
        assert "recipient" in exc.value.field_errors
        assert not Message.objects.filter(idempotency_key="landline").exists()

    def test_shows_only_the_mask(self):
        stored = pii.NormalisedPhone(PHONE_E164, "010-****-5678")
        for shown in (repr(stored), str(stored), f"{stored}", repr([stored])):
            assert "1234" not in shown and "010-****-5678" in shown


class TestEnqueueMany:
    def _spec(self, key, body="본문"):
        return {"channel": "sms", "recipient": PHONE, "idempotency_key": key, "body": body}

    def test_rows_come_back_aligned_and_as_stored(self, db):
        existing = services.message_enqueue(channel="sms", recipient=PHONE, idempotency_key="old", body="예전")
        rows = services.messages_enqueue_many(
            [self._spec("a"), self._spec("old", "무시됨"), self._spec("b"), self._spec("a", "같은 키")]
        )
        assert [m.idempotency_key for m in rows] == ["a", "old", "b", "a"]
        assert rows[0] is rows[3] and rows[1].pk == existing.pk and rows[1].body == "예전"
        for row in rows:
            stored = Message.objects.get(pk=row.pk)
            assert not row._state.adding
            assert (row.idempotency_key, row.body, row.recipient, row.recipient_masked, row.state) == (
                stored.idempotency_key,
                stored.body,
                stored.recipient,
                stored.recipient_masked,
                stored.state,
            )
            assert (row.created_at, row.next_attempt_at, row.queued_at) == (
                stored.created_at,
                stored.next_attempt_at,
                stored.queued_at,
            )
        assert Message.objects.count() == 3

    def test_a_key_written_by_another_transaction_meanwhile_comes_back_as_that_row(self, db, monkeypatch):
        theirs = services.message_enqueue(channel="sms", recipient=PHONE, idempotency_key="race", body="먼저 온 것")
        real_filter = Message.objects.filter
        calls = {"n": 0}

        def look_up_sees_nothing_once(*args, **kwargs):
            qs = real_filter(*args, **kwargs)
            if "idempotency_key__in" in kwargs and calls["n"] == 0:
                calls["n"] += 1
                return qs.none()  # the look-up ran before the other transaction committed
            return qs

        monkeypatch.setattr(Message.objects, "filter", look_up_sees_nothing_once)
        rows = services.messages_enqueue_many([self._spec("race", "나중 것"), self._spec("mine")])
        assert (rows[0].pk, rows[0].body) == (theirs.pk, "먼저 온 것")
        assert rows[1].body == "본문" and rows[1].pk == Message.objects.get(idempotency_key="mine").pk
        assert Message.objects.count() == 2
