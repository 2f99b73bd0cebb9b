"""The walkthrough in docs/api.md, end to end: an integration opens a penalty ticket, the
driver-operations tool records the outcome, and on D+3 the SMS shows in the delivery log."""

import datetime as dt

import pytest
import time_machine
from django.test import override_settings

from notifications.models import Message
from notifications.providers import memory
from notifications.services import message_deliver
from tickets.followups import dispatcher

from .helpers import assert_problem, penalty_body

KST = dt.timezone(dt.timedelta(hours=9))


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
@override_settings(SMS_PROVIDER="memory")
def test_ticket_life_from_integration_to_d3_message(client_for):
    memory.reset()
    callcentre = client_for(name="callcentre")
    driver_ops = client_for(name="driver-ops", kinds=("driver-penalty-request",))
    with time_machine.travel(dt.datetime(2026, 11, 20, 14, 5, tzinfo=KST), tick=False):
        body = penalty_body(driver_id="DRV-3001", call_id="CALL-20261120-0042")
        created = callcentre.post("/api/v1/tickets/", body, format="json", HTTP_IDEMPOTENCY_KEY="call-0042")
        assert created.status_code == 201
        again = callcentre.post("/api/v1/tickets/", body, format="json", HTTP_IDEMPOTENCY_KEY="call-0042")
        assert again.json()["reference"] == created.json()["reference"]
        reference = created.json()["reference"]
        detail = callcentre.get(f"/api/v1/tickets/{reference}/").json()
        assert {f["due_at"] for f in detail["followups"]} == {"2026-11-23T10:00:00+09:00"}

    with time_machine.travel(dt.datetime(2026, 11, 20, 15, 0, tzinfo=KST), tick=False):
        found = driver_ops.get("/api/v1/tickets/?driver_id=DRV-3001&status=received").json()["results"]
        assert [t["reference"] for t in found] == [reference]
        outcome = driver_ops.post(
            f"/api/v1/tickets/{reference}/outcome/", {"outcome": "warning", "driver_blocked": True}, format="json"
        )
        assert outcome.json()["status"] == "action_taken"
        stale = driver_ops.patch(
            f"/api/v1/tickets/{reference}/", {"priority": "urgent"}, format="json", HTTP_IF_MATCH='"1"'
        )
        assert_problem(stale, 412)

    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 0, 30, tzinfo=KST), tick=False):
        result = dispatcher.dispatch_due()
        assert (result.done, result.skipped) == (1, 0)  # the breach alert was skipped by the outcome
        for message in Message.objects.filter(state="pending"):
            message_deliver(message.pk)
        log = callcentre.get(f"/api/v1/messages/?ticket={reference}").json()["results"]
    assert len(log) == 1
    sms = log[0]
    assert (sms["channel"], sms["state"], sms["recipient"]) == ("sms", "sent", "010-****-5678")
    assert sms["template"] == "penalty-feedback-sms" and sms["sent_at"].startswith("2026-11-23T10:00")
    assert len(memory.outbox()) == 1
    states = {f["policy"]: f["state"] for f in callcentre.get(f"/api/v1/tickets/{reference}/").json()["followups"]}
    assert states == {"penalty-feedback-d3-breach": "skipped", "penalty-feedback-d3-sms": "done"}
