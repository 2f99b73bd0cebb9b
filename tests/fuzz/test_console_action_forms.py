"""Hypothesis against every console form that changes a ticket or a follow-up: whatever is
posted, the answer is a page or a redirect, never a 500 (issue: forms fuzzed, no 500s)."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cstrack import roles
from tests.conftest import make_user
from tickets.models import Board, Status

pytestmark = pytest.mark.django_db

RUNS = settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
values = st.one_of(
    st.text(max_size=60).filter(lambda s: "\x00" not in s),
    st.sampled_from(
        ["", "warning", "no_action", "closed", "in_progress", "cancelled", "phone", "newly_collected",
         "third_party_delegated", "spouse", "010-1234-5678", "a@b.co", "2026-11-24T10:00", "2026-13-45T99:99",
         "on", "9" * 30, "http://evil.example/", "/supervisor/"]
    ),
)  # fmt: skip
FIELDS = [
    "outcome", "reason", "driver_blocked", "driver_blocked_shown", "manager_name", "consent_basis",
    "customer_phone", "customer_email", "delegation_caller", "delegation_relation", "to_status", "note",
    "channel", "due_at", "next",
]  # fmt: skip
posts = st.fixed_dictionaries({}, optional={name: values for name in FIELDS})
TICKET_ACTIONS = ["recontact", "outcome", "confirm", "coupon", "consent", "transition", "reveal"]
FOLLOWUP_ACTIONS = ["reschedule", "cancel", "complete"]


@pytest.fixture
def supervisor_client(db):
    user = make_user("fuzz-super", roles.SUPERVISOR)
    make_user("fuzz-ops", roles.OPERATIONS).boards.add(*Board.objects.all())
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("action", TICKET_ACTIONS)
def test_ticket_action_forms_never_answer_500(action, supervisor_client, make_ticket):
    ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    statuses = set()

    @RUNS
    @given(data=posts)
    def run(data):
        response = supervisor_client.post(f"/tickets/{ticket.reference}/{action}/", data)
        assert response.status_code < 500, (data, response.status_code)
        statuses.add(response.status_code)
        if response.status_code in (301, 302):
            assert response["Location"].startswith("/"), response["Location"]  # never off-site

    run()
    assert statuses <= {200, 302, 400, 403, 404, 409, 428}


@pytest.mark.parametrize("action", FOLLOWUP_ACTIONS)
def test_followup_forms_never_answer_500(action, supervisor_client, make_ticket):
    ticket = make_ticket()
    followup = ticket.followups.first()
    statuses = set()

    @RUNS
    @given(data=posts)
    def run(data):
        response = supervisor_client.post(f"/followups/{followup.pk}/{action}/", data)
        assert response.status_code < 500, (data, response.status_code)
        statuses.add(response.status_code)

    run()
    assert statuses <= {200, 302, 400, 403, 404, 409}
    assert type(ticket).objects.get(pk=ticket.pk).status in Status.values
