"""Finding 2: phone numbers reached the logs. A `?phone=` query ending in 4xx was written by the
JSON formatter's `request` extra; runserver's `django.server` kept Django's own handler.

Here a real HTTP server (Django's runserver handler, which logs through `django.server`) serves
the project; each phone spelling goes through query strings, paths and bodies on 2xx, 4xx and
5xx paths, with the project's LOGGING in both formats, and the captured output holds none.
gunicorn's error and access logs and Celery's loggers are checked the same way."""

import io
import json
import logging
import logging.config
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from cstrack.logging import scrub

SPELLINGS = [
    "010-2468-1357",
    "01024681357",
    "010 2468 1357",
    "010.2468.1357",
    "+82 10 2468 1357",
    "+82-10-2468-1357",
    "+821024681357",
    "(010) 2468-1357",
    "０１０-２４６８-１３５７",
    "02-2468-1357",
    "hong.gildong@example.com",
]
# What must not be in any log line: the digits of the number in any grouping, the address.
LEAK = re.compile(r"2468\D{0,3}1357|hong\.gildong|２４６８")


def _logging_config(fmt: str, stream) -> dict:
    config = json.loads(json.dumps(settings.LOGGING, default=str))
    config["formatters"] = settings.LOG_FORMATTERS
    for handler in config["handlers"].values():
        handler["formatter"] = fmt
        handler["stream"] = stream
    return config


@pytest.fixture
def captured_logs():
    """The project's LOGGING, each handler writing to a buffer; restored afterwards."""
    buffers = []

    def configure(fmt):
        buffer = io.StringIO()
        logging.config.dictConfig(_logging_config(fmt, buffer))
        buffers.append(buffer)
        return buffer

    yield configure
    logging.config.dictConfig(settings.LOGGING)


@pytest.fixture
def http_server(transactional_db, settings):
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    settings.DEBUG = False
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    from django.core.handlers.wsgi import WSGIHandler

    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _call(url, *, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_phone_or_email_in_django_logs_on_any_path(fmt, captured_logs, http_server, make_key):
    _key, plain = make_key()
    auth = {"Authorization": f"Bearer {plain}"}
    buffer = captured_logs(fmt)
    statuses = set()
    for spelling in SPELLINGS:
        q = urllib.parse.quote(spelling)
        plus = urllib.parse.quote_plus(spelling)
        body = json.dumps({"title": spelling, "customer_phone": spelling}).encode()
        json_headers = {"Content-Type": "application/json"}
        statuses.add(_call(f"{http_server}/api/v1/tickets/?phone={q}", headers=auth))  # 200 or 400
        statuses.add(_call(f"{http_server}/api/v1/tickets/?phone={plus}"))  # 401
        statuses.add(_call(f"{http_server}/api/v1/tickets/?phone={q}", headers={"Authorization": "Bearer x"}))
        statuses.add(_call(f"{http_server}/api/v1/nowhere/{q}/?phone={plus}", headers=auth))  # 404
        statuses.add(_call(f"{http_server}/login/?next=/?phone={q}"))  # 200 (console)
        statuses.add(_call(f"{http_server}/api/v1/tickets/", method="POST", body=body, headers=auth | json_headers))
        statuses.add(_call(f"{http_server}/boom/?phone={q}", method="POST", body=body, headers=json_headers))  # 500
    assert {200, 400, 401, 404, 500} <= statuses, statuses
    output = buffer.getvalue()
    assert "django.server" in output or '"logger": "django.server"' in output  # runserver's log was captured
    assert "Internal Server Error" in output  # and django.request's, with the traceback
    assert "ValueError" in output
    leaks = [line for line in output.splitlines() if LEAK.search(line)]
    assert not leaks, leaks[:5]
    if fmt == "json":
        for line in output.splitlines():
            if line.startswith("{"):
                json.loads(line)  # still valid JSON after scrubbing


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_celery_worker_and_beat_log_through_the_scrubbing_formatters(fmt, captured_logs, monkeypatch):
    from celery.signals import setup_logging
    from celery.utils.log import get_task_logger

    import config.celery

    assert any(
        getattr(receiver(), "__name__", "") == "_django_logging" for _key, receiver in setup_logging.receivers
    ), "Celery would add its own unscrubbed handlers"
    buffer = captured_logs(fmt)
    _logging_config_for_celery = _logging_config(fmt, buffer)
    monkeypatch.setattr(settings, "LOGGING", _logging_config_for_celery)
    config.celery._django_logging()
    for spelling in SPELLINGS:
        get_task_logger("tickets.tasks").warning("task for %s", spelling)
        logging.getLogger("celery.beat").info("beat %s", spelling)
        logging.getLogger("celery.redirected").warning("print(%r)", spelling)
    output = buffer.getvalue()
    assert output.count("\n") >= 3 * len(SPELLINGS)
    assert not LEAK.search(output), output[:500]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_gunicorn_error_and_access_logs_are_scrubbed_and_parse_errors_are_problem_json(fmt, tmp_path):
    root = Path(settings.BASE_DIR)
    port = _free_port()
    env = os.environ | {
        "CSTRACK_VAR_DIR": str(tmp_path),
        "LOG_FORMAT": fmt,
        "GUNICORN_WORKERS": "1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("DATABASE_URL", None)
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            for spelling in SPELLINGS:
                q = urllib.parse.quote(spelling)
                assert _call(f"{base}/api/v1/tickets/{q}/?phone={q}") in (401, 404)
            # An over-long URL: gunicorn refuses it before the app; problem+json, not its HTML page.
            req = urllib.request.Request(f"{base}/api/v1/tickets/?phone=010-2468-1357&x={'a' * 9000}")
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(req, timeout=10)
            assert caught.value.code == 414
            assert caught.value.headers["Content-Type"] == "application/problem+json"
            assert json.loads(caught.value.read())["status"] == 414
            caught.value.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    output = log.read_text()
    assert "/api/v1/tickets/" in output  # the access log was written
    assert "414" in output or "too large" in output.lower() or "Request Line" in output
    assert not LEAK.search(output), [line for line in output.splitlines() if LEAK.search(line)][:5]


def test_scrub_finds_every_spelling_and_leaves_ordinary_text_alone():
    for spelling in SPELLINGS:
        for shape in (spelling, urllib.parse.quote(spelling), urllib.parse.quote_plus(spelling)):
            assert not LEAK.search(scrub(f"GET /x?phone={shape} 400")), shape
    for text in ("2026-12-02 10:34:23,123 INFO", "CS-20261122-0001", "12가3456", "금액 1,234,500원", "id=1024681357"):
        assert scrub(text) == text
