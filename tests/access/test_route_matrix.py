"""Every console route and every API endpoint x every role x an object on their own board, on
another board, or assigned to them: the status each gets is the one the expectation tables
below say. The routes are read from the URL configuration, so a new route without an entry
here fails `test_every_route_has_a_decision`, and one whose gate differs fails its row.

The tables name Django permissions as the seeded roles hold them (`SEEDED`), written out here
rather than read from the code, so the test checks the policy instead of repeating it."""

from dataclasses import dataclass
from itertools import combinations

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from cstrack import calendar, roles
from cstrack.actors import SYSTEM
from notifications.models import Message
from tests.conftest import make_user
from tickets.api.keys import apikey_create
from tickets.console import views as console_views
from tickets.lifecycle import services
from tickets.models import Action, Board, DelegationCase, DelegationRelation, FollowUp, WebhookSubscription
from tickets.privacy import attachments, delegation

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# --- What each principal holds (the seeded defaults, written out) ---------------------------------

VIEW = {"tickets.view_ticket", "tickets.view_ticketkind", "tickets.view_followup", "tickets.view_ticketevent"}
READ = VIEW | {"notifications.view_message"}
WRITE = {"tickets.add_ticket", "tickets.change_ticket", "tickets.record_outcome", "tickets.add_recontact"}
ALL = "*"
SEEDED = {
    "agent": VIEW | {"tickets.add_ticket", "tickets.change_ticket", "tickets.add_recontact"},
    "operations": VIEW
    | {"tickets.change_ticket", "tickets.record_outcome", "tickets.reveal_contact"}
    | {"tickets.download_attachment"},
    "supervisor": READ
    | WRITE
    | {"tickets.reveal_contact", "tickets.download_attachment"}
    | {"tickets.manage_followups", "notifications.change_message"},
    "administrator": ALL,
    "key_read": READ,
    "key_write": WRITE,
    "key_followups": {"tickets.manage_followups"},
    "key_kinds": READ | WRITE,  # limited to penalty requests
}
KEYS = {
    "key_read": {"scopes": ("read",)},
    "key_write": {"scopes": ("write",)},
    "key_followups": {"scopes": ("followups",)},
    "key_kinds": {"scopes": ("read", "write"), "kinds": ("driver-penalty-request",)},
}
PEOPLE = ["anonymous", "agent", "operations", "supervisor", "administrator"]
API_PRINCIPALS = PEOPLE + list(KEYS)

# Where the object is, seen from the operations user (a member of the penalty-koc board only).
OWN, OTHER, ASSIGNED = "own board", "other board", "other board, assigned to them"
PLACEMENTS = (OWN, OTHER, ASSIGNED)

# --- The expectation tables ----------------------------------------------------------------------

TICKET, FOLLOWUP, ATTACHMENT, DELEGATION, MESSAGE, KIND, WEBHOOK, DIGEST = (
    "ticket",
    "follow-up",
    "attachment",
    "delegation",
    "message",
    "kind",
    "webhook",
    "a morning digest (the supervisor's)",
)
LOGGED_IN = "any logged-in user"


@dataclass(frozen=True)
class Gate:
    perm: str
    obj: str | None = None
    integration_or_superuser: bool = False  # webhook subscriptions belong to a key
    body: tuple = ()  # form fields an allowed caller sends (so the answer is about the gate)
    params: tuple = ()  # fixed fields (query or form) an allowed caller sends
    also: str | None = None  # a second permission the route needs (not being the call back's owner)
    url: tuple = ()  # fixed URL arguments
    owner_may: bool = False  # the call back's owner needs no `also`


