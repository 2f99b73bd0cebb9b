"""The morning digest: at 08:30 KST on each business day, every supervisor and board owner gets
one e-mail with yesterday's kept and broken promises, what breached overnight and what falls
due today, with links.

A digest is a follow-up row like any other (action `morning_digest`, no ticket, a recipient):
`schedule_digests` writes one row per person per business day (unique `dedupe_key`, so any
number of runs writes it once), the dispatcher sends it when due, exactly once, through the
outbox; until then it is visible on the person's profile page and in the admin, and can be
cancelled there. Staff opt out on their profile page (`StaffProfile.morning_digest`).

Recipients: active staff with an e-mail who hold the supervisor role, and staff whose e-mail is
a board's supervisor e-mail (the board's owner). Each sees the tickets the access policy lets
them see, plus, for a board owner, their boards' tickets.
"""

import logging
from datetime import date, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from cstrack import calendar, roles
from cstrack.errors import Conflict
from notifications import services as outbox
from tickets.access import policy as access
from tickets.models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    Board,
    FollowUp,
    FollowUpState,
    StaffProfile,
    Ticket,
)
from tickets.reports import promises as report

logger = logging.getLogger(__name__)
ST = FollowUpState
DIGEST_TIME = time(8, 30)
# A digest not scheduled by then (beat was down all morning) is not sent for that day.
LATEST_SCHEDULE_TIME = time(12, 0)
LIST_LIMIT = 10


def recipients() -> QuerySet:
    """Who gets a digest now: supervisors and board owners with an e-mail, minus opt-outs."""
    owners = Board.objects.exclude(supervisor_email="").values("supervisor_email")
    opted_out = StaffProfile.objects.filter(user=OuterRef("pk"), morning_digest=False)
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(groups__name=roles.SUPERVISOR) | Q(email__in=owners))
        .exclude(Exists(opted_out))
        .distinct()
    )


def digest_days(now) -> list[date]:
    """The business days whose digests should exist now: today's (until late morning) and the
    next business day's, so tomorrow's row can be seen and cancelled the day before."""
    today = calendar.kst_date(now)
    days = []
    if calendar.is_business_day(today) and now < calendar.at_local_time(today, LATEST_SCHEDULE_TIME):
        days.append(today)
    days.append(calendar.next_business_day(today))
    return days


