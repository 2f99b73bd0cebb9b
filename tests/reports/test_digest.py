"""The morning digest: one follow-up row per person per business day, sent once at 08:30 KST,
never on a holiday, scoped, cancellable, and staff can opt out."""

import pytest
from django.core.management import call_command

from cstrack import calendar
from cstrack.models import Closure
from notifications.models import Message
from tests.conftest import make_user
from tickets.followups import dispatcher
from tickets.models import Action, Board, FollowUp, FollowUpState, StaffProfile
from tickets.reports import digest

from .histories import at, call_back_at, dispatch_at, kst, recontacted

pytestmark = pytest.mark.django_db
ST = FollowUpState


def digests(**filters):
    return FollowUp.objects.filter(action=Action.MORNING_DIGEST, **filters)


def digest_mail(user):
    """The digest e-mails queued for `user` (the outbox stores addresses encrypted)."""
    sent = digests(recipient=user, message__isnull=False).values("message_id")
    return Message.objects.filter(pk__in=sent, channel="email", subject__contains="아침 요약")


@pytest.fixture(autouse=True)
def _fresh_closures():
    calendar.clear_closure_cache()
    yield
    calendar.clear_closure_cache()


def test_one_row_per_person_per_business_day(supervisor):
    with at(2026, 12, 2, 7, 0):  # Wednesday before 08:30: today's and tomorrow's
        assert digest.schedule_digests() == 2
        assert digest.schedule_digests() == 0  # any number of runs writes each once
    rows = digests(recipient=supervisor).order_by("due_at")
    assert [r.due_at for r in rows] == [kst(2026, 12, 2, 8, 30), kst(2026, 12, 3, 8, 30)]
    assert all(r.ticket_id is None and r.state == ST.SCHEDULED for r in rows)


def test_sent_once_on_a_business_day(supervisor, create, actor):
    # Tuesday: one call back kept, one broken (due Tuesday 18:00); Wednesday morning: the digest.
    kept = recontacted(create, actor, (2026, 11, 27, 10, 0))  # Friday; due Tuesday 18:00
    call_back_at(kept, actor, (2026, 12, 1, 11, 0))
    broken = recontacted(create, actor, (2026, 11, 27, 11, 0))
    due_today = recontacted(create, actor, (2026, 11, 30, 10, 0))  # Monday; due Wednesday 18:00
    dispatch_at((2026, 12, 1, 18, 0))  # the breach check on `broken` fires Tuesday evening
    with at(2026, 12, 2, 7, 0):
        digest.schedule_digests()
    with at(2026, 12, 2, 8, 29):
        dispatcher.dispatch_due()
    assert not digest_mail(supervisor).exists()
    with at(2026, 12, 2, 8, 30):
        dispatcher.dispatch_due()
        dispatcher.dispatch_due()
    mail = digest_mail(supervisor).get()
    # Kept on Tuesday: the call back, and the owner reminder for `due_today` (due Tuesday 09:00,
    # sent late at 18:00, when the dispatcher ran); broken: the call back nobody made.
    assert "이행 2건 · 불이행 1건" in mail.subject
    assert "늦게 지킨 1건" in mail.body
    assert f"{broken.reference}" in mail.body  # breached since Tuesday's close
    assert "밤사이 기한 위반이 된 티켓: 1건" in mail.body
    assert "오늘 기한인 약속: 1건" in mail.body and due_today.reference in mail.body
    assert "/supervisor/reports/" in mail.body
    row = digests(recipient=supervisor, due_at=kst(2026, 12, 2, 8, 30)).get()
    assert row.state == ST.DONE and row.message_id == mail.pk
    with at(2026, 12, 2, 9, 0):
        digest.schedule_digests()
        dispatcher.dispatch_due()
    assert digest_mail(supervisor).count() == 1


def test_not_on_a_holiday(supervisor):
    # Thursday 12-24 evening: the next business day is Monday 12-28 (Christmas, then a weekend).
    with at(2026, 12, 24, 19, 0):
        digest.schedule_digests()
    assert [r.due_at for r in digests(recipient=supervisor)] == [kst(2026, 12, 28, 8, 30)]
    with at(2026, 12, 25, 8, 30):
        digest.schedule_digests()
        dispatcher.dispatch_due()
    assert not digest_mail(supervisor).exists()


