"""Celery tasks for tickets: thin wrappers that call the follow-up engine."""

import logging

from celery import shared_task

from tickets.followups import dispatcher
from tickets.reports import digest

logger = logging.getLogger(__name__)


@shared_task(name="tickets.dispatch_due_followups", ignore_result=True)
def dispatch_due_followups():
    """Run by beat every minute (any number of copies at once is safe)."""
    result = dispatcher.dispatch_due()
    if result.claimed:
        logger.info("follow-ups dispatched: %s", result)
    return None


@shared_task(name="tickets.schedule_morning_digests", ignore_result=True)
def schedule_morning_digests():
    """Run by beat every 15 minutes: writes the digest rows due (idempotent); the dispatcher sends them."""
    digest.schedule_digests()


@shared_task(name="tickets.refresh_overdue_rollup", ignore_result=True)
def refresh_overdue_rollup():
    """Run by beat every minute: the overdue queue's shared counts (see selectors)."""
    from tickets.selectors import overdue_rollup_refresh

    overdue_rollup_refresh()


@shared_task(name="tickets.purge_expired_personal_data", ignore_result=True)
def purge_expired_personal_data():
    """Run daily by beat."""
    from tickets.privacy.retention import close_resolved, purge_expired

    closed = close_resolved()
    purged = purge_expired()
    logger.info("auto-closed %d resolved tickets; retention purge: %d tickets", closed, purged)
