"""Browser tests: Playwright for Python driving a Chromium against pytest-django's live server.
The browser is the one `scripts/install-browser.sh` finds or installs (scripts/test passes it as
CHROMIUM); run alone, pytest takes CHROMIUM or a chromium on PATH.

Playwright's sync API runs an event loop in the test thread, which trips Django's async-unsafe
guard for the ORM calls the tests make to set up data; the tests run one at a time, so the
guard is switched off here."""

import os
import shutil
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}


def _missing_browser(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run; see scripts/install-browser.sh)", pytrace=False)
    pytest.skip(f"{reason}; install chromium or Chrome, or set CHROMIUM=/path/to/it (scripts/install-browser.sh)")


@pytest.fixture(scope="session")
def browser(django_db_setup):
    if not os.access(CHROMIUM, os.X_OK):
        _missing_browser(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("Playwright for Python is not installed")
    from django.db import connections

    # Starting Playwright switches the test thread to another context, where Django hands out
    # new connection objects without the test database's serialized contents; carry them over
    # so serialized_rollback restores the seed data (kinds, boards, role groups) between tests.
    serialized = {alias: getattr(connections[alias], "_test_serialized_contents", None) for alias in connections}
    with sync_playwright() as pw:
        for alias, contents in serialized.items():
            if contents is not None:
                connections[alias]._test_serialized_contents = contents
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def seed_data(transactional_db):
    """The seed rows the migrations install (content types, permissions, kinds, boards, role
    groups). A transactional test before this one may have flushed them, so install them again
    (idempotent) instead of relying on the order the suite runs in."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    from cstrack.roles import ensure_roles
    from tickets.kinds.defaults import install

    for app_config in apps.get_app_configs():
        create_contenttypes(app_config, verbosity=0)
        create_permissions(app_config, verbosity=0)
    install(apps)
    ensure_roles()


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(viewport=VIEWPORT, locale="ko-KR", timezone_id="Asia/Seoul", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    # Every test leaves a screenshot of where it ended (passed or failed) for CI to keep.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def snap(page, request):
    """Save an extra screenshot in the middle of a test (the fixture saves the final one)."""

    def _snap(step: str):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}--{step}.png"), full_page=True)

    return _snap


@pytest.fixture
def login(page):
    def _login(user):
        page.goto("/login/")
        page.get_by_label("아이디").fill(user.username)
        page.get_by_label("비밀번호").fill(f"pw-{user.username}")
        page.get_by_role("button", name="로그인").click()
        page.wait_for_load_state()
        return page

    return _login


@pytest.fixture
def operator(operator):
    """Operations staff work their boards' queues: this one is on every board."""
    from tickets.models import Board

    operator.boards.add(*Board.objects.all())
    return operator