def test_a_day_closed_after_scheduling_gets_no_digest(supervisor):
    with at(2026, 12, 2, 19, 0):
        digest.schedule_digests()  # Thursday 12-03's row
    Closure.objects.create(date=kst(2026, 12, 3).date(), name="사내 휴무")
    calendar.clear_closure_cache()
    with at(2026, 12, 3, 8, 30):
        dispatcher.dispatch_due()
    row = digests(recipient=supervisor, due_at=kst(2026, 12, 3, 8, 30)).get()
    assert row.state == ST.SKIPPED and not digest_mail(supervisor).exists()


def test_opt_out_and_cancel(supervisor, client):
    other = make_user("super2", "supervisor")
    with at(2026, 12, 2, 7, 0):
        digest.schedule_digests()
        client.force_login(supervisor)
        page = client.get("/profile/")
        assert page.status_code == 200 and "아침 요약 메일" in page.content.decode()
        assert len(page.context["upcoming"]) == 2
        # Cancel today's only: the row stays, cancelled, with the reason.
        today = digests(recipient=supervisor, due_at=kst(2026, 12, 2, 8, 30)).get()
        assert client.post(f"/profile/digests/{today.pk}/cancel/").status_code == 302
        # Nobody cancels someone else's.
        theirs = digests(recipient=other).first()
        assert client.post(f"/profile/digests/{theirs.pk}/cancel/").status_code == 404
    with at(2026, 12, 2, 8, 30):
        dispatcher.dispatch_due()
    today.refresh_from_db()
    assert today.state == ST.CANCELLED
    assert not digest_mail(supervisor).exists() and digest_mail(other).count() == 1
    # Opting out cancels what is scheduled and stops new rows.
    with at(2026, 12, 2, 12, 0):
        assert client.post("/profile/", {}).status_code == 302
        assert StaffProfile.objects.get(user=supervisor).morning_digest is False
        assert digests(recipient=supervisor, state=ST.SCHEDULED).count() == 0
        digest.schedule_digests()
    assert digests(recipient=supervisor, state=ST.SCHEDULED).count() == 0
    assert digests(recipient=other, state=ST.SCHEDULED).count() == 1


def test_board_owner_gets_their_boards_only(create, actor):
    owner = make_user("koc-owner", "operations")
    pet_board = Board.objects.get(code=create("pet-cs-inquiry").board.code)
    pet_board.supervisor_email = owner.email
    pet_board.save()
    mine = recontacted(create, actor, (2026, 11, 30, 10, 0))  # pet board, due Wednesday
    theirs = recontacted(create, actor, (2026, 11, 30, 10, 0), kind="driver-compensation-demand")
    assert theirs.board_id != pet_board.pk
    with at(2026, 12, 2, 7, 0):
        digest.schedule_digests()
    with at(2026, 12, 2, 8, 30):
        dispatcher.dispatch_due()
    mail = digest_mail(owner).get()
    assert mine.reference in mail.body and theirs.reference not in mail.body


def test_a_digest_row_is_not_a_ticket_follow_up(supervisor, client):
    with at(2026, 12, 2, 7, 0):
        digest.schedule_digests()
        row = digests(recipient=supervisor).first()
        client.force_login(supervisor)
        # The ticket follow-up actions and API do not offer it; the profile page does.
        assert client.post(f"/followups/{row.pk}/cancel/", {"reason": "x"}).status_code == 404
        listed = client.get("/api/v1/followups/").json()["results"]
    assert row.pk not in [f["id"] for f in listed]


def test_digest_rule_cannot_be_a_policy():
    from django.core.exceptions import ValidationError

    from tickets.models import FollowUpPolicy

    policy = FollowUpPolicy(
        code="x", name="x", trigger="ticket_received", action=Action.MORNING_DIGEST, timing="immediate"
    )
    with pytest.raises(ValidationError) as err:
        policy.clean()
    assert "action" in err.value.message_dict


def test_beat_runs_the_scheduler():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["schedule-morning-digests"]
    assert entry["task"] == "tickets.schedule_morning_digests"
    call_command("check")
