"""Property-based checks against the served OpenAPI schema, in-process through the WSGI app,
with every built-in Schemathesis check: no server errors; responses (status, content type,
headers, body) match the schema; schema-invalid requests are refused; schema-valid ones are
accepted; every operation refuses missing or wrong credentials. Then a stateful run that follows
the schema's OpenAPI links (create a ticket or a subscription, then use what came back).

Bounded in the suite (SCHEMATHESIS_EXAMPLES, default 12 per operation, derandomized;
SCHEMATHESIS_STATEFUL_RUNS for the stateful run): under a minute. The full run is `SCHEMATHESIS_EXAMPLES=100 pytest
tests/api/test_schemathesis.py` (docs/api.md has its figures)."""

import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from config.wsgi import application

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "12"))
STATEFUL_RUNS = int(os.environ.get("SCHEMATHESIS_STATEFUL_RUNS", str(max(MAX_EXAMPLES, 100))))
# The suite's bounded run draws the same examples every time (derandomized: CI cannot fail on a
# case nobody can replay); a run with SCHEMATHESIS_EXAMPLES set draws new ones (and honours
# --hypothesis-seed), so the full run keeps exploring.
DERANDOMIZE = "SCHEMATHESIS_EXAMPLES" not in os.environ

# "Schema-valid data must be accepted" runs on every operation. The server has rules OpenAPI 3.0
# cannot state; a schema-valid request may be refused for exactly those, and only with a 400 whose
# problem names a field listed here for that operation (anything else refused is a failure).
# 409 (a state precondition: closed ticket, coupon not eligible, follow-up already done) is in
# the check's default expected statuses and documented on every write.
CURSOR = "opaque: only the next/previous links' values decode"
PHONE = "a valid Korean number per libphonenumber's ranges (mobile where an SMS goes): no exact regex"
LISTS = {"cursor": CURSOR}
PERIOD = "from <= to and a span of at most 731 days: a rule across two parameters"
EMAIL = "Django's EmailValidator (IDNA domains, address literals): no exact regex"
FREE_TEXT = "no phone number or e-mail address in free text (pii.contact_in_text, any spelling): no exact regex"
EXISTS = "names an active user / an existing board: data, not a shape (people are not listed in the schema)"
TICKETS_KIND = "depends on the ticket's own kind (data behind the path): GET /api/v1/kinds/{code}/ states it"
UNSTATABLE = {
    # details per kind add their own (_kind_field_rules)
    "POST /api/v1/tickets/": {"customer_phone": PHONE, "customer_email": EMAIL, "assignee": EXISTS, "title": FREE_TEXT},
    "PATCH /api/v1/tickets/{reference}/": {
        "title": FREE_TEXT,
        "details": TICKETS_KIND,  # merged into the ticket's details, validated against its kind's schema version
        **dict.fromkeys(("member_id", "driver_id", "call_id", "vehicle_plate", "parking_lot"), TICKETS_KIND),
        "consent_basis": "a personal detail needs the consent the ticket holds (data)",
    },
    "POST /api/v1/tickets/{reference}/outcome/": {"outcome": TICKETS_KIND, "reason": f"{TICKETS_KIND}; {FREE_TEXT}"},
    "POST /api/v1/tickets/{reference}/manager-confirmation/": {"manager_name": FREE_TEXT},
    "GET /api/v1/tickets/": {**LISTS, "phone": PHONE},
    "GET /api/v1/followups/": LISTS,
    "GET /api/v1/messages/": LISTS,
    "GET /api/v1/queues/overdue/": {**LISTS, "phone": PHONE},
    "GET /api/v1/webhooks/": LISTS,
    "GET /api/v1/reports/promises/": {"from": PERIOD, "to": PERIOD},
    "GET /api/v1/reports/promises/tickets/": {**LISTS, "from": PERIOD, "to": PERIOD},
    "POST /api/v1/webhooks/": {"target_url": "the host is resolved and each address checked (cstrack/outbound.py)"},
    "POST /api/v1/tickets/{reference}/attachments/": {"file": "the type is read from the content (PDF/PNG/JPEG/ZIP)"},
    "POST /api/v1/tickets/{reference}/assignment/": {"assignee": EXISTS, "board": EXISTS},
    "POST /api/v1/tickets/{reference}/consent/": {"customer_phone": PHONE, "customer_email": EMAIL},
    "POST /api/v1/tickets/{reference}/delegations/": {"caller": FREE_TEXT, "third_party_phone": PHONE},
    "POST /api/v1/tickets/{reference}/recontacts/": {"note": FREE_TEXT},
    "POST /api/v1/tickets/{reference}/contact-reveal/": {"reason": FREE_TEXT},
    "POST /api/v1/tickets/{reference}/transitions/": {"note": FREE_TEXT},
    "POST /api/v1/followups/{id}/reschedule/": {"reason": FREE_TEXT},
    "POST /api/v1/followups/{id}/cancel/": {"reason": FREE_TEXT},
    "POST /api/v1/followups/{id}/completion/": {"note": FREE_TEXT},
}
# A NUL in a key of a free-form object (OpenAPI 3.0 has no propertyNames; NUL in values is a
# pattern in the schema): refused by tickets/api/base.py on every operation.
NUL_REFUSAL = {"non_field_errors": ["NUL 문자(\\u0000)는 보낼 수 없습니다."]}


