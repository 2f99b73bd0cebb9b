"""Finding a ticket or a person: the search box in every page's header, a person's history
(every ticket, re-contact, follow-up and message for one phone number, member ID or driver ID,
newest first, contacts masked) and the repeat-contact lookup of the new-ticket form.

The box is a POST form: a phone number typed into it never lands in a URL, a browser history or
an access log. A person's page is addressed by the keyed hash of the number (pii.blind_index),
never by the number. Reads go through selectors; what a user may see is asked of the access
policy (operations staff: their boards' tickets and those assigned to them)."""

from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from cstrack import calendar, pii

from .. import selectors
from ..access import policy as access
from ..models import PENDING_FOLLOWUP_STATES, Status
from . import present
from .access import requires
from .views import page

RESULT_LIMIT = 50
HISTORY_TICKETS = 100
PERSON_TITLES = {
    "phone": _lazy("같은 전화번호의 고객"),
    "member_id": _lazy("회원 ID %(value)s"),
    "driver_id": _lazy("기사 ID %(value)s"),
}


def _labels(fields):
    return [selectors.MATCH_LABELS[f] for f in fields]


def person_links(ticket, fields) -> list[dict]:
    """Links to the history of the person behind a ticket, for the keys it matched on."""
    links = []
    for key in selectors.PERSON_KEYS:
        if key not in fields:
            continue
        value = ticket.customer_phone_hash if key == "phone" else getattr(ticket, key)
        label = {
            "phone": _("이 전화번호의 이력"),
            "member_id": _("이 회원의 이력"),
            "driver_id": _("이 기사의 이력"),
        }[key]
        links.append({"label": label, "url": reverse("console:person", args=[key, value])})
    return links


@never_cache
@requires("view_ticket")
def search(request):
    """GET: the empty search page. POST: tickets matching the term in any reference, open or
    closed, newest first; a single exact reference match opens that ticket."""
    query = (request.POST.get("q") or "").strip()[:100] if request.method == "POST" else ""
    rows, people = [], []
    if query:
        terms = selectors.lookup_terms(text=query)
        found = list(access.visible_tickets(request.user, selectors.tickets_matching(terms))[: RESULT_LIMIT + 1])
        if len(found) == 1 and found[0].reference == terms.get("reference"):
            return redirect("console:ticket_detail", reference=found[0].reference)
        seen = set()
        for t in found[:RESULT_LIMIT]:
            fields = selectors.matched_on(t, terms)
            t.matched = _labels(fields)
            t.received_label = present.when(t.received_at)
            rows.append(t)
            for link in person_links(t, fields):
                if link["url"] not in seen:
                    seen.add(link["url"])
                    people.append(link)
    shown = query
    if query and "phone" in selectors.lookup_terms(text=query):
        shown = pii.mask_phone(pii.normalise_phone(query))  # the page never repeats the number
    context = {
        "query": shown,
        "rows": rows,
        "people": people,
        "more": len(rows) == RESULT_LIMIT,
        "limit": RESULT_LIMIT,
    }
    return page(request, "console/search/results.html", context, status=200)


def _history_rows(tickets, events, followups, now):
    """What happened, newest first: tickets received, re-contacts (with the memo), outcomes,
    status changes, follow-ups carried out or settled and the messages they sent (masked
    recipient). Pending follow-ups are returned apart, soonest first: they have not happened."""
    by_pk = {t.pk: t for t in tickets}
    rows, upcoming = [], []
    for t in tickets:
        rows.append({"at": t.received_at, "what": _("접수"), "ticket": t, "text": t.kind.name, "type": "received"})
    fu_by_id = {fu.pk: fu for fu in followups}
    for e in events:
        t = by_pk[e.ticket_id]
        rows.append(
            {
                "at": e.at,
                "what": e.get_type_display(),
                "ticket": t,
                "text": present.describe_event(e, t, fu_by_id),
                "who": present.actor_label(e.actor_label),
                "type": e.type,
            }
        )
    for fu in followups:
        t = by_pk[fu.ticket_id]
        if fu.state in PENDING_FOLLOWUP_STATES:
            text = fu.get_state_display() + (" · " + _("기한 지남") if fu.due_at < now else "")
            upcoming.append({"at": fu.due_at, "what": fu.get_action_display(), "ticket": t, "text": text})
            continue
        text = fu.get_state_display() + (f" · {fu.reason}" if fu.reason else "")
        rows.append(
            {
                "at": fu.completed_at or fu.updated_at,
                "what": fu.get_action_display(),
                "ticket": t,
                "text": text,
                "type": "followup",
            }
        )
        m = fu.message
        if m is not None:
            rows.append(
                {
                    "at": m.sent_at or m.updated_at,
                    "what": _("메시지"),
                    "ticket": t,
                    "text": f"{m.template.name if m.template else m.get_channel_display()} → {m.recipient_masked} · "
                    f"{m.get_state_display()}",
                    "type": "message",
                }
            )
    rows.sort(key=lambda r: r["at"], reverse=True)
    upcoming.sort(key=lambda r: r["at"])
    for r in rows + upcoming:
        r["label"] = present.when(r["at"])
    return rows, upcoming


