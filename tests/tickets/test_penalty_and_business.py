"""Penalty requests (outcomes, boards, manager confirmation) and business-hours routing."""

import pytest

from cstrack.errors import Conflict, DomainValidationError
from tests.seedcodes import seed
from tickets.kinds.defaults import PENALTY_OUTCOMES
from tickets.lifecycle import services
from tickets.models import EventType, Status, Ticket, TicketEvent

from .conftest import VALID, at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seed_codes")]  # also under renamed codes


@pytest.mark.parametrize("outcome", [v for v, _ in PENALTY_OUTCOMES if v != "no_action"])
def test_penalty_outcomes(make_ticket, operator_actor, outcome):
    ticket = services.ticket_record_outcome(make_ticket(), outcome=outcome, actor=operator_actor)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.outcome == outcome
    assert stored.outcome_recorded_by == operator_actor.user
    assert stored.outcome_recorded_at is not None
    assert stored.status == Status.ACTION_TAKEN
    event = TicketEvent.objects.get(ticket=ticket, type=EventType.OUTCOME)
    assert event.data["outcome"] == outcome


def test_unknown_outcome_is_a_field_error(make_ticket, operator_actor):
    ticket = make_ticket()
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_record_outcome(ticket, outcome="registered", actor=operator_actor)
    assert list(exc.value.field_errors) == ["outcome"]
    assert Ticket.objects.get(pk=ticket.pk).outcome == ""


@pytest.mark.parametrize("reason", ["", "   "])
def test_no_action_needs_the_manager_confirmed_reason(make_ticket, operator_actor, reason):
    ticket = make_ticket()
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_record_outcome(ticket, outcome="no_action", actor=operator_actor, reason=reason)
    assert list(exc.value.field_errors) == ["reason"]
    assert not TicketEvent.objects.filter(ticket=ticket, type=EventType.OUTCOME).exists()
    done = services.ticket_record_outcome(
        ticket, outcome="no_action", actor=operator_actor, reason=" 관리자 컨펌 후 페널티 미작성 "
    )
    assert done.outcome == "no_action"
    assert Ticket.objects.get(pk=ticket.pk).outcome_reason == "관리자 컨펌 후 페널티 미작성"


def test_outcome_only_once(make_ticket, operator_actor):
    ticket = services.ticket_record_outcome(make_ticket(), outcome="warning", actor=operator_actor)
    with pytest.raises(Conflict) as exc:
        services.ticket_record_outcome(ticket, outcome="suspension", actor=operator_actor)
    assert exc.value.code == "outcome_already_recorded"
    assert Ticket.objects.get(pk=ticket.pk).outcome == "warning"


def test_outcome_on_kind_without_outcomes(create, operator_actor):
    ticket = create("pet-cs-inquiry")
    with pytest.raises(Conflict) as exc:
        services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)
    assert exc.value.code == "no_outcome_for_kind" and exc.value.status == 409
    assert not TicketEvent.objects.filter(ticket=ticket, type=EventType.OUTCOME).exists()


def test_outcome_on_cancelled_ticket_refused(make_ticket, actor, operator_actor):
    ticket = services.ticket_transition(make_ticket(), to_status=Status.CANCELLED, actor=actor)
    with pytest.raises(Conflict):
        services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)


@pytest.mark.parametrize(("board", "code"), [("koc", "penalty-koc"), ("gwangju_kmcc", "penalty-gwangju")])
def test_penalty_board_routes_the_ticket(make_ticket, board, code):
    details = {**VALID["driver-penalty-request"][0], "penalty_board": board}
    ticket = make_ticket(details=details, driver_id="DRV-9")
    assert Ticket.objects.get(pk=ticket.pk).board.code == seed(code)
    assert TicketEvent.objects.get(ticket=ticket, type=EventType.CREATED).data["board"] == seed(code)