CONSOLE = {
    "console:home": {"GET": Gate(LOGGED_IN)},
    "console:agent_home": {"GET": Gate("tickets.add_recontact")},
    "console:ticket_new": {"GET": Gate("tickets.add_ticket"), "POST": Gate("tickets.add_ticket")},
    "console:ticket_matching": {"POST": Gate("tickets.add_recontact")},
    "console:ticket_detail": {"GET": Gate("tickets.view_ticket", TICKET)},
    "console:ticket_reveal": {"POST": Gate("tickets.reveal_contact", TICKET)},
    "console:delegation_reveal": {"POST": Gate("tickets.reveal_contact", DELEGATION)},
    "console:attachment_download": {"GET": Gate("tickets.download_attachment", ATTACHMENT)},
    "console:ops_queue": {"GET": Gate("tickets.record_outcome")},
    "console:supervisor": {"GET": Gate("tickets.manage_followups")},
    "console:supervisor_export": {"GET": Gate("tickets.manage_followups")},
    "console:supervisor_chart": {"GET": Gate("tickets.manage_followups")},
    "console:dead_messages": {"GET": Gate("notifications.change_message")},
    "console:dead_message_retry": {"POST": Gate("notifications.change_message", MESSAGE)},
    "console:promise_report": {"GET": Gate("tickets.manage_followups")},
    "console:promise_report_export": {"GET": Gate("tickets.manage_followups")},
    "console:profile": {"GET": Gate(LOGGED_IN), "POST": Gate(LOGGED_IN)},
    "console:search": {"GET": Gate("tickets.view_ticket")},
    "console:nav_counts": {"GET": Gate("tickets.view_ticket")},
    "console:bulk_tickets": {"POST": Gate("tickets.change_ticket")},
    "console:bulk_retry_messages": {"POST": Gate("notifications.change_message")},
    "console:macro_apply": {"POST": Gate(LOGGED_IN, TICKET)},
    "console:person": {"GET": Gate("tickets.view_ticket", url=(("key", "member_id"), ("value", "M-1")))},
    "console:callback_reveal": {
        "POST": Gate("tickets.add_recontact", FOLLOWUP, also="tickets.reveal_contact", owner_may=True)
    },
    "console:callback_complete": {"POST": Gate("tickets.add_recontact", FOLLOWUP, also="tickets.change_ticket")},
    "console:digest_cancel": {"POST": Gate(LOGGED_IN, DIGEST)},
}
# /tickets/<reference>/<action>/ and /followups/<pk>/<action>/: one row per form they accept.
CONSOLE_TICKET_ACTIONS = {
    "recontact": Gate("tickets.add_recontact", TICKET),
    "outcome": Gate("tickets.record_outcome", TICKET),
    "confirm": Gate("tickets.record_outcome", TICKET),
    "coupon": Gate("tickets.record_outcome", TICKET),
    "attach": Gate("tickets.change_ticket", TICKET),
    "delegate": Gate("tickets.change_ticket", TICKET),
    "revoke-delegation": Gate("tickets.change_ticket", TICKET, body=(("delegation", DELEGATION),)),
    "consent": Gate("tickets.change_ticket", TICKET),
    "transition": Gate("tickets.change_ticket", TICKET),
}
CONSOLE_FOLLOWUP_ACTIONS = {
    "reschedule": Gate("tickets.manage_followups", FOLLOWUP),
    "cancel": Gate("tickets.manage_followups", FOLLOWUP),
    "complete": Gate("tickets.change_ticket", FOLLOWUP),
}
API = {
    "api-ticket-list": {"GET": Gate("tickets.view_ticket"), "POST": Gate("tickets.add_ticket")},
    "api-ticket-detail": {"GET": Gate("tickets.view_ticket", TICKET), "PATCH": Gate("tickets.change_ticket", TICKET)},
    "api-ticket-transitions": {"POST": Gate("tickets.change_ticket", TICKET)},
    "api-ticket-outcome": {"POST": Gate("tickets.record_outcome", TICKET)},
    "api-ticket-manager-confirmation": {"POST": Gate("tickets.record_outcome", TICKET)},
    "api-ticket-coupon": {"POST": Gate("tickets.record_outcome", TICKET)},
    "api-ticket-recontacts": {"POST": Gate("tickets.add_recontact", TICKET)},
    "api-ticket-assignment": {"POST": Gate("tickets.change_ticket", TICKET)},
    "api-ticket-consent": {"POST": Gate("tickets.change_ticket", TICKET)},
    "api-ticket-consent-withdrawal": {"POST": Gate("tickets.change_ticket", TICKET)},
    "api-ticket-contact-reveal": {"POST": Gate("tickets.reveal_contact", TICKET)},
    "api-ticket-attachments": {
        "GET": Gate("tickets.view_ticket", TICKET),
        "POST": Gate("tickets.change_ticket", TICKET),
    },
    "api-ticket-delegations": {
        "GET": Gate("tickets.view_ticket", TICKET),
        "POST": Gate("tickets.change_ticket", TICKET),
    },
    "api-ticket-delegation-contact-number": {"POST": Gate("tickets.reveal_contact", DELEGATION)},
    "api-attachment-detail": {"GET": Gate("tickets.view_ticket", ATTACHMENT)},
    "api-attachment-content": {"GET": Gate("tickets.download_attachment", ATTACHMENT)},
    "api-kind-list": {"GET": Gate("tickets.view_ticketkind")},
    "api-kind-detail": {"GET": Gate("tickets.view_ticketkind", KIND)},
    "api-followup-list": {"GET": Gate("tickets.view_followup")},
    "api-followup-detail": {"GET": Gate("tickets.view_followup", FOLLOWUP)},
    "api-followup-reschedule": {"POST": Gate("tickets.manage_followups", FOLLOWUP)},
    "api-followup-cancel": {"POST": Gate("tickets.manage_followups", FOLLOWUP)},
    "api-followup-completion": {"POST": Gate("tickets.change_ticket", FOLLOWUP)},
    "api-message-list": {"GET": Gate("notifications.view_message")},
    "api-message-detail": {"GET": Gate("notifications.view_message", MESSAGE)},
    "api-queue-overdue-list": {"GET": Gate("tickets.view_ticket")},
    "api-webhook-list": {
        "GET": Gate("tickets.view_ticket"),
        "POST": Gate("tickets.change_ticket", integration_or_superuser=True),
    },
    "api-webhook-detail": {
        "GET": Gate("tickets.view_ticket", WEBHOOK),
        "DELETE": Gate("tickets.change_ticket", WEBHOOK, integration_or_superuser=True),
    },
    "api-webhook-rotate-secret": {"POST": Gate("tickets.change_ticket", WEBHOOK, integration_or_superuser=True)},
    "api-report-promises": {"GET": Gate("tickets.view_followup")},
    "api-report-promises-tickets": {"GET": Gate("tickets.view_followup", params=(("figure", "made"),))},
}
# Routes outside the policy, each with the reason.
EXEMPT = {
    "console:login": "the login form itself",
    "console:logout": "ends the caller's own session",
    "metrics": "guarded by METRICS_TOKEN, not by a user (tests/ops)",
    "notifications:solapi_reports": "the SMS provider's delivery reports, authenticated by its signature",
    "api-schema": "the published API description",
    "api-docs": "the published API description",
    None: "the /api/... catch-all answers 404 in problem+json",
}


