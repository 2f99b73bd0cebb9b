"""The follow-up engine with a stopped clock and the in-memory SMS provider."""

from datetime import datetime, timedelta

import pytest

from cstrack import calendar
from cstrack.errors import Conflict, DomainValidationError, PermissionDenied
from notifications import services as outbox
from notifications.models import Message
from notifications.providers import memory
from tickets.followups import changes as followup_changes
from tickets.followups import dispatcher, scheduling
from tickets.followups import messages as followup_messages
from tickets.lifecycle import services
from tickets.models import Action, Board, EventType, FollowUp, FollowUpState, Status, Ticket, TicketEvent
from tickets.privacy import consent, contact
from tickets.selectors import callbacks_due_for, overdue_followups, overdue_tickets

from .conftest import EMAIL, PHONE_E164, VALID, at, kst

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seed_codes")]  # also under renamed codes
ST = FollowUpState
PENALTY = "driver-penalty-request"
SUPERVISOR_EMAIL = "lead@staff.example"


@pytest.fixture(autouse=True)
def _supervisor_emails(db):
    Board.objects.update(supervisor_email=SUPERVISOR_EMAIL)


def fu(ticket, action, **filters):
    return FollowUp.objects.get(ticket=ticket, action=action, **filters)


def sms_messages():
    return Message.objects.filter(channel="sms")


# --- Penalty feedback: customer SMS on D+3 -------------------------------------------------------


@pytest.fixture
def penalty(create):
    """Penalty request with feedback requested, received Thu 2026-11-19 14:00 KST."""
    with at(2026, 11, 19, 14, 0):
        return create(PENALTY)


def test_penalty_feedback_due_on_d_plus_3_at_10(penalty):
    sms = fu(penalty, Action.CUSTOMER_MESSAGE)
    breach = fu(penalty, Action.ALERT_SUPERVISOR)
    assert sms.due_at == kst(2026, 11, 22, 10, 0) == breach.due_at  # Sunday: a date rule, weekends count
    assert sms.state == breach.state == ST.SCHEDULED
    assert breach.marks_breach and not sms.marks_breach
    with at(2026, 11, 22, 9, 59):
        assert dispatcher.dispatch_due().claimed == 0
    assert not Message.objects.exists()
    assert FollowUp.objects.filter(ticket=penalty, state=ST.SCHEDULED).count() == 2


def test_outcome_before_d3_sends_exactly_one_sms(penalty, operator_actor):
    with at(2026, 11, 20, 11, 0):
        services.ticket_record_outcome(penalty, outcome="warning", actor=operator_actor)
    # The "no outcome by D+3" alert is pointless now: skipped at once, not shown as due until D+3.
    breach = fu(penalty, Action.ALERT_SUPERVISOR)
    assert breach.state == ST.SKIPPED and breach.reason == "기한 전에 처리 결과가 기록됨"
    with at(2026, 11, 22, 10, 0):
        result = dispatcher.dispatch_due()
        assert (result.claimed, result.done, result.skipped) == (1, 1, 0)
        dispatcher.dispatch_due()
        assert dispatcher.dispatch_due().claimed == 0
        assert sms_messages().count() == 1
        assert Message.objects.count() == 1  # no supervisor alert: the outcome came in time
        message = sms_messages().get()
        assert message.recipient == PHONE_E164 and message.recipient_masked == "010-****-5678"
        assert message.idempotency_key == f"followup:{fu(penalty, Action.CUSTOMER_MESSAGE).pk}:customer"
        assert "11월 18일" in message.body
        assert outbox.message_deliver(message.pk) == "sent"
        assert outbox.message_deliver(message.pk) == "skipped"
    sent = memory.outbox()
    assert len(sent) == 1 and sent[0]["to"] == PHONE_E164
    assert fu(penalty, Action.CUSTOMER_MESSAGE).state == ST.DONE
    assert fu(penalty, Action.ALERT_SUPERVISOR).state == ST.SKIPPED
    assert Ticket.objects.get(pk=penalty.pk).breached_at is None


