"""Kinds, boards and follow-up policies held per process (tickets/configuration.py): a create
reads none of them once they are held, and an administrator's change is used by the next create."""

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tickets import configuration
from tickets.models import Board, FollowUp, FollowUpPolicy, Ticket, TicketKind

from .helpers import penalty_body

pytestmark = pytest.mark.django_db

CONFIGURATION_TABLES = (
    '"tickets_ticketkind"',
    '"tickets_ticketkindschema"',
    '"tickets_board"',
    "tickets_followuppolicy",
)


def _create(api, **overrides):
    response = api.post("/api/v1/tickets/", penalty_body(**overrides), format="json")
    assert response.status_code == 201, response.json()
    return Ticket.objects.get(reference=response.json()["reference"])


def _policy_codes(ticket):
    return sorted(FollowUp.objects.filter(ticket=ticket).values_list("policy__code", flat=True))


def _configuration_reads(api):
    with CaptureQueriesContext(connection) as ctx:
        _create(api)
    return [q["sql"] for q in ctx.captured_queries if any(t in q["sql"] for t in CONFIGURATION_TABLES)]


def _commit_admin_change(django_capture_on_commit_callbacks, change):
    """An administrator's save, committed (the test's transaction runs its commit callbacks)."""
    with django_capture_on_commit_callbacks(execute=True):
        change()


def test_a_create_reads_no_configuration_once_it_is_held(api):
    assert _configuration_reads(api)  # the first create of the process loads it
    assert _configuration_reads(api) == []


def test_a_policy_switched_off_in_the_admin_schedules_nothing_on_the_next_create(
    api, django_capture_on_commit_callbacks
):
    before = _policy_codes(_create(api))
    assert len(before) == 2
    policy = FollowUpPolicy.objects.get(code=before[0])
    generation = cache.get(configuration.GENERATION_KEY)

    def switch_off():
        policy.active = False
        policy.save()

    _commit_admin_change(django_capture_on_commit_callbacks, switch_off)
    assert cache.get(configuration.GENERATION_KEY) != generation  # other processes reload too
    assert _policy_codes(_create(api)) == before[1:]


def test_a_kind_edited_in_the_admin_is_used_by_the_next_create(api, django_capture_on_commit_callbacks):
    ticket = _create(api)
    kind = TicketKind.objects.get(pk=ticket.kind_id)

    def rename():
        kind.name = "패널티 요청 (개정)"
        kind.save()

    _commit_admin_change(django_capture_on_commit_callbacks, rename)
    assert _create(api).title == "패널티 요청 (개정)"


def test_a_board_renamed_in_the_admin_is_named_in_the_next_create(
    api, admin_client, django_capture_on_commit_callbacks
):
    response = api.post("/api/v1/tickets/", penalty_body(), format="json")
    board = Board.objects.get(code=response.json()["board"])
    data = {"code": "koc-penalty-renamed", "name": board.name, "team": board.team}
    data.update(supervisor_email="", escalation_email="")

    def rename():
        assert admin_client.post(f"/admin/tickets/board/{board.pk}/change/", data).status_code == 302

    _commit_admin_change(django_capture_on_commit_callbacks, rename)
    assert api.post("/api/v1/tickets/", penalty_body(), format="json").json()["board"] == "koc-penalty-renamed"


def test_a_kind_switched_off_cannot_be_used_on_the_next_create(api, django_capture_on_commit_callbacks):
    kind = _create(api).kind
    kind = TicketKind.objects.get(pk=kind.pk)

    def switch_off():
        kind.active = False
        kind.save()

    _commit_admin_change(django_capture_on_commit_callbacks, switch_off)
    response = api.post("/api/v1/tickets/", penalty_body(), format="json")
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]


def test_an_uncommitted_change_is_read_from_the_database_and_not_kept_after_a_rollback(api):
    before = _policy_codes(_create(api))
    policy = FollowUpPolicy.objects.get(code=before[0])
    with pytest.raises(RuntimeError), transaction.atomic():
        policy.active = False
        policy.save()
        # This transaction sees its own change; what is held does not answer meanwhile.
        assert _policy_codes(_create(api)) == before[1:]
        raise RuntimeError("the admin's save fails after the write")
    assert _policy_codes(_create(api)) == before  # the rolled-back change was never held


def test_without_redis_every_create_reads_the_database(api, monkeypatch):
    _create(api)
    monkeypatch.setattr(configuration, "_current_generation", lambda: None)  # cache unreachable
    assert _configuration_reads(api)
    assert _configuration_reads(api)


def test_what_is_held_is_reloaded_after_max_age_even_without_a_new_generation(api, monkeypatch):
    _create(api)
    assert _configuration_reads(api) == []
    FollowUpPolicy.objects.filter(code=_policy_codes(_create(api))[0]).update(active=False)  # no signal
    monkeypatch.setattr(configuration._held, "loaded_at", configuration._held.loaded_at - 61)
    assert len(_policy_codes(_create(api))) == 1