# --- The URL configuration -----------------------------------------------------------------------


def _walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern).startswith("admin/"):
                continue  # Django's admin: staff and model permissions of its own
            yield from _walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield prefix + str(p.pattern), name, p.callback


def routes():
    """(kind, name, method, form) for every route; API methods from the viewsets' own maps."""
    found = set()
    for route, name, callback in _walk(get_resolver().url_patterns):
        if "(?P<format>" in route:
            continue  # the same view with a format suffix
        actions = getattr(callback, "actions", None)
        view_class = getattr(callback, "view_class", None)
        if route.startswith("api/v1/") and not actions and view_class is not None:
            for method in ("get", "post", "put", "patch", "delete"):
                if hasattr(view_class, method):
                    found.add(("api", name, method.upper(), None))
        elif actions:
            for method in actions:
                if method not in ("head", "options"):
                    found.add(("api", name, method.upper(), None))
        elif name == "console:ticket_action":
            found |= {("console", name, "POST", form) for form in console_views.TICKET_ACTIONS}
        elif name == "console:followup_action":
            found |= {("console", name, "POST", form) for form in console_views.FOLLOWUP_ACTIONS}
        else:
            found.add(("other", name, None, None))
    return found


def expectations():
    rows = {("api", n, m, None): g for n, methods in API.items() for m, g in methods.items()}
    rows |= {("console", n, m, None): g for n, methods in CONSOLE.items() for m, g in methods.items()}
    rows |= {("console", "console:ticket_action", "POST", f): g for f, g in CONSOLE_TICKET_ACTIONS.items()}
    rows |= {("console", "console:followup_action", "POST", f): g for f, g in CONSOLE_FOLLOWUP_ACTIONS.items()}
    return rows


