"""Findings 4 and 5: bad input answered 500 (a format suffix on a detail route, JSON nested
100k levels, 1e400 in an integer field) or with something other than problem+json (a body over
the upload limit: Django's HTML 400; POST/PATCH/DELETE to an unknown /api/ path: the HTML CSRF
403). Over-long URLs (gunicorn's 414 page) are in test_log_scrubbing.py, under gunicorn."""

import pytest
from django.test import Client

from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw(api):
    """A client that turns an uncaught error into the 500 a caller would see."""
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {api.plain}")
    return client


@pytest.fixture
def browser(agent):
    """A logged-in console user (session cookie) whose requests are CSRF-checked."""
    client = Client(raise_request_exception=False, enforce_csrf_checks=True)
    client.force_login(agent)
    return client


@pytest.mark.parametrize("path", ["/api/v1/attachments/1.json/", "/api/v1/tickets.json", "/api/v1/kinds/1.api/"])
def test_format_suffixes_are_a_404_problem(raw, path, problem_json):
    problem_json(raw.get(path), 404)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "[" * 40 + "]" * 40,  # deeper than the limit, far from the recursion limit
    ],
)
def test_deeply_nested_json_is_a_400_problem(raw, body, problem_json):
    problem_json(raw.post("/api/v1/tickets/", body, content_type="application/json"), 400)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_non_finite_numbers_are_a_400_problem(raw, number, problem_json):
    body = (
        '{"kind": "parking-season-pass-registration", "consent_basis": "existing_member",'
        f' "details": {{"pass_paid_amount": {number}}}}}'
    )
    problem_json(raw.post("/api/v1/tickets/", body, content_type="application/json"), 400)
    assert not Ticket.objects.exists()


def test_huge_integer_in_a_kind_field_is_a_field_error(make_ticket):
    from cstrack.errors import DomainValidationError
    from tickets.kinds.schema import validate_details
    from tickets.models import TicketKind

    schema = TicketKind.objects.get(code="parking-season-pass-registration").current_schema.schema
    with pytest.raises(DomainValidationError) as caught:
        validate_details(schema, {"pass_paid_amount": float("inf")})
    assert "details.pass_paid_amount" in caught.value.field_errors


def test_body_over_the_limit_is_a_413_problem(raw, settings, problem_json):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"title": "' + "x" * 20_000 + '"}'
    problem_json(raw.post("/api/v1/tickets/", body, content_type="application/json"), 413)
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    form = "&".join(f"f{i}=1" for i in range(50))
    response = raw.post("/api/v1/tickets/", form, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (413, 415) and response["Content-Type"].startswith("application/problem+json")


# A newline in a path segment (%0A, e.g. a generated ticket reference) matched no route and, since
# `.` stops at a newline, not the catch-all either: Django's HTML 404 (a Schemathesis stateful flake).
UNKNOWN_API_PATHS = ["/api/v1/nowhere/", "/api/nowhere", "/api/v2/tickets/", "/api/v1/tickets/x/y/z/"]
UNKNOWN_API_PATHS += ["/api/v1/tickets/a%0A/consent/", "/api/v1/tickets/%0A/", "/api/v1/%0Ax", "/api/%0A"]


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options", "head"])
@pytest.mark.parametrize("path", UNKNOWN_API_PATHS)
def test_unknown_api_paths_are_a_404_problem_for_any_method(browser, method, path):
    if method in ("get", "head", "options"):
        response = getattr(browser, method)(path)
    else:
        response = getattr(browser, method)(path, "{}", content_type="application/json")
    assert response.status_code == 404, (method, path, response.status_code)
    if method != "head":
        assert response["Content-Type"].startswith("application/problem+json")


def test_csrf_failure_on_the_api_is_a_problem_and_the_console_keeps_its_page(agent):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)
    response = browser.post("/api/v1/tickets/", "{}", content_type="application/json")
    assert response.status_code == 403 and response["Content-Type"].startswith("application/problem+json")
    page = browser.post("/tickets/new/", {"kind": "driver-penalty-request"})
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_an_uncaught_error_on_an_api_path_is_a_problem(settings, raw):
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    response = raw.get("/api/boom/?phone=010-2468-1357")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/problem+json")
    assert "2468" not in response.content.decode()