def schedule_digests(now=None) -> int:
    """Write the digest rows that should exist now (idempotent). Returns the rows written."""
    now = now or calendar.now()
    rows = [
        FollowUp(
            action=Action.MORNING_DIGEST,
            recipient=user,
            due_at=calendar.at_local_time(day, DIGEST_TIME),
            state=ST.SCHEDULED,
            reason="아침 요약 메일",
            pauses_when_waiting=False,
            dedupe_key=f"digest:{user.pk}:{day.isoformat()}",
        )
        for day in digest_days(now)
        for user in recipients()
    ]
    keys = [r.dedupe_key for r in rows]
    existing = set(FollowUp.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    FollowUp.objects.bulk_create([r for r in rows if r.dedupe_key not in existing], ignore_conflicts=True)
    return len(set(keys) - existing)


def upcoming_for(user) -> QuerySet:
    """The person's digests not yet sent (their profile page lists them, to cancel one)."""
    return FollowUp.objects.filter(action=Action.MORNING_DIGEST, recipient=user, state__in=PENDING_FOLLOWUP_STATES)


def recent_for(user, limit: int = 5) -> QuerySet:
    return (
        FollowUp.objects.filter(action=Action.MORNING_DIGEST, recipient=user)
        .exclude(state__in=PENDING_FOLLOWUP_STATES)
        .order_by("-due_at")[:limit]
    )


@transaction.atomic
def digest_cancel(followup: FollowUp, *, user, reason: str = "") -> FollowUp:
    """The recipient (or a supervisor) cancels a digest not yet sent."""
    fu = FollowUp.objects.select_for_update().get(pk=followup.pk, action=Action.MORNING_DIGEST)
    access.ensure(user, "cancel_digest", fu)
    if fu.state not in PENDING_FOLLOWUP_STATES:
        raise Conflict(f"'{fu.get_state_display()}' 상태의 요약 메일은 취소할 수 없습니다.")
    fu.state = ST.CANCELLED
    fu.reason = (reason or "받는 사람이 취소").strip()[:300]
    fu.save(update_fields=["state", "reason", "updated_at"])
    logger.info("morning digest %s cancelled by user %s", fu.pk, user.pk)
    return fu


def set_opt_in(user, wanted: bool) -> StaffProfile:
    """Opting out also cancels the digests already scheduled for the person."""
    with transaction.atomic():
        profile, _ = StaffProfile.objects.select_for_update().get_or_create(user=user)
        profile.morning_digest = wanted
        profile.save(update_fields=["morning_digest", "updated_at"])
        if not wanted:
            upcoming_for(user).update(state=ST.CANCELLED, reason="수신 거부로 취소", updated_at=calendar.now())
    return profile


def opted_in(user) -> bool:
    return not StaffProfile.objects.filter(user=user, morning_digest=False).exists()


# --- What a digest says --------------------------------------------------------------------------


def scope_for(user) -> QuerySet | None:
    """The tickets a digest counts for this person (None: every ticket)."""
    if access.is_unrestricted(user):
        return None
    owned = Ticket.objects.filter(board__supervisor_email=user.email) if user.email else Ticket.objects.none()
    return Ticket.objects.filter(Q(pk__in=access.visible_tickets(user).values("pk")) | Q(pk__in=owned.values("pk")))


def _url(path: str) -> str:
    return getattr(settings, "CSTRACK_BASE_URL", "").rstrip("/") + path


def digest_content(user, day: date, now) -> dict:
    """Yesterday's promises (since the previous business day: a Monday covers the weekend),
    tickets breached since the previous business day closed, and promises due today."""
    scope = scope_for(user)
    previous = calendar.previous_business_day(day)
    last_day = day - timedelta(days=1)
    yesterday = report.promise_report(
        report.ReportFilter(first=previous, last=last_day, period="day"), scope, as_of=now
    ).totals
    since = calendar.end_of_business_day(previous)
    breached = (scope if scope is not None else Ticket.objects.all()).filter(
        breached_at__gte=since, breached_at__lt=now
    )
    start, end = calendar.kst_day_bounds(day, day)
    due_today = (
        report.promises(scope)
        .filter(state__in=PENDING_FOLLOWUP_STATES, due_at__gte=start, due_at__lt=end)
        .select_related("ticket", "policy")
        .order_by("due_at", "id")
    )
    return {
        "day": day,
        "from": previous,
        "to": last_day,
        "kept": yesterday.on_time + yesterday.late,
        "kept_late": yesterday.late,
        "broken": yesterday.broken,
        "breached": list(breached.order_by("breached_at").values_list("reference", flat=True)[: LIST_LIMIT + 1]),
        "breached_count": breached.count(),
        "due_today": list(due_today[:LIST_LIMIT]),
        "due_today_count": due_today.count(),
    }


def render(content: dict) -> tuple[str, str]:
    day = content["day"]
    subject = (
        f"[cstrack] {calendar.month_day_label(day)} 아침 요약: 이행 {content['kept']}건 · 불이행 {content['broken']}건"
    )
    span = (
        calendar.month_day_label(content["to"])
        if content["from"] == content["to"]
        else f"{calendar.month_day_label(content['from'])}~{calendar.month_day_label(content['to'])}"
    )
    lines = [
        f"{span}에 기한이 든 약속: 지킨 약속 {content['kept']}건(그중 늦게 지킨 {content['kept_late']}건), "
        f"지키지 못한 약속 {content['broken']}건.",
        "",
        f"밤사이 기한 위반이 된 티켓: {content['breached_count']}건",
    ]
    lines += [f"  - {ref} {_url(f'/tickets/{ref}/')}" for ref in content["breached"][:LIST_LIMIT]]
    if content["breached_count"] > LIST_LIMIT:
        lines.append(f"  … 외 {content['breached_count'] - LIST_LIMIT}건: {_url('/supervisor/?breached=1')}")
    lines += ["", f"오늘 기한인 약속: {content['due_today_count']}건"]
    for fu in content["due_today"]:
        what = fu.policy.name if fu.policy else fu.get_action_display()
        label = calendar.business_time_label(fu.due_at)
        lines.append(f"  - {label[-5:]} {fu.ticket.reference} {what} {_url(f'/tickets/{fu.ticket.reference}/')}")
    if content["due_today_count"] > LIST_LIMIT:
        lines.append(f"  … 외 {content['due_today_count'] - LIST_LIMIT}건")
    lines += [
        "",
        f"약속 이행 보고: {_url('/supervisor/reports/')}",
        f"기한 지남·위반 목록: {_url('/supervisor/')}",
        f"요약 메일 설정: {_url('/profile/')}",
    ]
    return subject, "\n".join(lines)


# --- Sending (called by the dispatcher for a due digest row) --------------------------------------


def _close(fu: FollowUp, state: str, reason: str, message=None) -> str:
    fu.state, fu.reason = state, reason[:300]
    fu.completed_at = calendar.now() if state == ST.DONE else None
    fu.message = message
    fu.save(update_fields=["state", "reason", "completed_at", "message", "updated_at"])
    return "done" if state == ST.DONE else "skipped"


def carry_out(fu: FollowUp, now) -> str:
    """Send one due digest (inside the dispatcher's transaction). Returns done/skipped."""
    user = fu.recipient
    day = calendar.kst_date(fu.due_at)
    if not calendar.is_business_day(day):
        return _close(fu, ST.SKIPPED, "영업일이 아니라 보내지 않음")
    if user is None or not user.is_active or not user.email:
        return _close(fu, ST.SKIPPED, "받을 사람이나 메일 주소가 없음")
    if not opted_in(user):
        return _close(fu, ST.SKIPPED, "수신 거부")
    subject, body = render(digest_content(user, day, now))
    message = outbox.message_enqueue(
        channel="email", recipient=user.email, subject=subject, body=body, idempotency_key=f"followup:{fu.pk}:email"
    )
    return _close(fu, ST.DONE, "아침 요약 메일 발송 대기열에 등록", message=message)