def test_no_outcome_at_d3_holds_sms_alerts_and_breaches(penalty, operator_actor):
    with at(2026, 11, 22, 10, 0):
        result = dispatcher.dispatch_due()
        assert (result.held, result.done) == (1, 1)
    sms_fu = fu(penalty, Action.CUSTOMER_MESSAGE)
    assert sms_fu.state == ST.HELD and sms_fu.message is None
    assert not sms_messages().exists()
    alert = Message.objects.get(channel="email")
    assert alert.recipient == SUPERVISOR_EMAIL and penalty.reference in alert.subject
    stored = Ticket.objects.get(pk=penalty.pk)
    assert stored.breached_at == kst(2026, 11, 22, 10, 0)
    assert TicketEvent.objects.filter(ticket=penalty, type=EventType.BREACHED).count() == 1
    assert penalty in overdue_tickets(kst(2026, 11, 22, 10, 1))

    # The outcome comes in at 22:00: the held SMS is released, and waits for 08:00. Its due time
    # stays the promised D+3, so the promise report counts it as kept late.
    with at(2026, 11, 22, 22, 0):
        services.ticket_record_outcome(penalty, outcome="suspension", actor=operator_actor)
        sms_fu.refresh_from_db()
        assert sms_fu.state == ST.SCHEDULED and sms_fu.due_at == kst(2026, 11, 22, 10, 0)
        assert dispatcher.dispatch_due().done == 1
        message = sms_messages().get()
        assert message.next_attempt_at == kst(2026, 11, 23, 8, 0)
        assert outbox.message_deliver(message.pk) == "skipped"
    with at(2026, 11, 23, 8, 0):
        assert dispatcher.dispatch_due().claimed == 0
        assert outbox.message_deliver(message.pk) == "sent"
    assert [m["to"] for m in memory.outbox()] == [PHONE_E164]
    assert sms_messages().count() == 1


def test_no_action_outcome_skips_the_sms(penalty, operator_actor):
    with at(2026, 11, 21, 9, 0):
        services.ticket_record_outcome(penalty, outcome="no_action", actor=operator_actor, reason="관리자 컨펌")
    # Both are settled by the outcome itself: no SMS for "no action", no "no outcome yet" alert.
    assert fu(penalty, Action.CUSTOMER_MESSAGE).state == ST.SKIPPED
    assert fu(penalty, Action.ALERT_SUPERVISOR).state == ST.SKIPPED
    with at(2026, 11, 22, 10, 0):
        assert dispatcher.dispatch_due().claimed == 0
    assert fu(penalty, Action.CUSTOMER_MESSAGE).state == ST.SKIPPED
    assert not Message.objects.exists()


def test_no_action_after_hold_skips_the_sms(penalty, operator_actor):
    with at(2026, 11, 22, 10, 0):
        dispatcher.dispatch_due()
    with at(2026, 11, 22, 12, 0):
        services.ticket_record_outcome(penalty, outcome="no_action", actor=operator_actor, reason="관리자 컨펌")
        dispatcher.dispatch_due()
    assert fu(penalty, Action.CUSTOMER_MESSAGE).state == ST.SKIPPED
    assert not sms_messages().exists()


def test_no_feedback_requested_means_no_customer_followup(create):
    with at(2026, 11, 19, 14, 0):
        ticket = create(PENALTY, details={**VALID[PENALTY][0], "feedback_requested": False})
    assert not FollowUp.objects.filter(ticket=ticket).exists()
    with at(2026, 11, 22, 10, 0):
        assert dispatcher.dispatch_due().claimed == 0
    assert not Message.objects.exists()


def test_scheduling_is_idempotent_per_occurrence(penalty):
    from tickets.models import Trigger

    again = scheduling.schedule(penalty, Trigger.TICKET_RECEIVED, anchor=penalty.received_at, occurrence="created")
    assert again == []
    assert FollowUp.objects.filter(ticket=penalty).count() == 2


# --- Re-contact: call back within 1-2 business days -------------------------------------------


