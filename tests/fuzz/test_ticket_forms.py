"""Bad input never breaks the ticket form path: hypothesis feeds arbitrary details and fields to
tickets.services.ticket_create for every kind (only DomainError may come out), and posts
arbitrary form data to the console's /tickets/new/ as a logged-in agent (never a 500).
Bounded: ~50 service examples and ~15 form posts per kind."""

from datetime import datetime

import pytest
import time_machine
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cstrack.actors import Actor
from cstrack.calendar import KST
from cstrack.errors import DomainError
from tickets.console.forms import COMMON_TEXT_FIELDS
from tickets.kinds.defaults import KINDS
from tickets.lifecycle import services
from tickets.models import ConsentBasis, Ticket

pytestmark = pytest.mark.django_db

KIND_CODES = [spec["code"] for spec in KINDS]
FIELD_NAMES = {spec["code"]: [f["name"] for f in spec["schema"]["fields"]] for spec in KINDS}
FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

texts = st.text(max_size=80)
plausible = st.sampled_from(
    [
        "",
        "010-1234-5678",
        "01012345678",
        "a@b.co",
        "2026-11-20",
        "2026-02-30",
        "true",
        "0",
        "-1",
        "9" * 40,
        "koc",
        "other",
        "registered",
        "signup",
        "2026-11-20T10:00:00+09:00",
        "<script>",
        "' OR 1=1 --",
    ]
)
nul_text = st.builds(lambda a, b: f"{a}\x00{b}", texts, texts)
KWARG_NAMES = list(COMMON_TEXT_FIELDS)  # every text input the console passes to the services
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), texts, plausible)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)


def details_for(code):
    names = FIELD_NAMES[code]
    return st.dictionaries(st.one_of(st.sampled_from(names), texts), values, max_size=len(names) + 2)


def kwargs_strategy():
    choice_or_text = lambda choices: st.one_of(st.sampled_from(choices), texts)  # noqa: E731
    return st.fixed_dictionaries(
        {},
        optional={
            "channel": choice_or_text(["phone", "chat", "email", "app", "api"]),
            "priority": choice_or_text(["normal", "urgent"]),
            "requester_type": st.one_of(st.none(), choice_or_text(["customer", "driver", "mate", "third_party"])),
            "title": texts,
            "member_id": st.one_of(texts, plausible),
            "driver_id": st.one_of(texts, plausible),
            "call_id": texts,
            "vehicle_plate": texts,
            "parking_lot": texts,
            "customer_phone": st.one_of(texts, plausible),
            "customer_email": st.one_of(texts, plausible),
            "identity_verified": st.booleans(),
            "consent_basis": choice_or_text(["", *ConsentBasis.values]),
            "delegation_caller": texts,
            "delegation_relation": texts,
        },
    )


def valid_base(code):
    """The kind's documented example (a request that is accepted as it is)."""
    from tickets.api.examples import example_request

    spec = next(k for k in KINDS if k["code"] == code)
    body = example_request(code, spec["schema"])
    body.pop("kind")
    return body.pop("details"), body


@pytest.mark.parametrize("code", KIND_CODES)
def test_mutated_valid_tickets_raise_only_domain_errors(code, agent):
    """One or two fields of a valid request replaced by anything: past validation too."""
    actor = Actor.for_user(agent)
    base_details, base_kwargs = valid_base(code)
    field_names = sorted(set(FIELD_NAMES[code]))
    kwarg_names = sorted(KWARG_NAMES)
    outcomes = {"created": 0, "refused": 0}

    @FUZZ
    @given(
        detail_changes=st.dictionaries(st.sampled_from(field_names), st.one_of(values, nul_text), max_size=2),
        kwarg_changes=st.dictionaries(st.sampled_from(kwarg_names), st.one_of(texts, plausible, nul_text), max_size=2),
    )
    def run(detail_changes, kwarg_changes):
        details = {**base_details, **detail_changes}
        kwargs = {**base_kwargs, **kwarg_changes}
        try:
            services.ticket_create(kind=code, details=details, actor=actor, **kwargs)
        except DomainError as exc:
            assert exc.status < 500
            outcomes["refused"] += 1
        else:
            outcomes["created"] += 1

    # Inside business hours, so a business transfer needs no named assignee.
    with time_machine.travel(datetime(2026, 11, 23, 10, 0, tzinfo=KST), tick=False):
        run()
    assert outcomes["created"] > 0 and outcomes["refused"] > 0, outcomes


@pytest.mark.parametrize("code", KIND_CODES)
def test_ticket_create_raises_only_domain_errors(code, agent):
    actor = Actor.for_user(agent)
    outcomes = {"created": 0, "refused": 0}

    @FUZZ
    @given(details=details_for(code), kwargs=kwargs_strategy())
    def run(details, kwargs):
        try:
            ticket = services.ticket_create(kind=code, details=details, actor=actor, **kwargs)
        except DomainError as exc:
            assert exc.status < 500
            outcomes["refused"] += 1
        else:
            assert Ticket.objects.filter(pk=ticket.pk).exists()
            outcomes["created"] += 1

    run()
    assert outcomes["refused"] > 0


def form_data(code):
    names = FIELD_NAMES[code]
    detail_fields = st.fixed_dictionaries({}, optional={f"details.{n}": st.one_of(texts, plausible) for n in names})
    common = st.fixed_dictionaries(
        {"kind": st.one_of(st.just(code), texts)},
        optional={
            name: st.one_of(texts, plausible)
            for name in (
                "title",
                "channel",
                "requester_type",
                "priority",
                "member_id",
                "driver_id",
                "call_id",
                "vehicle_plate",
                "parking_lot",
                "customer_phone",
                "customer_email",
                "consent_basis",
                "delegation_caller",
                "delegation_relation",
                "identity_verified",
                "assignee",
            )
        },
    )
    return st.tuples(common, detail_fields).map(lambda pair: {**pair[0], **pair[1]})


@pytest.mark.parametrize("code", KIND_CODES)
def test_console_ticket_form_never_answers_500(code, agent):
    client = Client()
    client.force_login(agent)
    statuses = []

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=form_data(code))
    def run(data):
        response = client.post("/tickets/new/", data)
        assert response.status_code < 500, (data, response.status_code)
        statuses.append(response.status_code)

    run()
    assert set(statuses) <= {200, 302, 400}