def test_every_route_has_a_decision():
    table = expectations()
    api_and_forms = {r for r in routes() if r[0] != "other"}
    others = {r[1] for r in routes() if r[0] == "other"}
    console_names = {name for (_k, name, _m, _f) in table if name.startswith("console:")}
    missing = sorted(str(r) for r in api_and_forms if r not in table)
    missing += sorted(str(n) for n in others if n not in EXEMPT and n not in console_names)
    assert not missing, "routes without an access decision in tests/access/test_route_matrix.py: " + ", ".join(missing)
    stale = [r for r in table if r[0] == "api" and r not in api_and_forms]
    stale += [
        r for r in table if r[1] in ("console:ticket_action", "console:followup_action") and r not in api_and_forms
    ]
    assert not stale, f"expectations for routes that no longer exist: {stale}"


# --- The world each row runs in ------------------------------------------------------------------


@pytest.fixture
def world(make_ticket, agent):
    koc = Board.objects.get(code="penalty-koc")
    users = {
        "agent": agent,
        "operations": make_user("m-ops", roles.OPERATIONS),
        "supervisor": make_user("m-super", roles.SUPERVISOR),
        "administrator": make_user("m-admin", roles.ADMINISTRATOR, is_staff=True, is_superuser=True),
    }
    users["operations"].boards.add(koc)
    keys = {name: apikey_create(name=name, rate_per_minute=100_000, **spec) for name, spec in KEYS.items()}
    other_key, _plain = apikey_create(name="another-integration", scopes=("read", "write"))
    pet = {"issue_type": "payment", "description": "결제 문의"}
    tickets = {
        OWN: make_ticket(member_id="M-1", consent_basis="existing_member"),
        OTHER: make_ticket(kind="pet-cs-inquiry", details=pet, member_id="M-2", consent_basis="existing_member"),
        ASSIGNED: make_ticket(
            kind="pet-cs-inquiry",
            details=pet,
            member_id="M-3",
            consent_basis="existing_member",
            assignee=users["operations"],
        ),
    }
    digest = FollowUp.objects.create(
        action=Action.MORNING_DIGEST,
        recipient=users["supervisor"],
        due_at=calendar.now(),
        dedupe_key=f"matrix:digest:{users['supervisor'].pk}",
    )
    objects = {}
    for placement, ticket in tickets.items():
        services.ticket_log_recontact(ticket, actor=SYSTEM, note="재문의")
        fu = FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK)
        message = Message.objects.create(
            idempotency_key=f"matrix:{ticket.pk}",
            channel="sms",
            body="본문",
            message_type="SMS",
            recipient="+821012345678",
            recipient_masked="010-****-5678",
            state=Message.State.DEAD,
        )
        FollowUp.objects.filter(pk=fu.pk).update(message=message)
        owner = keys["key_write"][0] if placement == OWN else other_key
        objects[placement] = {
            TICKET: ticket,
            FOLLOWUP: fu,
            ATTACHMENT: attachments.attachment_add(ticket, actor=SYSTEM, name="a.pdf", content=PDF),
            DELEGATION: delegation.delegation_record(
                ticket,
                actor=SYSTEM,
                relation=DelegationRelation.SPOUSE,
                case=DelegationCase.SPOUSE_ACCIDENT_OR_RM,
                caller="호출자 본인",
                third_party_phone="010-3141-5926",
                third_party_is_member=True,
            ),
            MESSAGE: message,
            KIND: ticket.kind,
            WEBHOOK: WebhookSubscription.objects.create(
                name="hook", target_url="https://hooks.example/h", secret="s" * 32, api_key=owner
            ),
            DIGEST: digest,
        }
    assert Group.objects.filter(name=roles.OPERATIONS).exists()
    return {"users": users, "keys": keys, "objects": objects}


