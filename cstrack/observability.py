"""Observability: request IDs, structured JSON logs, and a Prometheus metrics endpoint.

Metrics about the work (due backlog, oldest due age, messages by state and provider, breaches
by board) are read from the database at scrape time, so every web process reports the same
numbers whatever process did the work. API latency is recorded per process; under gunicorn
(config/gunicorn.py sets PROMETHEUS_MULTIPROC_DIR) /metrics merges every worker's samples.
"""

import contextvars
import hmac
import logging
import os
import time
import uuid

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

API_LATENCY = Histogram(
    "cstrack_http_request_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)


class RequestIdMiddleware:
    """Gives every request an ID (or keeps a sane incoming X-Request-ID), logs carry it, and the
    response returns it; also times the request for the latency histogram."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        token = request_id_var.set(rid)
        start = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        match = getattr(request, "resolver_match", None)
        route = match.route if match else "unmatched"
        API_LATENCY.labels(request.method, route, str(response.status_code)).observe(time.perf_counter() - start)
        response["X-Request-ID"] = rid
        return response


class ContextFilter(logging.Filter):
    """Adds request_id (and ticket, when a caller passed extra={"ticket": id}) to every record."""

    def filter(self, record):
        record.request_id = request_id_var.get()
        if not hasattr(record, "ticket"):
            record.ticket = None
        return True


# Figures about the work (backlogs, breaches) come from the apps that own the data: each
# registers a collector here at start-up (tickets does in its AppConfig.ready), so cstrack never
# imports them (imports go one way: tickets -> notifications -> cstrack).
WORK_REGISTRY = CollectorRegistry()
_registered: set[str] = set()


def register_work_collector(name: str, collector) -> None:
    """Idempotent by name (ready() may run more than once in tests)."""
    if name not in _registered:
        WORK_REGISTRY.register(collector)
        _registered.add(name)


def _metrics_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several web processes (gunicorn, see config/gunicorn.py): merge what each recorded.
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return (WORK_REGISTRY, merged)
    from prometheus_client import REGISTRY

    # One process: the default registry carries the latency histogram and process metrics.
    return (WORK_REGISTRY, REGISTRY)


def metrics_view(request):
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, token):
            return HttpResponseForbidden("metrics token required")
    body = b"".join(generate_latest(r) for r in _metrics_registry())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


class HealthzMiddleware:
    """GET /healthz answers before host validation and the HTTPS redirect, so that a container
    health check on 127.0.0.1 over plain HTTP reaches it: 200 when the database answers, else
    503. It says nothing else (it is unauthenticated)."""

    path = "/healthz"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != self.path:
            return self.get_response(request)
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:  # the reason goes to the log, not to the caller
            logging.getLogger(__name__).error("healthz: database unavailable (%s)", type(exc).__name__)
            return HttpResponse("unavailable", status=503, content_type="text/plain")
        return HttpResponse("ok", content_type="text/plain")


class RejectNulMiddleware:
    """A NUL character in a query string or a form field is refused with a 400 before any view
    runs: PostgreSQL cannot store it, and it never belongs in contact-centre text. (The API
    checks its own input and answers in its problem format; the services check again.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.http import HttpResponseBadRequest

        if request.path.startswith("/api/"):
            return self.get_response(request)  # the API refuses NUL itself, in its problem format
        values = [v for vs in request.GET.lists() for v in vs[1]]
        if request.content_type == "application/x-www-form-urlencoded":
            values += [v for vs in request.POST.lists() for v in vs[1]]
        if any("\x00" in v for v in values):
            detail = "입력에 허용되지 않는 문자(NUL)가 있습니다."
            return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
