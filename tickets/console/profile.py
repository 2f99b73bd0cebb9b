"""A member of staff's own settings: the morning digest (opt in or out, the digests scheduled
for them, cancel one). The rules are tickets.reports.digest's."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cstrack.errors import DomainError
from tickets.reports import digest

from ..models import Action, FollowUp
from . import present
from .views import page


def _rows(qs):
    return [
        {"pk": fu.pk, "due": present.when(fu.due_at), "state": fu.get_state_display(), "reason": fu.reason} for fu in qs
    ]


@login_required
def profile(request):
    user = request.user
    if request.method == "POST":
        wanted = request.POST.get("morning_digest") == "1"
        digest.set_opt_in(user, wanted)
        messages.success(request, _("아침 요약 메일을 받습니다.") if wanted else _("아침 요약 메일을 받지 않습니다."))
        return redirect("console:profile")
    context = {
        "opted_in": digest.opted_in(user),
        "is_recipient": digest.recipients().filter(pk=user.pk).exists(),
        "upcoming": _rows(digest.upcoming_for(user).order_by("due_at")),
        "recent": _rows(digest.recent_for(user)),
    }
    return page(request, "console/profile.html", context)


@login_required
@require_POST
def digest_cancel(request, pk):
    fu = FollowUp.objects.filter(pk=pk, action=Action.MORNING_DIGEST, recipient=request.user).first()
    if fu is None:
        raise Http404
    try:
        digest.digest_cancel(fu, user=request.user, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("요약 메일을 취소했습니다."))
    return redirect("console:profile")
