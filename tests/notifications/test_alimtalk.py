"""Kakao AlimTalk with an SMS/LMS fallback, and the provider's delivery reports (signed webhook),
against the fake Solapi server."""

import json
import time

import pytest
from django.core.exceptions import ValidationError

from cstrack import outbound
from notifications import services
from notifications.models import Message, MessageTemplate
from notifications.providers import memory
from notifications.providers.solapi import SolapiProvider, parse_reports

pytestmark = pytest.mark.django_db
State = Message.State
SECRET = "report-secret"
URL = "/hooks/solapi/reports/"
NATIONAL = "01012345678"  # conftest PHONE


@pytest.fixture
def alimtalk_template(db):
    return MessageTemplate.objects.create(
        code="feedback-alimtalk",
        name="처리 결과 알림톡",
        channel="sms",
        body="[cstrack] {reference} 건 처리 결과를 알려 드립니다 🙂",
        alimtalk_template_id="KA01TP0001",
        alimtalk_pf_id="KA01PF0001",
        fallback_body="[cstrack] {reference} 건 처리가 끝났습니다.",
    )


@pytest.fixture
def reports_on(solapi_settings):
    solapi_settings.SOLAPI_WEBHOOK_SECRET = SECRET
    return solapi_settings


def send_alimtalk(enqueue, template, key="at:1"):
    message = enqueue(template=template, context={"reference": "CS-0001"}, idempotency_key=key)
    assert services.message_deliver(message.pk) == "sent"
    return Message.objects.get(pk=message.pk)


def post_reports(client, fake, secret=SECRET, **headers):
    body, signed = fake.report_webhook(secret)
    return client.post(URL, body, content_type="application/json", headers={**signed, **headers})


class TestTemplate:
    def test_alimtalk_needs_ids_and_a_fallback_in_sms_characters(self, alimtalk_template):
        alimtalk_template.full_clean()  # an emoji is fine in AlimTalk text
        alimtalk_template.fallback_body = ""
        with pytest.raises(ValidationError, match="대체 문자"):
            alimtalk_template.full_clean()
        alimtalk_template.fallback_body = "처리 완료 🙂"
        with pytest.raises(ValidationError):
            alimtalk_template.full_clean()  # the fallback is an SMS: EUC-KR only
        alimtalk_template.fallback_body = "처리 완료"
        alimtalk_template.alimtalk_pf_id = ""
        with pytest.raises(ValidationError, match="pfId"):
            alimtalk_template.full_clean()

    def test_only_on_the_sms_channel(self, alimtalk_template):
        alimtalk_template.channel = "email"
        with pytest.raises(ValidationError, match="문자 채널"):
            alimtalk_template.full_clean()

    def test_enqueue_renders_the_alimtalk_its_variables_and_the_fallback(self, enqueue, alimtalk_template):
        message = enqueue(template=alimtalk_template, context={"reference": "CS-0001"})
        assert message.message_type == "ATA"
        assert message.body == "[cstrack] CS-0001 건 처리 결과를 알려 드립니다 🙂"
        assert message.alimtalk_variables == {"#{reference}": "CS-0001"}
        assert (message.alimtalk_template_id, message.alimtalk_pf_id) == ("KA01TP0001", "KA01PF0001")
        assert message.fallback_body == "[cstrack] CS-0001 건 처리가 끝났습니다."
        assert message.fallback_type == "SMS"


class TestSend:
    def test_solapi_sends_alimtalk_with_kakao_options_and_records_the_channel(
        self, enqueue, alimtalk_template, solapi_settings, fake_provider
    ):
        message = send_alimtalk(enqueue, alimtalk_template)
        [row] = fake_provider.received()
        assert row["type"] == "ATA" and row["to"] == NATIONAL
        assert row["kakao_options"] == {
            "pfId": "KA01PF0001",
            "templateId": "KA01TP0001",
            "variables": {"#{reference}": "CS-0001"},
            "disableSms": True,  # the fallback is ours, so the row knows which channel went
        }
        assert row["custom_fields"] == {"idempotencyKey": "at:1", "route": "ata"}
        assert message.state == State.SENT and message.sent_as == "ATA"
        assert message.delivery_status == "accepted"
        assert message.provider_ref == row["provider_ref"]

    def test_a_provider_without_alimtalk_sends_the_fallback_text(self, enqueue, alimtalk_template):
        message = send_alimtalk(enqueue, alimtalk_template)
        [sent] = memory.outbox()
        assert sent["text"] == "[cstrack] CS-0001 건 처리가 끝났습니다." and sent["type"] == "SMS"
        assert message.sent_as == "SMS"

    def test_alimtalk_refused_at_send_falls_back_at_once(
        self, enqueue, alimtalk_template, solapi_settings, fake_provider, published, django_capture_on_commit_callbacks
    ):
        message = enqueue(template=alimtalk_template, context={"reference": "CS-0001"})
        Message.objects.filter(pk=message.pk).update(alimtalk_pf_id="")  # Solapi refuses it
        published.calls.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert services.message_deliver(message.pk) == "fallback"
        row = Message.objects.get(pk=message.pk)
        assert (row.state, row.on_fallback, row.attempts) == (State.RETRY, True, 1)
        assert "대체 문자" in row.last_error and outbound.error_category(row.last_error) == "fell_back"
        assert published.ids() == [message.pk]
        assert services.message_deliver(message.pk) == "sent"
        row = Message.objects.get(pk=message.pk)
        assert row.sent_as == "SMS" and row.state == State.SENT
        [sms] = fake_provider.received()
        assert sms["type"] == "SMS" and sms["custom_fields"]["route"] == "fallback"


