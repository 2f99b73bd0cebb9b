""" "내 회신 전화": the call-backs an agent owns, overdue / today / upcoming, each with what was
promised and the customer's re-contact memo; the owner reveals the number in one audited step
(the reason is filled in) and gets a tel: link; the call's result is recorded in one more.
The rules (who owns a call-back, the reveal, the results) live in the services."""

from datetime import time

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import DomainError
from tickets.followups import changes as followup_changes
from tickets.privacy import contact

from .. import selectors
from ..access import policy as access
from ..models import Action, CallResult, FollowUp, ReContact
from . import present
from .access import capabilities, requires
from .views import page

LIMIT = 200


def _recontact_pk(fu) -> int | None:
    """The re-contact a call-back was scheduled for (its trigger occurrence "recontact-<pk>")."""
    tail = fu.dedupe_key.rsplit(":", 1)[-1]
    return int(tail.removeprefix("recontact-")) if tail.startswith("recontact-") and tail[10:].isdigit() else None


def _rows(user, now):
    rows = list(selectors.my_callbacks(user)[:LIMIT])
    wanted = {pk for pk in (_recontact_pk(fu) for fu in rows) if pk}
    recontacts = {r.pk: r for r in ReContact.objects.filter(pk__in=wanted)} if wanted else {}
    tomorrow = calendar.d_plus(now, 1, time(0, 0))  # midnight ending today's KST date
    groups = {"overdue": [], "today": [], "upcoming": []}
    for fu in rows:
        fu.due_label = present.when(fu.due_at)
        recontact = recontacts.get(_recontact_pk(fu))
        fu.memo = recontact.note if recontact else ""
        if recontact is not None:
            fu.promise = _("%(when)s까지 회신하겠다고 안내함") % {"when": present.when(recontact.promised_by)}
        else:
            fu.promise = fu.policy.name if fu.policy else fu.get_action_display()
        fu.reveal_reason = _("회신 전화 (%(reference)s)") % {"reference": fu.ticket.reference}
        fu.tries = fu.attempts
        key = "overdue" if fu.due_at < now else "today" if fu.due_at < tomorrow else "upcoming"
        groups[key].append(fu)
    return groups, len(rows)


def _page(request, *, revealed=None, errors=None, status=200):
    now = calendar.now()
    groups, total = _rows(request.user, now)
    context = {
        "groups": [
            ("overdue", _("기한 지남"), groups["overdue"]),
            ("today", _("오늘까지"), groups["today"]),
            ("upcoming", _("앞으로"), groups["upcoming"]),
        ],
        "total": total,
        "limit": LIMIT,
        "today": calendar.month_day_label(calendar.kst_date(now)),
        "results": CallResult.choices,
        "revealed": revealed or {},
        "errors": errors or {},
    }
    response = page(request, "console/agent/home.html", context, status=status)
    if revealed:
        response["Cache-Control"] = "no-store"
    return response


@requires("log_recontact")
def my_callbacks(request):
    return _page(request)


def _callback_or_404(request, pk):
    """A call back on a ticket this user may see (the access policy); anything else is a 404."""
    callbacks = FollowUp.objects.select_related("ticket", "ticket__kind").filter(action=Action.CALL_BACK)
    fu = access.visible_followups(request.user, callbacks).filter(pk=pk).first()
    if fu is None:
        raise Http404(_("회신 전화를 찾을 수 없습니다."))
    return fu


@never_cache
@requires("log_recontact")
@require_POST
def callback_reveal(request, pk):
    """The number of the customer to call, for the owner of the call-back; audited."""
    fu = _callback_or_404(request, pk)
    try:
        number = contact.callback_reveal_contact(
            fu, actor=Actor.for_user(request.user), reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        bag = {"id": fu.pk, "detail": exc.detail, "fields": exc.field_errors}
        return _page(request, errors=bag, status=exc.status)
    shown = {"id": fu.pk, "display": present.phone_display(number), "tel": number}
    return _page(request, revealed=shown)


@requires("log_recontact")
@require_POST
def callback_complete(request, pk):
    """Record how the call went: done (with its result) or, unanswered, one more attempt."""
    if not capabilities(request).change_ticket:
        raise PermissionDenied
    fu = _callback_or_404(request, pk)
    try:
        fu = followup_changes.followup_complete(
            fu,
            actor=Actor.for_user(request.user),
            note=request.POST.get("note", ""),
            result=request.POST.get("result", ""),
        )
    except DomainError as exc:
        bag = {"id": fu.pk, "detail": exc.detail, "fields": exc.field_errors}
        return _page(request, errors=bag, status=exc.status)
    if fu.completed_at:
        messages.success(request, _("%(reference)s 회신 전화를 기록했습니다.") % {"reference": fu.ticket.reference})
    else:
        messages.info(
            request,
            _("%(reference)s 통화 시도를 기록했습니다. 기한 %(when)s 전에 다시 걸어 주세요.")
            % {"reference": fu.ticket.reference, "when": present.when(fu.due_at)},
        )
    return redirect("console:agent_home")