@pytest.fixture
def recontacted(create, actor, operator):
    with at(2026, 11, 20, 10, 0):  # Friday
        ticket = create("pet-cs-inquiry")
        ticket = services.ticket_assign(ticket, actor=actor, assignee=operator)
    with at(2026, 11, 20, 16, 0):
        recontact = services.ticket_log_recontact(ticket, actor=actor, note="처리 결과 문의")
    return ticket, recontact


def test_recontact_schedules_call_back_reminder_and_breach(recontacted, operator):
    ticket, recontact = recontacted
    assert recontact.promised_by == kst(2026, 11, 24, 18, 0)
    assert "2026-11-24 (화) 18:00" in services.recontact_promise_text(recontact)
    assert fu(ticket, Action.CALL_BACK).due_at == kst(2026, 11, 24, 18, 0)
    assert fu(ticket, Action.REMIND_OWNER).due_at == kst(2026, 11, 23, 9, 0)
    assert fu(ticket, Action.ALERT_SUPERVISOR).due_at == kst(2026, 11, 24, 18, 0)
    with at(2026, 11, 23, 9, 0):
        assert list(callbacks_due_for(operator, until=kst(2026, 11, 24, 18, 0))) == [fu(ticket, Action.CALL_BACK)]


def test_recontact_refuses_a_channel_outside_the_choices(create, actor):
    ticket = create("pet-cs-inquiry")
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_log_recontact(ticket, actor=actor, channel="0" * 21)
    assert "channel" in exc.value.field_errors
    assert not ticket.recontacts.exists()


def test_callbacks_due_by_default_include_duties_already_due_after_closing(recontacted, operator):
    ticket, _ = recontacted
    call_back = fu(ticket, Action.CALL_BACK)
    call_back.due_at = kst(2026, 11, 22, 20, 0)  # a Sunday evening, after the nominal 18:00
    call_back.save(update_fields=["due_at"])
    with at(2026, 11, 22, 19, 0):
        assert list(callbacks_due_for(operator)) == []
    with at(2026, 11, 22, 21, 30):
        assert list(callbacks_due_for(operator)) == [call_back]
    call_back.due_at = kst(2026, 11, 25, 17, 0)  # Wednesday afternoon
    call_back.save(update_fields=["due_at"])
    with at(2026, 11, 24, 10, 0):
        assert list(callbacks_due_for(operator)) == []
    with at(2026, 11, 25, 10, 0):
        assert list(callbacks_due_for(operator)) == [call_back]


def test_completed_call_back_skips_reminder_and_breach(recontacted, actor):
    ticket, _ = recontacted
    with at(2026, 11, 23, 8, 30):
        done = followup_changes.followup_complete(fu(ticket, Action.CALL_BACK), actor=actor, note="통화 완료")
        assert done.state == ST.DONE and done.completed_by == actor.user
        with pytest.raises(Conflict):
            followup_changes.followup_complete(done, actor=actor)
    with at(2026, 11, 23, 9, 0):
        assert dispatcher.dispatch_due().skipped == 1
    with at(2026, 11, 24, 18, 0):
        assert dispatcher.dispatch_due().skipped == 1
    assert fu(ticket, Action.REMIND_OWNER).state == ST.SKIPPED
    assert fu(ticket, Action.ALERT_SUPERVISOR).state == ST.SKIPPED
    assert Ticket.objects.get(pk=ticket.pk).breached_at is None
    assert not Message.objects.exists()


