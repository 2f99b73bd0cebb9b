"""gunicorn settings for production (Dockerfile CMD: gunicorn -c config/gunicorn.py).

With several worker processes, the API latency histogram must be summed across them, or each
scrape would see one process's share: prometheus_client's multiprocess mode keeps each
process's samples in PROMETHEUS_MULTIPROC_DIR (emptied at start), and /metrics merges them.
"""

import json
import os
import shutil

from gunicorn import util as _gunicorn_util

# Set here, before any worker imports prometheus_client (workers inherit the environment), and
# only for the web processes: Celery processes keep ordinary in-process metrics.
_var_dir = os.environ.get("CSTRACK_VAR_DIR") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "var")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(_var_dir, "metrics"))

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
accesslog = "-"
# The path only (%(U)s), never the query string: a ?phone= filter must not be logged.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'

# gunicorn's own error and access logs go through the project's scrubbing formatters (the whole
# line is masked, see cstrack/logging.py), in the same format as the app's logs.
_LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("json" if os.environ.get("DJANGO_ENV") == "production" else "text")
_FORMATTERS = {
    "json": {
        "()": "cstrack.logging.ScrubbingJsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    },
    "text": {"()": "cstrack.logging.ScrubbingFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"scrubbing": _FORMATTERS.get(_LOG_FORMAT, _FORMATTERS["text"])},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "scrubbing", "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "scrubbing", "stream": "ext://sys.stderr"},
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}

_PROBLEM_TITLES = {
    400: "요청 형식이 올바르지 않습니다.",
    403: "허용되지 않는 요청입니다.",
    414: "요청 주소(URL)가 너무 깁니다.",
    417: "Expect 헤더를 처리할 수 없습니다.",
    431: "요청 헤더가 너무 큽니다.",
}


def write_problem(sock, status_int, reason, mesg):
    """gunicorn answers requests it cannot parse (an over-long URL: 414, oversized headers: 431,
    a malformed request line: 400) before the app sees them; answer those in the API's problem
    format too. The parser's message is not echoed: it quotes the request line."""
    title = _PROBLEM_TITLES.get(status_int, "요청을 처리할 수 없습니다.")
    body = json.dumps(
        {
            "type": f"urn:cstrack:problem:http_{status_int}",
            "title": title,
            "status": status_int,
            "detail": title,
            "code": f"http_{status_int}",
            "errors": {},
        },
        ensure_ascii=False,
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    _gunicorn_util.write_nonblock(sock, head.encode("latin1") + body)


_gunicorn_util.write_error = write_problem


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
