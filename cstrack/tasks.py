"""Helpers for queueing Celery tasks from request paths."""

import logging

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args, on_failure=None):
    """Queue `task(*args)` once the current transaction commits.

    The row that needs the work is already committed, so a broker that is down must not fail
    the request: the periodic sweep finds the row and queues it again later (`on_failure` lets
    the caller mark the row as not queued).
    """

    def publish():
        try:
            task.apply_async(args=args, retry=False)
        except Exception as exc:  # broker down or unreachable: the sweep will catch up
            logger.warning("broker unavailable, %s(%s) left for the sweep: %s", task.name, args, type(exc).__name__)
            if on_failure is not None:
                on_failure()

    transaction.on_commit(publish)


@shared_task(name="cstrack.purge_expired_idempotency_keys", ignore_result=True)
def purge_expired_idempotency_keys():
    """API Idempotency-Key records are kept 24 h; run hourly by beat."""
    from .auth import purge_expired
    from .models import idempotency_purge_expired

    idempotency_purge_expired()
    purge_expired()  # login-failure windows that have ended