def test_missed_call_back_reminds_then_breaches(recontacted, actor, operator):
    ticket, _ = recontacted
    with at(2026, 11, 23, 8, 59):
        assert dispatcher.dispatch_due().claimed == 0
    with at(2026, 11, 23, 9, 0):
        assert dispatcher.dispatch_due().done == 1
    reminder = Message.objects.get()
    assert reminder.recipient == operator.email and reminder.channel == "email"
    assert "2026-11-24 (화) 18:00" in reminder.body
    with at(2026, 11, 24, 17, 59):
        assert dispatcher.dispatch_due().claimed == 0
        assert Ticket.objects.get(pk=ticket.pk).breached_at is None
    with at(2026, 11, 24, 18, 0):
        assert dispatcher.dispatch_due().done == 1
    assert Ticket.objects.get(pk=ticket.pk).breached_at == kst(2026, 11, 24, 18, 0)
    assert Message.objects.filter(recipient_masked__endswith="@staff.example").count() == 2
    # The call back itself is a person's duty: never carried out by the dispatcher.
    call_back = fu(ticket, Action.CALL_BACK)
    assert call_back.state == ST.SCHEDULED
    assert call_back in overdue_followups(kst(2026, 11, 24, 18, 1))
    with at(2026, 11, 25, 10, 0):
        followup_changes.followup_complete(call_back, actor=actor)
    event = TicketEvent.objects.filter(ticket=ticket, type=EventType.FOLLOWUP, data__change="completed").get()
    assert event.data["late"] is True


def test_automatic_followup_cannot_be_completed_by_hand(recontacted, actor):
    ticket, _ = recontacted
    with pytest.raises(Conflict):
        followup_changes.followup_complete(fu(ticket, Action.REMIND_OWNER), actor=actor)


# --- Waiting on the customer stops the clock -----------------------------------------------------


def test_waiting_on_customer_shifts_due_times_by_the_paused_time(recontacted, actor):
    ticket, _ = recontacted
    before = {f.pk: f.due_at for f in FollowUp.objects.filter(ticket=ticket)}
    with at(2026, 11, 21, 10, 0):
        services.ticket_transition(ticket, to_status=Status.WAITING_CUSTOMER, actor=actor)
    assert set(FollowUp.objects.filter(ticket=ticket).values_list("state", flat=True)) == {ST.PAUSED}
    with at(2026, 11, 23, 9, 30):  # the reminder would have been due at 09:00
        assert dispatcher.dispatch_due().claimed == 0
    with at(2026, 11, 23, 10, 0):
        services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=actor)
    after = {f.pk: f.due_at for f in FollowUp.objects.filter(ticket=ticket)}
    assert {pk: after[pk] - before[pk] for pk in before} == {pk: timedelta(days=2) for pk in before}
    assert set(FollowUp.objects.filter(ticket=ticket).values_list("state", flat=True)) == {ST.SCHEDULED}
    assert Ticket.objects.get(pk=ticket.pk).paused_at is None


# --- Closing, cancelling, consent ---------------------------------------------------------------


def test_cancelling_cancels_pending_followups(penalty, actor):
    with at(2026, 11, 20, 9, 0):
        services.ticket_transition(penalty, to_status=Status.CANCELLED, actor=actor)
    assert set(FollowUp.objects.filter(ticket=penalty).values_list("state", flat=True)) == {ST.CANCELLED}
    event = TicketEvent.objects.get(ticket=penalty, type=EventType.FOLLOWUP)
    assert event.data["cancelled"] == 2
    with at(2026, 11, 22, 10, 0):
        assert dispatcher.dispatch_due().claimed == 0
    assert not Message.objects.exists()


def test_closing_cancels_pending_followups(recontacted, actor):
    ticket, _ = recontacted
    ticket = services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=actor)
    ticket = services.ticket_transition(ticket, to_status=Status.RESOLVED, actor=actor)
    services.ticket_transition(ticket, to_status=Status.CLOSED, actor=actor)
    assert set(FollowUp.objects.filter(ticket=ticket).values_list("state", flat=True)) == {ST.CANCELLED}


def test_withdrawn_consent_cancels_customer_messages_only(penalty, actor, operator_actor):
    with at(2026, 11, 20, 9, 0):
        consent.ticket_withdraw_consent(penalty, actor=actor, note="문자 거부")
        assert fu(penalty, Action.CUSTOMER_MESSAGE).state == ST.CANCELLED
        assert fu(penalty, Action.ALERT_SUPERVISOR).state == ST.SCHEDULED
        services.ticket_record_outcome(penalty, outcome="warning", actor=operator_actor)
    assert fu(penalty, Action.CUSTOMER_MESSAGE).state == ST.CANCELLED
    assert fu(penalty, Action.ALERT_SUPERVISOR).state == ST.SKIPPED  # by the outcome, not the withdrawal
    with at(2026, 11, 22, 10, 0):
        dispatcher.dispatch_due()
    assert not sms_messages().exists()


