"""Season-pass compensation: the coupon rule (KST month, once a month) and the refund formula."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cstrack.errors import Conflict
from tickets.kinds import parking
from tickets.lifecycle import services
from tickets.models import EventType, Ticket, TicketEvent
from tickets.selectors import season_pass_coupon_status, season_pass_refund

from .conftest import VALID, at

KIND = "parking-season-pass-registration"


def season_pass(create, cause="operator_missing", **kwargs):
    details = {**VALID[KIND][0], "cause": cause}
    kwargs.setdefault("member_id", "M-77")
    return create(KIND, details=details, **kwargs)


# --- Pure rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "occurrences", "coupons", "eligible"),
    [
        ("operator_missing", 1, 0, False),
        ("operator_missing", 2, 0, True),
        ("operator_missing", 5, 0, True),
        ("operator_missing", 2, 1, False),
        ("equipment_lpr", 2, 0, False),
        ("equipment_lpr", 9, 0, False),
        ("unknown", 3, 0, False),
    ],
)
def test_coupon_status_rule(cause, occurrences, coupons, eligible):
    status = parking.coupon_status(cause=cause, occurrences_this_month=occurrences, coupons_this_month=coupons)
    assert status.eligible is eligible
    assert status.amount_krw == (3000 if eligible else 0)


@pytest.mark.parametrize(
    ("paid", "usable", "used", "refund"),
    [
        (150_000, 30, 12, 90_000),
        (100_000, 30, 7, 76_667),
        (100_000, 30, 0, 100_000),
        (100_000, 30, 30, 0),
        (100_000, 30, 45, 0),  # used beyond the usable days is capped
        (0, 30, 7, 0),
        (1, 3, 1, 1),  # the deduction rounds down: the customer never loses a fraction of a won
    ],
)
def test_refund_amount_examples(paid, usable, used, refund):
    assert parking.refund_amount(paid=paid, usable_days=usable, used_days=used) == refund


@pytest.mark.parametrize(("paid", "usable", "used"), [(-1, 30, 1), (100, 0, 1), (100, 30, -1)])
def test_refund_amount_rejects_nonsense(paid, usable, used):
    with pytest.raises(ValueError):
        parking.refund_amount(paid=paid, usable_days=usable, used_days=used)


@given(
    paid=st.integers(min_value=0, max_value=10_000_000),
    usable=st.integers(min_value=1, max_value=366),
    used=st.integers(min_value=0, max_value=400),
)
def test_refund_property_bounded_and_monotone(paid, usable, used):
    refund = parking.refund_amount(paid=paid, usable_days=usable, used_days=used)
    assert 0 <= refund <= paid
    assert parking.refund_amount(paid=paid, usable_days=usable, used_days=used + 1) <= refund
    # Exact: never more than a won away from the real-valued formula, and never below it.
    exact = paid - paid * min(used, usable) / usable
    assert exact <= refund < exact + 1


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_refund_from_ticket_details(create):
    details = {**VALID[KIND][0], "pass_paid_amount": 150_000, "pass_usable_days": 30, "pass_used_days": 12}
    ticket = create(KIND, details=details)
    assert season_pass_refund(ticket) == 90_000
    assert season_pass_refund(season_pass(create)) is None


# --- Coupon through the service -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_first_occurrence_not_eligible_second_is_and_only_once(create, operator_actor):
    with at(2026, 11, 3, 10, 0):
        first = season_pass(create)
    with at(2026, 11, 17, 10, 0):
        second = season_pass(create)
    with at(2026, 11, 25, 10, 0):
        third = season_pass(create)
        status = season_pass_coupon_status(first)
        assert (status.eligible, status.occurrences_this_month) == (False, 1)
        with pytest.raises(Conflict) as exc:
            services.ticket_grant_coupon(first, actor=operator_actor)
        assert exc.value.code == "coupon_not_eligible"

        status = season_pass_coupon_status(second)
        assert (status.eligible, status.occurrences_this_month, status.amount_krw) == (True, 2, 3000)
        granted = services.ticket_grant_coupon(second, actor=operator_actor)
        assert Ticket.objects.get(pk=granted.pk).compensation_krw == 3000
        assert TicketEvent.objects.filter(ticket=second, type=EventType.OUTCOME, data__coupon_krw=3000).count() == 1

        # Twice on the same ticket, or again on a later ticket that month: refused.
        with pytest.raises(Conflict):
            services.ticket_grant_coupon(second, actor=operator_actor)
        with pytest.raises(Conflict):
            services.ticket_grant_coupon(third, actor=operator_actor)
    assert sum(Ticket.objects.values_list("compensation_krw", flat=True)) == 3000


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_same_customer_found_by_phone(create, operator_actor):
    with at(2026, 11, 3, 10, 0):
        season_pass(create, member_id="", customer_phone="010-1234-5678", consent_basis="newly_collected")
    with at(2026, 11, 4, 10, 0):
        other = season_pass(create, member_id="", customer_phone="010-9999-0000", consent_basis="newly_collected")
        same = season_pass(create, member_id="", customer_phone="+82 10 1234 5678", consent_basis="newly_collected")
    assert season_pass_coupon_status(other).eligible is False
    assert season_pass_coupon_status(same).eligible is True


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_other_customers_do_not_count(create):
    with at(2026, 11, 3, 10, 0):
        season_pass(create, member_id="M-1")
    with at(2026, 11, 4, 10, 0):
        ticket = season_pass(create, member_id="M-2")
    assert season_pass_coupon_status(ticket).eligible is False


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_equipment_lpr_never_gets_a_coupon(create, operator_actor):
    with at(2026, 11, 3, 10, 0):
        season_pass(create)
    with at(2026, 11, 4, 10, 0):
        season_pass(create, cause="equipment_lpr")
        lpr = season_pass(create, cause="equipment_lpr")
    assert season_pass_coupon_status(lpr).eligible is False
    with pytest.raises(Conflict):
        services.ticket_grant_coupon(lpr, actor=operator_actor)


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_lpr_occurrences_do_not_count_towards_the_second(create):
    with at(2026, 11, 3, 10, 0):
        season_pass(create, cause="equipment_lpr")
    with at(2026, 11, 4, 10, 0):
        first_operator_missing = season_pass(create)
    assert season_pass_coupon_status(first_operator_missing).eligible is False


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_month_boundary_is_kst(create):
    # 2026-10-31 23:30 KST and 2026-11-01 00:30 KST are both 31 October in UTC.
    with at(2026, 10, 31, 23, 30):
        season_pass(create)
    with at(2026, 11, 1, 0, 30):
        november = season_pass(create)
    status = season_pass_coupon_status(november)
    assert (status.eligible, status.occurrences_this_month) == (False, 1)

    # ... while 2026-11-30 23:30 KST still counts for November.
    with at(2026, 11, 30, 23, 30):
        late_november = season_pass(create)
    assert season_pass_coupon_status(late_november).eligible is True


@pytest.mark.django_db
@pytest.mark.usefixtures("seed_codes")  # also under renamed codes
def test_coupon_month_resets(create, operator_actor):
    with at(2026, 10, 10, 10, 0):
        season_pass(create)
    with at(2026, 10, 20, 10, 0):
        services.ticket_grant_coupon(season_pass(create), actor=operator_actor)
    with at(2026, 11, 2, 10, 0):
        season_pass(create)
    with at(2026, 11, 9, 10, 0):
        nov = season_pass(create)
        assert services.ticket_grant_coupon(nov, actor=operator_actor).compensation_krw == 3000


@pytest.mark.django_db(transaction=True)
def test_concurrent_grants_give_one_coupon(create, operator_actor, monkeypatch):
    """Two operators grant a coupon on two eligible tickets of one customer at the same time."""
    import threading
    import time

    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("shared-cache in-memory SQLite cannot wait for a writer (see test_references)")
    with at(2026, 11, 3, 10, 0):
        season_pass(create)
    with at(2026, 11, 4, 10, 0):
        second = season_pass(create)
    with at(2026, 11, 5, 10, 0):
        third = season_pass(create)
    barrier = threading.Barrier(2)
    outcomes = []
    real_status = parking.coupon_status

    def slow_status(**kwargs):  # widen the window between the check and the write
        time.sleep(0.3)
        return real_status(**kwargs)

    monkeypatch.setattr(parking, "coupon_status", slow_status)

    def grant(ticket):
        try:
            barrier.wait(timeout=10)
            services.ticket_grant_coupon(ticket, actor=operator_actor)
            outcomes.append("granted")
        except Conflict:
            outcomes.append("refused")
        finally:
            connection.close()

    with at(2026, 11, 6, 10, 0):
        threads = [threading.Thread(target=grant, args=(t,)) for t in (second, third)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert sorted(outcomes) == ["granted", "refused"]
    assert sum(Ticket.objects.values_list("compensation_krw", flat=True)) == 3000