def _client(world, principal, api):
    if principal == "anonymous":
        return APIClient() if api else Client()
    if principal in KEYS:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['keys'][principal][1]}")
        return client
    client = APIClient() if api else Client()
    client.force_login(world["users"][principal])
    return client


def _sees(principal, obj, placement) -> bool:
    if obj is None:
        return True
    if obj == DIGEST:
        return principal == "supervisor"  # only its recipient, on their own profile page
    if obj == WEBHOOK:
        return principal == "administrator" or (principal == "key_write" and placement == OWN)
    if principal == "operations":
        return obj == KIND or placement in (OWN, ASSIGNED)
    if principal == "key_kinds":
        return placement == OWN
    return True


def _owns(principal, placement) -> bool:
    """A call back is its ticket's assignee's, else the agent's who logged the ticket."""
    return (principal == "agent" and placement in (OWN, OTHER)) or (principal == "operations" and placement == ASSIGNED)


def expected(principal, gate: Gate, placement, api: bool):
    if principal == "anonymous":
        return 401 if api else "login"
    held = SEEDED[principal]
    if gate.perm != LOGGED_IN and held != ALL and gate.perm not in held:
        return 403
    if gate.also and held != ALL and gate.also not in held and not (gate.owner_may and _owns(principal, placement)):
        return 403
    if gate.integration_or_superuser and principal not in KEYS and principal != "administrator":
        return 403
    if not _sees(principal, gate.obj, placement):
        return 404
    return "allowed"


def _url(name, form, gate, objs):
    kwargs = {}
    if name in ("console:ticket_action", "console:followup_action"):
        kwargs["action"] = form
    target = objs.get(gate.obj)
    pattern_kwargs = {
        "reference": objs[TICKET].reference,
        "code": objs[KIND].code,
        "delegation_id": objs[DELEGATION].pk,
        "pk": target.pk if target is not None else None,
        **dict(gate.url),
    }
    return _reverse(name, kwargs, pattern_kwargs)


def _reverse(name, fixed, candidates):
    """The route's URL: the smallest set of the candidate arguments it takes."""
    names = [k for k, v in candidates.items() if v is not None]
    for size in range(len(names) + 1):
        for chosen in combinations(names, size):
            try:
                return reverse(name, kwargs={**fixed, **{k: candidates[k] for k in chosen}})
            except NoReverseMatch:
                continue
    raise AssertionError(f"cannot build a URL for {name}")


def _outcome(response):
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return "login"
    return response.status_code


ROWS = sorted(expectations().items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or ""))


@pytest.mark.parametrize(("row", "gate"), ROWS, ids=[f"{k[2]} {k[1]}{' ' + k[3] if k[3] else ''}" for k, _ in ROWS])
def test_route_matrix(world, row, gate):
    kind, name, method, form = row
    api = kind == "api"
    principals = API_PRINCIPALS if api else PEOPLE
    placements = PLACEMENTS if gate.obj else (None,)
    wrong = []
    for principal in principals:
        client = _client(world, principal, api)
        for placement in placements:
            objs = world["objects"][placement or OWN]
            url = _url(name, form, gate, objs)
            body = {**{field: objs[obj].pk for field, obj in gate.body}, **dict(gate.params)}
            call = getattr(client, method.lower())
            with transaction.atomic():  # each caller meets the same state: what one changed is undone
                response = call(url, body, format="json") if api else call(url, body)
                transaction.set_rollback(True)
            got, want = _outcome(response), expected(principal, gate, placement, api)
            if want == "allowed":
                ok = got not in (401, 403, 404, 405, "login") and got < 500
                if ok and method == "GET":
                    ok = got in (200, 302)
            else:
                ok = got == want
            if not ok:
                wrong.append(f"{principal} / {placement or '-'}: got {got}, expected {want}")
    assert not wrong, f"{method} {name} {form or ''}:\n  " + "\n  ".join(wrong)
