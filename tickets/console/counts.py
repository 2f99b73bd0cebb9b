"""The counts beside the navigation links (my call-backs due, overdue tickets in my boards, dead
letters), as a small server-rendered partial that static/console/console.js fetches when a page
opens and again every minute while the tab is visible. Each count is one capped query: the
database stops counting at COUNT_CAP rows, whatever the number of tickets."""

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from notifications.models import Message
from tickets import selectors
from tickets.access import policy as access

from .access import capabilities, requires

COUNT_CAP = 99


def _capped(qs) -> int:
    return qs.order_by()[: COUNT_CAP + 1].count()


def nav_counts_for(request) -> list[dict]:
    caps = capabilities(request)
    user = request.user
    counts = []
    if caps.log_recontact:
        counts.append(
            {
                "name": "callbacks",
                "value": _capped(selectors.callbacks_due_for(user)),
                "label": _("건 회신 전화 기한 도래"),
            }
        )
    if caps.manage_followups or caps.record_outcome:
        overdue = access.visible_tickets(user, selectors.overdue_tickets())
        counts.append({"name": "overdue", "value": _capped(overdue), "label": _("건 기한 지남")})
    if caps.retry_messages:
        dead = access.visible_messages(user, Message.objects.filter(state=Message.State.DEAD))
        counts.append({"name": "dead", "value": _capped(dead), "label": _("건 발송 실패")})
    for c in counts:
        c["shown"] = f"{COUNT_CAP}+" if c["value"] > COUNT_CAP else str(c["value"])
    return counts


@never_cache
@require_GET
@requires("view_ticket")
def nav_counts(request):
    return render(request, "console/_nav_counts.html", {"counts": nav_counts_for(request)})