def test_withdrawn_consent_after_release_still_sends_nothing(penalty, actor, operator_actor):
    with at(2026, 11, 22, 10, 0):
        dispatcher.dispatch_due()  # SMS held
    with at(2026, 11, 22, 11, 0):
        consent.ticket_withdraw_consent(penalty, actor=actor)
        services.ticket_record_outcome(penalty, outcome="warning", actor=operator_actor)
        dispatcher.dispatch_due()
    assert fu(penalty, Action.CUSTOMER_MESSAGE).state == ST.CANCELLED
    assert not sms_messages().exists()


def _sms_waiting_for_the_morning(penalty, operator_actor):
    """Outcome recorded at 22:00 after D+3: the SMS is in the outbox, held until 08:00."""
    with at(2026, 11, 23, 22, 0):
        services.ticket_record_outcome(penalty, outcome="warning", actor=operator_actor)
        dispatcher.dispatch_due()
    message = sms_messages().get()
    assert (message.state, message.next_attempt_at) == (Message.State.PENDING, kst(2026, 11, 24, 8, 0))
    return message


def test_withdrawn_consent_stops_an_sms_already_waiting_in_the_outbox(penalty, actor, operator_actor):
    message = _sms_waiting_for_the_morning(penalty, operator_actor)
    with at(2026, 11, 23, 22, 30):
        consent.ticket_withdraw_consent(penalty, actor=actor, note="문자 거부")
    with at(2026, 11, 24, 8, 0):
        assert outbox.message_deliver(message.pk) == "skipped"
        assert outbox.outbox_sweep() == 0
    assert memory.outbox() == []
    assert Message.objects.get(pk=message.pk).state == Message.State.CANCELLED


def test_cancelling_the_ticket_stops_its_waiting_sms_but_closing_it_does_not(create, actor, operator_actor):
    with at(2026, 11, 19, 14, 0):
        cancelled, closed = create(PENALTY), create(PENALTY)
    with at(2026, 11, 23, 22, 0):
        for ticket in (cancelled, closed):
            services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)
        dispatcher.dispatch_due()
    with at(2026, 11, 23, 22, 30):
        # The outcome was recorded in error and the request is withdrawn: reopened, then cancelled.
        reopened = services.ticket_transition(
            Ticket.objects.get(pk=cancelled.pk), to_status=Status.IN_PROGRESS, actor=actor
        )
        services.ticket_transition(reopened, to_status=Status.CANCELLED, actor=actor)
        services.ticket_transition(Ticket.objects.get(pk=closed.pk), to_status=Status.CLOSED, actor=actor)
    with at(2026, 11, 24, 8, 0):
        for message in sms_messages():
            outbox.message_deliver(message.pk)
    states = {
        ticket.pk: Message.objects.get(
            idempotency_key=f"followup:{fu(ticket, Action.CUSTOMER_MESSAGE).pk}:customer"
        ).state
        for ticket in (cancelled, closed)
    }
    # A closed ticket is a handled one: its promised SMS still goes.
    assert states == {cancelled.pk: Message.State.CANCELLED, closed.pk: Message.State.SENT}
    assert [m["idempotency_key"] for m in memory.outbox() if m["channel"] == "sms"] == [
        f"followup:{fu(closed, Action.CUSTOMER_MESSAGE).pk}:customer"
    ]