@pytest.mark.parametrize("blocked", [True, False])
def test_driver_blocked_recorded(make_ticket, operator_actor, blocked):
    details = {**VALID["driver-penalty-request"][0], "driver_blocked": blocked}
    ticket = make_ticket(details=details, driver_id="DRV-9")
    assert Ticket.objects.get(pk=ticket.pk).driver_blocked is blocked
    services.ticket_record_outcome(ticket, outcome="suspension", actor=operator_actor, driver_blocked=not blocked)
    assert Ticket.objects.get(pk=ticket.pk).driver_blocked is (not blocked)
    assert TicketEvent.objects.get(ticket=ticket, type=EventType.OUTCOME).data["driver_blocked"] is (not blocked)


# --- Record issuance: the manager confirms before anything completes ---------------------------


def test_record_issuance_outcome_needs_manager_confirmation(create, actor, operator_actor):
    ticket = create("pet-record-issuance")
    with pytest.raises(Conflict) as exc:
        services.ticket_record_outcome(ticket, outcome="issued", actor=operator_actor)
    assert exc.value.code == "manager_confirmation_required"
    assert Ticket.objects.get(pk=ticket.pk).outcome == ""

    with pytest.raises(DomainValidationError) as exc:
        services.ticket_confirm_manager(ticket, manager_name="  ", actor=operator_actor)
    assert list(exc.value.field_errors) == ["manager_name"]

    ticket = services.ticket_confirm_manager(ticket, manager_name="박관리", actor=operator_actor)
    assert TicketEvent.objects.get(ticket=ticket, type=EventType.MANAGER_CONFIRMED).data == {"manager": "박관리"}
    ticket = services.ticket_record_outcome(ticket, outcome="issued", actor=operator_actor)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.outcome, stored.status, stored.manager_confirmed_by) == ("issued", Status.ACTION_TAKEN, "박관리")


@pytest.mark.parametrize("to_status", [Status.ACTION_TAKEN, Status.RESOLVED])
def test_record_issuance_transition_needs_manager_confirmation(create, actor, to_status):
    ticket = services.ticket_transition(create("pet-record-issuance"), to_status=Status.IN_PROGRESS, actor=actor)
    events = TicketEvent.objects.filter(ticket=ticket).count()
    with pytest.raises(Conflict) as exc:
        services.ticket_transition(ticket, to_status=to_status, actor=actor)
    assert exc.value.code == "manager_confirmation_required"
    assert Ticket.objects.get(pk=ticket.pk).status == Status.IN_PROGRESS
    assert TicketEvent.objects.filter(ticket=ticket).count() == events


# --- Business transfer: business hours decide the route ----------------------------------------


@pytest.mark.parametrize(
    "when",
    [(2026, 11, 23, 10, 0), (2026, 11, 23, 9, 0), (2026, 11, 23, 17, 59)],
    ids=["mon-10", "mon-09-opening", "mon-1759"],
)
def test_business_transfer_inside_hours_goes_to_business_line(create, when):
    with at(*when):
        ticket = create("business-transfer")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.routed_to == "business_line"
    assert stored.assignee is None
    assert TicketEvent.objects.get(ticket=ticket, type=EventType.CREATED).data["routed_to"] == "business_line"


@pytest.mark.parametrize(
    "when",
    [(2026, 11, 23, 19, 0), (2026, 11, 23, 18, 0), (2026, 11, 23, 8, 59), (2026, 11, 21, 10, 0), (2026, 9, 25, 10, 0)],
    ids=["mon-19", "mon-18-closing", "mon-0859", "saturday", "chuseok"],
)
def test_business_transfer_outside_hours_needs_assignee(create, operator, when):
    with at(*when):
        with pytest.raises(DomainValidationError) as exc:
            create("business-transfer")
        assert list(exc.value.field_errors) == ["assignee"]
        assert not Ticket.objects.exists()
        ticket = create("business-transfer", assignee=operator)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.routed_to == "business_team"
    assert stored.assignee == operator
    assert stored.board.code == seed("business-kd")