@requires("view_ticket")
def person(request, key, value):
    """A customer's (or driver's) history across tickets, newest first."""
    if key not in selectors.PERSON_KEYS:
        raise Http404
    tickets = list(access.visible_tickets(request.user, selectors.person_tickets(key, value))[:HISTORY_TICKETS])
    if not tickets:
        raise Http404(_("이력을 찾을 수 없습니다."))
    events, followups = selectors.person_history(tickets)
    rows, upcoming = _history_rows(tickets, events, followups, calendar.now())
    for t in tickets:
        t.received_label = present.when(t.received_at)
    context = {
        "title": PERSON_TITLES[key] % {"value": value},
        "key": key,
        "masked_phone": next((t.customer_phone_masked for t in tickets if t.customer_phone_masked), ""),
        "tickets": tickets,
        "open_count": sum(1 for t in tickets if t.is_open),
        "rows": rows,
        "upcoming": upcoming,
        "limit": HISTORY_TICKETS,
    }
    return page(request, "console/search/person.html", context)


# --- Repeat-contact lookup (new-ticket form) --------------------------------------------------------


def _offer(t, fields) -> str:
    matched = ", ".join(_labels(fields))
    who = (
        _("이 고객") if {"phone", "member_id"} & set(fields) else _("이 기사") if "driver_id" in fields else _("이 콜")
    )
    values = {"who": who, "matched": matched, "kind": t.kind.name, "reference": t.reference}
    if t.is_open:
        values["status"] = t.get_status_display()
        return (
            _(
                "%(matched)s이(가) 같은 %(who)s의 처리 중인 '%(kind)s' 건(%(reference)s, %(status)s)이 있습니다. "
                "새로 접수하지 말고 재인입으로 기록할까요?"
            )
            % values
        )
    values["status"] = Status(t.status).label
    values["when"] = present.when(t.closed_at or t.updated_at)
    return (
        _("%(matched)s이(가) 같은 %(who)s의 끝난 '%(kind)s' 건(%(reference)s, %(status)s %(when)s)이 있습니다.")
        % values
    )


@requires("log_recontact")
@require_POST
def ticket_matching(request):
    """Tickets, open and closed, for a repeat contact (JSON for the new-ticket form): what matched
    (phone, member ID, driver ID, call ID), and on an open one the offer to log a re-contact.
    A POST (CSRF-checked) like the search box: the number typed never lands in a URL or a log."""
    terms = selectors.lookup_terms(
        phone=request.POST.get("phone", ""),
        member_id=request.POST.get("member_id", ""),
        driver_id=request.POST.get("driver_id", ""),
        call_id=request.POST.get("call_id", ""),
    )
    found = list(access.visible_tickets(request.user, selectors.tickets_matching(terms))[:20])
    found.sort(key=lambda t: (not t.is_open,))  # open ones first, each group newest first
    results = []
    for t in found[:5]:
        fields = selectors.matched_on(t, terms)
        detail = reverse("console:ticket_detail", args=[t.reference])
        results.append(
            {
                "reference": t.reference,
                "kind": t.kind.name,
                "status": t.get_status_display(),
                "open": t.is_open,
                "board": t.board.name,
                "received": present.when(t.received_at),
                "phone": t.customer_phone_masked,
                "matched": _labels(fields),
                "url": detail + "#recontact" if t.is_open else detail,
                "link_label": _("이 티켓에 재인입 기록") if t.is_open else _("지난 티켓 보기"),
                "offer": _offer(t, fields),
                "history": person_links(t, fields),
            }
        )
    return JsonResponse({"results": results, "action_label": _("이 티켓에 재인입 기록")})
