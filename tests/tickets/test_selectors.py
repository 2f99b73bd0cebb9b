"""Repeat contacts and penalty history."""

import pytest
from django.db.models import DateTimeField, Value

from tickets.lifecycle import services
from tickets.models import Status
from tickets.selectors import (
    driver_penalty_counts,
    driver_penalty_history,
    driver_penalty_history_with_counts,
    open_tickets_matching,
)

from .conftest import at, kst

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_phone(make_ticket):
    return make_ticket(
        customer_phone="010-1234-5678", consent_basis="newly_collected", member_id="M-1", call_id="CALL-1"
    )


@pytest.mark.parametrize(
    "phone", ["010-1234-5678", "01012345678", "+82 10 1234 5678", "+821012345678", " 010 1234 5678 "]
)
def test_open_tickets_by_phone_any_format(with_phone, make_ticket, phone):
    make_ticket(customer_phone="010-9999-0000", consent_basis="newly_collected")
    assert list(open_tickets_matching(phone=phone)) == [with_phone]


@pytest.mark.parametrize("phone", ["010-1234", "not a number", ""])
def test_partial_or_bad_phone_matches_nothing(with_phone, phone):
    assert list(open_tickets_matching(phone=phone)) == []


@pytest.mark.parametrize(
    ("field", "value"), [("member_id", "M-1"), ("member_id", " M-1 "), ("driver_id", "DRV-100"), ("call_id", "CALL-1")]
)
def test_open_tickets_by_reference(with_phone, create, field, value):
    create("pet-cs-inquiry", member_id="M-2")
    assert list(open_tickets_matching(**{field: value})) == [with_phone]


def test_nothing_given_matches_nothing(with_phone):
    assert list(open_tickets_matching()) == []


def test_closed_and_cancelled_excluded(with_phone, make_ticket, actor, operator_actor):
    cancelled = make_ticket(customer_phone="01012345678", consent_basis="newly_collected")
    services.ticket_transition(cancelled, to_status=Status.CANCELLED, actor=actor)
    closed = make_ticket(customer_phone="01012345678", consent_basis="newly_collected")
    closed = services.ticket_record_outcome(closed, outcome="warning", actor=operator_actor)
    services.ticket_transition(closed, to_status=Status.CLOSED, actor=actor)
    waiting = make_ticket(customer_phone="01012345678", consent_basis="newly_collected")
    services.ticket_transition(waiting, to_status=Status.WAITING_CUSTOMER, actor=actor)
    assert set(open_tickets_matching(phone="010-1234-5678")) == {with_phone, waiting}


def test_any_of_several_keys_matches(with_phone, make_ticket, create):
    by_driver = make_ticket(driver_id="DRV-200")
    create("pet-cs-inquiry", member_id="M-3")
    assert set(open_tickets_matching(phone="01012345678", driver_id="DRV-200")) == {with_phone, by_driver}


def test_driver_penalty_counts_over_30_and_90_days(make_ticket, create):
    # Now: 2026-11-30 12:00 KST. 10 days, 29 days, 31 days, 89 days, 91 days and 200 days before.
    for when in [(2026, 11, 20), (2026, 11, 1, 13), (2026, 10, 30), (2026, 9, 2, 13), (2026, 8, 31), (2026, 5, 14)]:
        y, m, d, *h = when
        with at(y, m, d, *(h or [12]), 0):
            make_ticket(driver_id="DRV-7")
    with at(2026, 11, 25, 12, 0):
        make_ticket(driver_id="DRV-8")  # another driver
        create("pet-cs-inquiry", driver_id="DRV-7")  # not a penalty request
    with at(2026, 11, 30, 12, 0):
        assert driver_penalty_counts("DRV-7") == {"30d": 2, "90d": 4, "total": 6}
        assert driver_penalty_counts("DRV-8") == {"30d": 1, "90d": 1, "total": 1}
        assert driver_penalty_counts("") == {"30d": 0, "90d": 0, "total": 0}
        history = list(driver_penalty_history("DRV-7", limit=3))
        # One query for the page: the counts over all of the driver's requests, beyond the limit.
        limited, counts = driver_penalty_history_with_counts("DRV-7", limit=3)
        assert counts == driver_penalty_counts("DRV-7") and [t.pk for t in limited] == [t.pk for t in history]
        assert driver_penalty_history_with_counts("NOBODY") == ([], {"30d": 0, "90d": 0, "total": 0})
    assert [t.received_at for t in history] == sorted((t.received_at for t in history), reverse=True)
    assert len(history) == 3


def test_summary_age_buckets_agree_with_the_calendar(make_ticket):
    """The database buckets (summary) and calendar.age_bucket (ticket rows) use one definition."""
    from datetime import timedelta

    from cstrack import calendar
    from tickets.models import Ticket
    from tickets.selectors import overdue_summary

    now = kst(2026, 11, 23, 12, 0)
    ages = [timedelta(hours=h) for h in (1, 23.9, 24, 50, 72, 100, 168, 400)]
    for age in ages:
        ticket = make_ticket()
        # Breached, no pending duty left: the age counts from the receipt.
        Ticket.objects.filter(pk=ticket.pk).update(received_at=now - age, breached_at=now, next_due_at=None)
    qs = Ticket.objects.filter(breached_at=now).annotate(oldest_due=Value(None, output_field=DateTimeField()))
    expected = {label: 0 for label in calendar.AGE_BUCKETS}
    for age in ages:
        expected[calendar.age_bucket(now - age, now)] += 1
    assert overdue_summary(qs, now)["by_age"] == expected == {"<1d": 2, "1-3d": 2, "3-7d": 2, ">7d": 2}
