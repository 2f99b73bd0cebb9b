"""Idempotency-Key on POST: replay, 422 on another body, 409 while running, per client, 24 h."""

import datetime as dt
import os
import threading
from unittest import mock

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from cstrack.models import IdempotencyRecord, idempotency_purge_expired
from tickets.models import Ticket

from .helpers import assert_problem, penalty_body


@pytest.mark.django_db
def test_same_key_same_body_replays_the_stored_response(api):
    first = api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="call-42")
    second = api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="call-42")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert second["Location"] == first["Location"] and second["ETag"] == first["ETag"]
    assert Ticket.objects.count() == 1
    # Key order in the JSON body does not matter.
    reordered = dict(reversed(list(penalty_body().items())))
    third = api.post("/api/v1/tickets/", reordered, format="json", HTTP_IDEMPOTENCY_KEY="call-42")
    assert third.status_code == 201 and Ticket.objects.count() == 1


@pytest.mark.django_db
def test_same_key_other_body_is_422(api):
    api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    response = api.post("/api/v1/tickets/", penalty_body(call_id="other"), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert_problem(response, 422, code="idempotency_key_reused")
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_in_progress_is_409(api):
    from tickets.api.idempotency import claim

    client_id = f"key:{api.key.pk}"
    # Claim exactly as the first request would have, with the same fingerprint.
    with mock.patch("tickets.api.idempotency.claim", wraps=claim) as spy:
        api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="warm")
    fingerprint = spy.call_args.args[2]
    IdempotencyRecord.objects.create(client=client_id, key="busy", fingerprint=fingerprint)
    response = api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert_problem(response, 409, code="idempotency_in_progress")


@pytest.mark.django_db
def test_validation_errors_are_stored_too_and_keys_are_per_client(api, client_for):
    bad = {"kind": "nope", "details": {}}
    first = api.post("/api/v1/tickets/", bad, format="json", HTTP_IDEMPOTENCY_KEY="x")
    again = api.post("/api/v1/tickets/", bad, format="json", HTTP_IDEMPOTENCY_KEY="x")
    assert first.status_code == again.status_code == 400
    assert again["Content-Type"] == "application/problem+json" and again["Idempotent-Replayed"] == "true"
    other = client_for(name="other-system")
    response = other.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="x")
    assert response.status_code == 201  # the same key string belongs to another client


@pytest.mark.django_db
def test_bad_key_header_is_400(api):
    response = api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert_problem(response, 400, field="Idempotency-Key")


@pytest.mark.django_db
def test_a_crash_releases_the_key(api):
    with mock.patch("tickets.lifecycle.services.ticket_create", side_effect=RuntimeError("boom")):
        client = APIClient(raise_request_exception=False)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.plain}")
        assert (
            client.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="c").status_code == 500
        )
    assert not IdempotencyRecord.objects.filter(key="c").exists()
    assert api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="c").status_code == 201


@pytest.mark.django_db
def test_keys_expire_after_24_hours(api):
    api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(hours=25))
    response = api.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Ticket.objects.count() == 2


@pytest.mark.django_db
def test_purge_expired():
    fresh = IdempotencyRecord.objects.create(client="key:1", key="a", fingerprint="f")
    old = IdempotencyRecord.objects.create(client="key:1", key="b", fingerprint="f")
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(hours=24, seconds=1))
    assert idempotency_purge_expired() == 1
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [fresh.pk]


@pytest.mark.service
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_posts_with_one_key_make_one_ticket(make_key):
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("this test needs PostgreSQL (DATABASE_URL) under CI")
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    _key, plain = make_key(name="concurrency")
    barrier = threading.Barrier(50)
    statuses, bodies = [], []
    lock = threading.Lock()

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
        try:
            barrier.wait()
            response = client.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="same")
            with lock:
                statuses.append(response.status_code)
                bodies.append(response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(statuses) == 50
    assert Ticket.objects.count() == 1
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    reference = Ticket.objects.get().reference
    assert all(b["reference"] == reference for b, s in zip(bodies, statuses, strict=True) if s == 201)
    assert all(b["code"] == "idempotency_in_progress" for b, s in zip(bodies, statuses, strict=True) if s == 409)
    # Once it is done, the key replays.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    replay = client.post("/api/v1/tickets/", penalty_body(), format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