class TestReports:
    def test_delivered_report_marks_the_message_delivered(
        self, client, enqueue, alimtalk_template, reports_on, fake_provider
    ):
        message = send_alimtalk(enqueue, alimtalk_template)
        resp = post_reports(client, fake_provider)
        assert resp.status_code == 200 and resp.json()["delivered"] == 1
        row = Message.objects.get(pk=message.pk)
        assert (row.state, row.report_code, row.delivery_status) == (State.DELIVERED, "4000", "delivered")
        assert row.delivered_at is not None

    def test_failed_alimtalk_goes_again_as_sms_then_is_delivered(
        self,
        client,
        enqueue,
        alimtalk_template,
        reports_on,
        fake_provider,
        published,
        django_capture_on_commit_callbacks,
    ):
        fake_provider.set_report(NATIONAL, "3104", kind="ATA")  # no KakaoTalk on that phone
        message = send_alimtalk(enqueue, alimtalk_template)
        published.calls.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert post_reports(client, fake_provider).json()["fallback"] == 1
        row = Message.objects.get(pk=message.pk)
        assert (row.state, row.on_fallback, row.report_code, row.attempts) == (State.RETRY, True, "3104", 1)
        assert published.ids() == [message.pk]  # the fallback is published at once
        assert services.message_deliver(message.pk) == "sent"
        row = Message.objects.get(pk=message.pk)
        assert (row.state, row.sent_as, row.report_code) == (State.SENT, "SMS", "")
        assert post_reports(client, fake_provider).json()["delivered"] == 1
        row = Message.objects.get(pk=message.pk)
        assert (row.state, row.sent_as, row.report_code) == (State.DELIVERED, "SMS", "4000")
        received = fake_provider.received()
        assert [r["type"] for r in received] == ["ATA", "SMS"]
        assert fake_provider.duplicates() == {}

    def test_failed_sms_is_dead_lettered_with_its_code(self, client, enqueue, reports_on, fake_provider):
        fake_provider.set_report(NATIONAL, "3059")
        message = enqueue()
        assert services.message_deliver(message.pk) == "sent"
        assert post_reports(client, fake_provider).json()["failed"] == 1
        row = Message.objects.get(pk=message.pk)
        assert (row.state, row.delivery_status, row.report_code) == (State.DEAD, "failed", "3059")
        assert "3059" in row.last_error
        # What an API caller is told: a category, not the provider's text.
        assert outbound.error_category(row.last_error) == "not_delivered"

    def test_a_report_is_applied_once(self, client, enqueue, reports_on, fake_provider):
        message = enqueue()
        services.message_deliver(message.pk)
        body, headers = fake_provider.report_webhook(SECRET)
        first = client.post(URL, body, content_type="application/json", headers=headers)
        assert first.json()["delivered"] == 1
        replay = client.post(URL, body, content_type="application/json", headers=headers)
        assert replay.status_code == 200 and replay.json() == {"duplicate": True}
        # The same report, signed again: applied but changes nothing (the row is no longer accepted).
        resigned = fake_provider.sign_report(body, SECRET, timestamp=int(time.time()) - 5)
        again = client.post(URL, body, content_type="application/json", headers=resigned)
        assert again.json()["ignored"] == 1
        assert Message.objects.get(pk=message.pk).state == State.DELIVERED

    def test_bad_signature_and_stale_timestamp_are_refused(self, client, enqueue, reports_on, fake_provider):
        message = enqueue()
        services.message_deliver(message.pk)
        body = json.dumps(fake_provider.reports()).encode()
        bad = client.post(URL, body, content_type="application/json", headers=fake_provider.sign_report(body, "wrong"))
        assert bad.status_code == 401
        old = fake_provider.sign_report(body, SECRET, timestamp=int(time.time()) - 3600)
        stale = client.post(URL, body, content_type="application/json", headers=old)
        assert stale.status_code == 401 and stale.json()["detail"] == "stale timestamp"
        unsigned = client.post(URL, body, content_type="application/json")
        assert unsigned.status_code == 401
        assert Message.objects.get(pk=message.pk).state == State.SENT

    def test_rotated_secrets_both_accepted(self, client, enqueue, reports_on, fake_provider):
        reports_on.SOLAPI_WEBHOOK_SECRET = f"new-secret,{SECRET}"
        message = enqueue()
        services.message_deliver(message.pk)
        assert post_reports(client, fake_provider).status_code == 200
        assert Message.objects.get(pk=message.pk).state == State.DELIVERED

    def test_endpoint_is_off_without_a_secret(self, client, solapi_settings):
        solapi_settings.SOLAPI_WEBHOOK_SECRET = ""
        assert client.post(URL, b"[]", content_type="application/json").status_code == 404

    def test_pending_and_unknown_reports_change_nothing(self, enqueue, solapi_settings, fake_provider):
        message = enqueue()
        services.message_deliver(message.pk)
        row = Message.objects.get(pk=message.pk)
        counts = services.messages_apply_reports(
            "solapi",
            parse_reports(
                [{"messageId": row.provider_ref, "statusCode": "3000"}, {"messageId": "nope", "statusCode": "4000"}]
            ),
        )
        assert counts["pending"] == 1 and counts["ignored"] == 1
        assert Message.objects.get(pk=message.pk).state == State.SENT


class TestLookUpByRoute:
    def test_a_failed_alimtalk_is_not_taken_for_its_fallback(
        self, enqueue, alimtalk_template, solapi_settings, fake_provider
    ):
        message = send_alimtalk(enqueue, alimtalk_template)
        row = Message.objects.get(pk=message.pk)
        row.on_fallback = True
        fallback = services._route(row, SolapiProvider())
        assert SolapiProvider().lookup(row.idempotency_key, message=fallback) is None
        assert SolapiProvider().lookup(row.idempotency_key, message=row) == row.provider_ref