def _kind_field_rules():
    """Per kind rules OpenAPI 3.0 cannot state, by `details.<field>`: phone and e-mail fields and
    free text (as above), and date_order (one date no earlier than another: across two values)."""
    from tickets.kinds.services import active_kinds_with_schema

    rules = {}
    for kind in active_kinds_with_schema():
        for field in kind.schema.get("fields", []):
            rule = {"phone": PHONE, "email": EMAIL, "text": FREE_TEXT, "textarea": FREE_TEXT}.get(field["type"])
            if rule:
                rules[f"details.{field['name']}"] = rule
        for rule in kind.schema.get("rules", []):
            if rule.get("rule") == "date_order":
                rules[f"details.{rule['end']}"] = "no earlier than another field's date: a rule across two values"
    return rules


# NOT YET EXACT (issue 11 stays open while any is listed): rules the schema does not state yet.
# A 400 naming these fields is tolerated so the check runs everywhere else; each entry is a gap,
# not a design decision.
ANY_FIELD = "*"
KNOWN_GAPS: dict = {}

# Statuses that depend on what happened before, not on the request: a stale If-Match (412)
# and an Idempotency-Key already used with another body (422).
STATEFUL_STATUSES = {"PATCH": {412}, "POST": {422}}


def _problem_errors(response) -> dict:
    try:
        return response.json().get("errors") or {}
    except (ValueError, AttributeError):
        return {}


