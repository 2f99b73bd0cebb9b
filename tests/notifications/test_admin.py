"""Admin: recipients only masked, messages read-only, the dead-letter retry action, template validation."""

import pytest
from django.urls import reverse

from notifications import services
from notifications.models import Message, MessageTemplate
from notifications.providers import memory

from .conftest import PHONE_VARIANTS

pytestmark = pytest.mark.django_db


def test_message_pages_show_the_recipient_masked_only(admin_client, enqueue):
    message = enqueue()
    listing = admin_client.get(reverse("admin:notifications_message_changelist"))
    detail = admin_client.get(reverse("admin:notifications_message_change", args=[message.pk]))
    for response in (listing, detail):
        assert response.status_code == 200
        html = response.content.decode()
        assert "010-****-5678" in html
        assert all(v not in html for v in PHONE_VARIANTS)
    assert 'name="recipient"' not in detail.content.decode()  # no editable field at all


def test_messages_cannot_be_added_or_deleted(admin_client, enqueue):
    message = enqueue()
    assert admin_client.get(reverse("admin:notifications_message_add")).status_code == 403
    assert admin_client.get(reverse("admin:notifications_message_delete", args=[message.pk])).status_code == 403


def test_retry_dead_lettered_action(admin_client, enqueue, published):
    dead, alive = enqueue(), enqueue()
    memory.inject("permanent")
    services.message_deliver(dead.pk)
    assert Message.objects.get(pk=dead.pk).state == Message.State.DEAD
    published.calls.clear()
    response = admin_client.post(
        reverse("admin:notifications_message_changelist"),
        {"action": "retry_dead_lettered", "_selected_action": [dead.pk, alive.pk]},
        follow=True,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "1건을 다시 발송 대기열에 넣었습니다" in html
    assert "1건은 발송 실패(보류) 상태가 아니어서 건너뛰었습니다" in html
    retried = Message.objects.get(pk=dead.pk)
    assert (retried.state, retried.attempts) == (Message.State.PENDING, 0)
    assert Message.objects.get(pk=alive.pk).state == Message.State.PENDING


def test_template_admin_refuses_unknown_placeholder(admin_client):
    data = {
        "code": "admin-bad",
        "name": "잘못된 템플릿",
        "channel": "sms",
        "subject": "",
        "body": "{phone}",
        "active": "on",
    }
    response = admin_client.post(reverse("admin:notifications_messagetemplate_add"), data)
    assert response.status_code == 200  # the form again, with the error
    assert "{phone}" in response.content.decode()
    assert not MessageTemplate.objects.filter(code="admin-bad").exists()


def test_template_admin_saves_a_good_template(admin_client):
    data = {"code": "admin-ok", "name": "좋은 템플릿", "channel": "sms", "subject": "", "body": "{reference} 완료"}
    response = admin_client.post(reverse("admin:notifications_messagetemplate_add"), data)
    assert response.status_code == 302
    assert MessageTemplate.objects.filter(code="admin-ok").exists()
    page = admin_client.get(
        reverse("admin:notifications_messagetemplate_change", args=[MessageTemplate.objects.get(code="admin-ok").pk])
    )
    assert "{reference}" in page.content.decode()