def test_purging_the_contact_erases_it_from_sent_and_waiting_messages(create, actor, operator_actor):
    with at(2026, 11, 19, 14, 0):
        sent_one, waiting_one = create(PENALTY), create(PENALTY)
    with at(2026, 11, 22, 10, 0):
        services.ticket_record_outcome(sent_one, outcome="warning", actor=operator_actor)
        dispatcher.dispatch_due()
        outbox.message_deliver(sms_messages().get().pk)
    with at(2026, 11, 23, 22, 0):
        services.ticket_record_outcome(waiting_one, outcome="warning", actor=operator_actor)
        dispatcher.dispatch_due()
    with at(2026, 11, 23, 22, 30):
        for ticket in (sent_one, waiting_one):
            contact.ticket_purge_contact(Ticket.objects.get(pk=ticket.pk), actor=actor, reason="삭제 요청")
    assert sms_messages().count() == 2
    for message in sms_messages():
        assert (message.recipient, message.recipient_masked) == ("", "")
    assert set(sms_messages().values_list("state", flat=True)) == {Message.State.SENT, Message.State.CANCELLED}
    with at(2026, 11, 24, 8, 0):
        outbox.outbox_sweep()
        for message in Message.objects.all():
            outbox.message_deliver(message.pk)
    sms_sent = [m for m in memory.outbox() if m["channel"] == "sms"]
    assert len(sms_sent) == 1  # only the one sent before the purge


# --- Supervisors move or cancel follow-ups ------------------------------------------------------


def test_reschedule_needs_permission_and_reason(penalty, actor, operator_actor, supervisor_actor):
    sms = fu(penalty, Action.CUSTOMER_MESSAGE)
    new_due = kst(2026, 11, 23, 10, 0)
    for who in (actor, operator_actor):
        with pytest.raises(PermissionDenied):
            followup_changes.followup_reschedule(sms, due_at=new_due, reason="고객 요청", actor=who)
    with pytest.raises(DomainValidationError) as exc:
        followup_changes.followup_reschedule(sms, due_at=new_due, reason=" ", actor=supervisor_actor)
    assert list(exc.value.field_errors) == ["reason"]
    with pytest.raises(DomainValidationError) as exc:
        followup_changes.followup_reschedule(
            sms, due_at=new_due.replace(tzinfo=None), reason="x", actor=supervisor_actor
        )
    assert list(exc.value.field_errors) == ["due_at"]
    assert fu(penalty, Action.CUSTOMER_MESSAGE).due_at == kst(2026, 11, 22, 10, 0)

    moved = followup_changes.followup_reschedule(
        sms, due_at=new_due, reason="고객이 월요일 수신 요청", actor=supervisor_actor
    )
    assert moved.due_at == new_due and moved.reason == "고객이 월요일 수신 요청"
    event = TicketEvent.objects.get(ticket=penalty, type=EventType.FOLLOWUP)
    assert event.actor == supervisor_actor.user
    assert event.data["change"] == "rescheduled" and event.data["followup"] == sms.pk
    assert datetime.fromisoformat(event.data["before"]) == kst(2026, 11, 22, 10, 0)
    assert datetime.fromisoformat(event.data["after"]) == new_due


def test_cancel_needs_permission_and_reason(penalty, actor, supervisor_actor):
    breach = fu(penalty, Action.ALERT_SUPERVISOR)
    with pytest.raises(PermissionDenied):
        followup_changes.followup_cancel(breach, reason="중복", actor=actor)
    with pytest.raises(DomainValidationError):
        followup_changes.followup_cancel(breach, reason="", actor=supervisor_actor)
    assert fu(penalty, Action.ALERT_SUPERVISOR).state == ST.SCHEDULED
    cancelled = followup_changes.followup_cancel(breach, reason="다른 티켓과 중복", actor=supervisor_actor)
    assert cancelled.state == ST.CANCELLED
    event = TicketEvent.objects.get(ticket=penalty, type=EventType.FOLLOWUP)
    assert event.data == {"followup": breach.pk, "change": "cancelled", "reason": "다른 티켓과 중복"}
    with pytest.raises(Conflict):
        followup_changes.followup_cancel(breach, reason="again", actor=supervisor_actor)
    with pytest.raises(Conflict):
        followup_changes.followup_reschedule(breach, due_at=kst(2026, 12, 1, 10, 0), reason="x", actor=supervisor_actor)


