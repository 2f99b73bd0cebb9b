"""Seed 003: the business-account guide routes by who is calling, and by the clock where it
matters; the sign-up and call-back paths are tracked follow-ups."""

import pytest

from cstrack.errors import DomainValidationError
from notifications.models import Message
from tickets.followups import dispatcher
from tickets.models import Action, FollowUp, FollowUpState, Ticket

from .conftest import EMAIL, VALID, at, kst

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seed_codes")]  # also under renamed codes
KIND = "business-transfer"
IN_HOURS = (2026, 11, 23, 10, 0)  # Monday 10:00 KST
AFTER_HOURS = (2026, 11, 23, 19, 30)  # Monday 19:30 KST
SATURDAY = (2026, 11, 21, 11, 0)


def business(create, caller, **kwargs):
    details = {**VALID[KIND][0], "caller_type": caller, **kwargs.pop("details", {})}
    return create(KIND, details=details, **kwargs)


def followups(ticket):
    return sorted((f.action, f.due_at) for f in FollowUp.objects.filter(ticket=ticket))


@pytest.mark.parametrize(
    ("caller", "when", "route"),
    [
        ("registered_admin", IN_HOURS, "business_line"),
        ("registered_admin", AFTER_HOURS, "business_team"),
        ("registered_admin", SATURDAY, "business_team"),
        ("personal_profile", IN_HOURS, "business_team"),
        ("personal_profile", AFTER_HOURS, "business_team"),
        ("business_profile", IN_HOURS, "company_admin"),
        ("business_profile", AFTER_HOURS, "company_admin"),
        ("prospect", IN_HOURS, "business_team"),
        ("prospect", AFTER_HOURS, "business_team"),
    ],
)
def test_the_caller_and_the_clock_decide_the_route(create, operator, caller, when, route):
    with at(*when):
        ticket = business(create, caller, assignee=operator)
    assert Ticket.objects.get(pk=ticket.pk).routed_to == route


@pytest.mark.parametrize("caller", ["registered_admin", "personal_profile", "prospect"])
def test_a_transfer_after_hours_needs_a_named_assignee(create, caller):
    with at(*AFTER_HOURS), pytest.raises(DomainValidationError) as exc:
        business(create, caller)
    assert list(exc.value.field_errors) == ["assignee"]


@pytest.mark.parametrize("caller", ["registered_admin", "business_profile"])
def test_callers_sent_elsewhere_in_hours_need_no_assignee_and_get_no_duties(create, caller):
    with at(*IN_HOURS):
        ticket = business(create, caller)
    assert ticket.assignee is None
    assert followups(ticket) == []


def test_the_caller_must_be_asked(create):
    details = {k: v for k, v in VALID[KIND][0].items() if k != "caller_type"}
    with at(*IN_HOURS), pytest.raises(DomainValidationError) as exc:
        create(KIND, details=details)
    assert list(exc.value.field_errors) == ["details.caller_type"]


def test_a_personal_profile_member_is_called_back_by_the_business_team(create, operator):
    with at(*AFTER_HOURS):  # Monday evening: the two business days are Tuesday and Wednesday
        ticket = business(create, "personal_profile", assignee=operator)
    assert followups(ticket) == [
        (Action.ALERT_SUPERVISOR, kst(2026, 11, 25, 18, 0)),
        (Action.CALL_BACK, kst(2026, 11, 25, 18, 0)),
    ]


@pytest.mark.parametrize(
    ("when", "call_by"),
    [
        (IN_HOURS, kst(2026, 11, 24, 18, 0)),  # Monday morning: by the end of Tuesday
        (AFTER_HOURS, kst(2026, 11, 24, 18, 0)),  # Monday evening: still Tuesday
        (SATURDAY, kst(2026, 11, 23, 18, 0)),  # Saturday: by the end of Monday
    ],
    ids=["in-hours", "after-hours", "saturday"],
)
def test_a_sign_up_gets_the_intro_mail_then_a_call_in_business_hours(create, operator, when, call_by):
    details = {"transfer_type": "signup", "contact_email": EMAIL}
    with at(*when):
        ticket = business(create, "prospect", details=details, consent_basis="newly_collected", assignee=operator)
        assert dispatcher.dispatch_due().done == 1  # the intro e-mail leaves at once
    mail = Message.objects.get()
    assert (mail.channel, mail.recipient) == ("email", EMAIL)
    call = FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK)
    assert call.due_at == call_by and call.state == FollowUpState.SCHEDULED
    breach = FollowUp.objects.get(ticket=ticket, action=Action.ALERT_SUPERVISOR)
    assert breach.due_at == call_by and breach.marks_breach
    assert Ticket.objects.get(pk=ticket.pk).routed_to == "business_team"


def test_a_sign_up_call_not_made_in_time_is_a_breach(create, operator, supervisor_actor):
    details = {"transfer_type": "signup", "contact_email": EMAIL}
    with at(*IN_HOURS):
        ticket = business(create, "prospect", details=details, consent_basis="newly_collected")
    with at(2026, 11, 24, 18, 0, 30):
        dispatcher.dispatch_due()
    assert Ticket.objects.get(pk=ticket.pk).breached_at is not None


def test_a_sign_up_call_made_in_time_is_no_breach(create, operator_actor):
    from tickets.followups import changes

    details = {"transfer_type": "signup", "contact_email": EMAIL}
    with at(*IN_HOURS):
        ticket = business(create, "prospect", details=details, consent_basis="newly_collected")
    with at(2026, 11, 24, 15, 0):
        changes.followup_complete(
            FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK), actor=operator_actor, note="통화함"
        )
    with at(2026, 11, 24, 18, 0, 30):
        dispatcher.dispatch_due()
    assert FollowUp.objects.get(ticket=ticket, action=Action.ALERT_SUPERVISOR).state == FollowUpState.SKIPPED
    assert Ticket.objects.get(pk=ticket.pk).breached_at is None