def positive_data_acceptance_with_unstatable_rules(ctx, response, case):
    """The built-in check, except a 400 that names only fields whose rule is unstatable here."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        method = case.operation.method.upper()
        if response.status_code in STATEFUL_STATUSES.get(method, ()):
            return None
        label = f"{method} {case.operation.path}"
        errors = _problem_errors(response)
        allowed = {*UNSTATABLE.get(label, {}), *(_kind_field_rules() if label == "POST /api/v1/tickets/" else ())}
        gaps = KNOWN_GAPS.get(label, set())
        if response.status_code == 400 and errors == NUL_REFUSAL:
            return None
        named = allowed | (set() if gaps == ANY_FIELD else gaps)
        if (
            response.status_code == 400
            and errors
            and (gaps == ANY_FIELD or all(name in named or name.split(".")[0] in named for name in errors))
        ):
            return None
        raise


CHECKS = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_acceptance_with_unstatable_rules],
}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Requests go straight to the WSGI handler, whose request signals would close the test's
    connection mid-transaction on PostgreSQL; Django's own test client unhooks them the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def schema():
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def world(make_key, make_ticket):
    """Real objects so that path parameters hit something besides 404."""
    key, plain = make_key(name="fuzzer", scopes=("read", "write", "followups"), rate_per_minute=100_000)
    ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    from tickets.webhooks import subscription_create

    sub = subscription_create(name="fuzz", target_url="https://hooks.example.com/x", api_key=key)
    return {
        "auth": {"Authorization": f"Bearer {plain}"},
        "path": {
            "reference": ticket.reference,
            "id": ticket.followups.first().pk,
            "code": "driver-penalty-request",
        },
        "webhook": sub.pk,
    }


def _operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def _path_params(operation, world):
    names = {p.name for p in operation.path_parameters}
    params = {n: v for n, v in world["path"].items() if n in names}
    if "/webhooks/" in operation.path and "id" in names:
        params["id"] = world["webhook"]
    return params


def _describe(exc) -> str:
    text = str(exc)
    for sub in getattr(exc, "exceptions", ()):
        text += f"\n  {type(sub).__name__}: {sub}"
    return text


def test_schema_conformance_and_no_server_errors(schema, world):
    failures, calls = [], []
    for operation in _operations(schema):
        strategy = operation.as_strategy(path_parameters=_path_params(operation, world))

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case):
            calls.append(case.call_and_validate(headers=world["auth"], **CHECKS).status_code)

        try:
            run()
        except BaseException as exc:  # collect all operations' failures, then report
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {_describe(exc)}")
    operations = len(list(_operations(schema)))
    print(f"conformance: {len(calls)} calls over {operations} operations, {MAX_EXAMPLES} examples each at most")
    assert not failures, "\n\n".join(failures)
    assert len(calls) > 100 and any(200 <= status < 300 for status in calls)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_every_operation_refuses_missing_and_wrong_credentials(schema, world):
    for operation in _operations(schema):
        case = operation.as_strategy(path_parameters=_path_params(operation, world)).example()
        for headers in ({}, {"Authorization": "Bearer cst_00000000_wrong"}, {"X-API-Key": "nope"}):
            response = case.call(headers=headers)
            assert response.status_code == 401, (operation.method, operation.path, headers, response.status_code)
            assert response.headers["content-type"][0].startswith("application/problem+json")


LINK_TARGETS = (
    "GET /api/v1/tickets/{reference}/",
    "PATCH /api/v1/tickets/{reference}/",
    "POST /api/v1/tickets/{reference}/",
)
LINK_TARGETS += ("GET /api/v1/webhooks/{id}/", "DELETE /api/v1/webhooks/{id}/", "POST /api/v1/webhooks/{id}/")


def test_stateful_links(schema, world, monkeypatch):
    """Follow the schema's links: POST a subscription, then read, rotate and delete it; POST a
    ticket, then read, PATCH (If-Match from the ETag), move and annotate it. The machine has no
    DNS: here every generated webhook host resolves to a public address, so subscriptions get made."""
    from cstrack import outbound
    from tests.conftest import FAKE_PUBLIC_ADDRESS

    monkeypatch.setattr(outbound, "resolve_host", lambda host, port: [FAKE_PUBLIC_ADDRESS])
    assert {"GetTicket", "UpdateTicket", "GetSubscription"} <= {
        name
        for item in schema.raw_schema["paths"].values()
        for operation in item.values()
        for response in operation.get("responses", {}).values()
        for name in response.get("links", {})
    }

    calls = []

    class Workflow(schema.as_state_machine()):
        # Each run starts from the same rows (links feed earlier answers into later requests;
        # Hypothesis replays a run and expects the same draws).
        def setup(self):
            self._savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self._savepoint)

        def after_call(self, response, case):
            calls.append((case.operation.label, response.status_code))

        def get_call_kwargs(self, case):
            return {"headers": world["auth"]}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # "Auth is not ignored" is left to the per-operation run above (and the test after
            # it): here the replay without credentials still carried the key from the call kwargs.
            case.validate_response(
                response,
                transport_kwargs=kwargs,
                **{**CHECKS, "excluded_checks": [positive_data_acceptance, ignored_auth]},
            )

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_RUNS,
            stateful_step_count=10,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
    )
    created = {label for label, status in calls if status == 201}
    # A path parameter is only right when it came from a link (the generated ones match nothing).
    followed = {label for label, status in calls if label.startswith(LINK_TARGETS) and status < 300}
    print(f"stateful: {len(calls)} calls, created {sorted(created)}, followed {sorted(followed)}")
    assert created and followed, sorted(set(calls))