# --- Season pass ----------------------------------------------------------------------------------


@pytest.fixture
def season_pass(create):
    with at(2026, 11, 23, 10, 0):  # Monday
        return create(
            "parking-season-pass-registration", customer_phone="010-1234-5678", consent_basis="newly_collected"
        )


def test_season_pass_breach_at_end_of_business_day_1(season_pass):
    assert fu(season_pass, Action.ALERT_SUPERVISOR).due_at == kst(2026, 11, 24, 18, 0)
    with at(2026, 11, 24, 18, 0):
        assert dispatcher.dispatch_due().done == 1
    assert Ticket.objects.get(pk=season_pass.pk).breached_at == kst(2026, 11, 24, 18, 0)


@pytest.mark.parametrize(
    ("when", "first_attempt"),
    [((2026, 11, 23, 15, 0), (2026, 11, 23, 15, 0)), ((2026, 11, 23, 22, 30), (2026, 11, 24, 8, 0))],
    ids=["afternoon", "night"],
)
def test_season_pass_registered_sms_immediately_respecting_quiet_hours(
    season_pass, operator_actor, when, first_attempt
):
    with at(*when):
        services.ticket_record_outcome(season_pass, outcome="registered", actor=operator_actor)
        sms = fu(season_pass, Action.CUSTOMER_MESSAGE)
        assert sms.due_at == kst(*when)
        assert dispatcher.dispatch_due().done == 1
    message = sms_messages().get()
    assert message.next_attempt_at == kst(*first_attempt)
    assert "12가3456" in message.body and "판교역 공영주차장" in message.body
    with at(2026, 11, 24, 18, 0):
        dispatcher.dispatch_due()
    assert fu(season_pass, Action.ALERT_SUPERVISOR).state == ST.SKIPPED
    assert Ticket.objects.get(pk=season_pass.pk).breached_at is None


def test_season_pass_not_registrable_sends_no_sms(season_pass, operator_actor):
    with at(2026, 11, 23, 15, 0):
        services.ticket_record_outcome(season_pass, outcome="not_registrable", actor=operator_actor)
        dispatcher.dispatch_due()
    assert not FollowUp.objects.filter(ticket=season_pass, action=Action.CUSTOMER_MESSAGE).exists()
    assert not sms_messages().exists()


# --- Business sign-up ------------------------------------------------------------------------------


def test_business_signup_sends_intro_email_and_creates_call_back(create):
    details = {**VALID["business-transfer"][0], "transfer_type": "signup", "contact_email": EMAIL}
    with at(2026, 11, 23, 10, 0):
        ticket = create("business-transfer", details=details, consent_basis="newly_collected")
        intro = fu(ticket, Action.CUSTOMER_MESSAGE)
        assert intro.due_at == kst(2026, 11, 23, 10, 0)
        assert fu(ticket, Action.CALL_BACK).due_at == kst(2026, 11, 24, 18, 0)
        assert dispatcher.dispatch_due().done == 1
        mail = Message.objects.get()
        assert (mail.channel, mail.recipient) == ("email", EMAIL)
        assert ticket.reference in mail.body
        assert outbox.message_deliver(mail.pk) == "sent"
    assert memory.outbox()[0]["to"] == EMAIL


def test_other_business_transfers_have_no_followups(create):
    with at(2026, 11, 23, 10, 0):
        ticket = create("business-transfer")
    assert not FollowUp.objects.filter(ticket=ticket).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_send_once(create, operator_actor):
    import threading

    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("shared-cache in-memory SQLite cannot wait for a writer (see test_references)")
    Board.objects.update(supervisor_email=SUPERVISOR_EMAIL)
    with at(2026, 11, 19, 14, 0):
        tickets = [create(PENALTY) for _ in range(5)]
    with at(2026, 11, 20, 10, 0):
        for ticket in tickets[:3]:
            services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)
    barrier, errors = threading.Barrier(4), []

    def run():
        try:
            barrier.wait(10)
            dispatcher.dispatch_due(batch_size=2)
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    with at(2026, 11, 22, 10, 0):
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    assert sms_messages().count() == 3  # the three with an outcome
    assert Message.objects.filter(channel="email").count() == 2  # breach alerts for the other two
    assert not FollowUp.objects.filter(state=ST.SCHEDULED).exists()
    assert Ticket.objects.filter(breached_at__isnull=False).count() == 2


