"""gunicorn settings for production (Dockerfile CMD: gunicorn -c config/gunicorn.py).

With several worker processes, the API latency histogram must be summed across them, or each
scrape would see one process's share: prometheus_client's multiprocess mode keeps each
process's samples in PROMETHEUS_MULTIPROC_DIR (emptied at start), and /metrics merges them.
"""

import os
import shutil

# Set here, before any worker imports prometheus_client (workers inherit the environment), and
# only for the web processes: Celery processes keep ordinary in-process metrics.
_var_dir = os.environ.get("CSTRACK_VAR_DIR") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "var")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(_var_dir, "metrics"))

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
accesslog = "-"
# The path only (%(U)s), never the query string: a ?phone= filter must not be logged.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
