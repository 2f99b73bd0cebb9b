"""Console pages send a Content-Security-Policy that lets only the project's own scripts and
styles run (django-csp), and no console template carries inline script or style."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.urls import get_resolver

from tests.conftest import make_user

pytestmark = pytest.mark.django_db

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script element without src
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),  # onclick=, onload=, ...
    re.compile(r"javascript:", re.I),
]


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def _assert_strict(response, path):
    assert "Content-Security-Policy" in response, path
    policy = _policy(response)
    assert policy["script-src"] == "script-src 'self'", path
    assert policy["style-src"] == "style-src 'self'", path
    assert policy["default-src"] == "default-src 'self'", path
    assert policy["object-src"] == "object-src 'none'" and policy["frame-ancestors"] == "frame-ancestors 'none'"
    for directive in policy.values():
        assert "unsafe-inline" not in directive and "unsafe-eval" not in directive and "*" not in directive.split()
    body = response.content.decode()
    for pattern in INLINE:
        assert not pattern.search(body), (path, pattern.pattern, pattern.search(body).group(0))


# Every console GET page, and who sees it.
PAGES = {
    "login": ("/login/", None),
    "home": ("/", "nobody"),
    "agent_home": ("/agent/", "agent"),
    "ticket_new": ("/tickets/new/", "agent"),
    "ticket_detail": ("/tickets/{ref}/", "supervisor"),
    "ops_queue": ("/ops/", "operator"),
    "supervisor": ("/supervisor/", "supervisor"),
    "supervisor_chart": ("/supervisor/breaches.svg", "supervisor"),
    "dead_messages": ("/supervisor/messages/", "supervisor"),
    "promise_report": ("/supervisor/reports/", "supervisor"),
    "profile": ("/profile/", "supervisor"),
    "search": ("/search/?q=DRV-100", "supervisor"),
    "person": ("/people/driver_id/DRV-100/", "supervisor"),
    "nav_counts": ("/counts/", "supervisor"),
}
# Routes that only take a POST, or answer a file (no page to protect).
NOT_PAGES = {
    "logout",
    "ticket_matching",
    "ticket_reveal",
    "ticket_action",
    "delegation_reveal",
    "attachment_download",
    "followup_action",
    "supervisor_export",
    "dead_message_retry",
    "promise_report_export",
    "digest_cancel",
    "callback_reveal",
    "callback_complete",
    "macro_apply",
    "bulk_tickets",
    "bulk_retry_messages",
}


def test_every_console_route_is_checked():
    names = {p.name for p in get_resolver("tickets.console.urls").url_patterns if p.name}
    assert names == set(PAGES) | NOT_PAGES, names ^ (set(PAGES) | NOT_PAGES)


def test_every_console_page_sends_the_strict_policy(client, make_ticket, agent, operator, supervisor):
    ticket = make_ticket(customer_phone="010-9999-0000", consent_basis="newly_collected")
    users = {"agent": agent, "operator": operator, "supervisor": supervisor, "nobody": make_user("nobody")}
    for name, (path, role) in PAGES.items():
        client.logout()
        if role:
            client.force_login(users[role])
        response = client.get(path.format(ref=ticket.reference))
        assert response.status_code == 200, (name, response.status_code)
        _assert_strict(response, path)
    # The error path too: a refused form is re-rendered under the same policy.
    client.force_login(agent)
    response = client.post("/tickets/new/", {"kind": "driver-penalty-request", "title": "010-2468-1357"})
    assert response.status_code == 400
    _assert_strict(response, "/tickets/new/ (error)")
    assert User.objects.exists()


def test_no_template_has_inline_script_or_style():
    root = Path(settings.BASE_DIR) / "tickets" / "templates" / "console"
    for template in root.rglob("*.*"):
        text = template.read_text()
        for pattern in INLINE:
            assert not pattern.search(text), (template.name, pattern.pattern)