def test_message_context_fills_every_placeholder_a_template_may_use(penalty):
    """A template passes validation with any PLACEHOLDERS name; the engine must supply each one,
    or the follow-up fails at send time."""
    from notifications.templating import PLACEHOLDERS

    context = followup_messages.message_context(penalty, fu(penalty, Action.CUSTOMER_MESSAGE))
    assert set(PLACEHOLDERS) <= set(context)
    assert context["customer_name_masked"] == "고객" and context["summary"]


def test_masked_name_placeholder_comes_from_the_ticket(create):
    with at(2026, 11, 23, 10, 0):
        ticket = create("pet-partnership-inquiry")
    name = ticket.sensitive_details.get("inquirer_name") or ticket.details.get("inquirer_name")
    assert name
    masked = followup_messages.message_context(ticket)["customer_name_masked"]
    assert masked != name and masked[0] == name[0] and "*" in masked


def test_promised_by_names_the_breach_deadline_when_no_call_back_is_pending(penalty):
    """An owner reminder says by when the customer was promised an answer: with no call back
    pending, the penalty request's D+3 deadline."""
    context = followup_messages.message_context(penalty, None)
    assert context["promised_by"] == calendar.business_time_label(kst(2026, 11, 22, 10, 0))


def test_every_shipped_policy_passes_validation():
    from tickets.models import FollowUpPolicy

    policies = list(FollowUpPolicy.objects.all())
    assert policies
    for policy in policies:
        policy.full_clean()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timing": "d_plus", "timing_n": 3, "timing_time": None}, "timing_time"),
        ({"timing_n": -1}, "timing_n"),
        ({"trigger": "status_entered", "trigger_status": ""}, "trigger_status"),
        ({"action": "customer_message", "template": None}, "template"),
        ({"conditions": {"skip_if_outcom": True}}, "conditions"),
        ({"conditions": {"details": ["x"]}}, "conditions"),
    ],
)
def test_a_policy_that_cannot_be_carried_out_is_refused_on_save(changes, field):
    from django.core.exceptions import ValidationError

    from tickets.models import FollowUpPolicy

    policy = FollowUpPolicy.objects.filter(action="customer_message").first()
    for name, value in changes.items():
        setattr(policy, name, value)
    with pytest.raises(ValidationError) as exc:
        policy.full_clean()
    assert field in exc.value.message_dict


@pytest.mark.parametrize(("escalation_email", "expected"), [("head@staff.example", "head@staff.example"), ("", None)])
def test_escalation_goes_to_the_level_above_the_supervisor(penalty, escalation_email, expected):
    from notifications.models import Message as Msg

    Board.objects.filter(pk=penalty.board_id).update(escalation_email=escalation_email)
    alert = fu(penalty, Action.ALERT_SUPERVISOR)
    escalation = FollowUp.objects.create(
        ticket=penalty,
        policy=alert.policy,
        action=Action.ESCALATE,
        due_at=kst(2026, 11, 20, 10, 0),
        dedupe_key=f"test-escalate:{penalty.pk}",
    )
    with at(2026, 11, 20, 10, 0):
        dispatcher.dispatch_due()
    message = Msg.objects.get(idempotency_key=f"followup:{escalation.pk}:email")
    assert message.recipient == (expected or SUPERVISOR_EMAIL)


def test_business_days_timing_keeps_the_time_of_day():
    from tickets.models import FollowUpPolicy

    policy = FollowUpPolicy(timing="business_days", timing_n=2)
    assert scheduling.due_time(policy, kst(2026, 11, 20, 14, 30)) == kst(2026, 11, 24, 14, 30)
