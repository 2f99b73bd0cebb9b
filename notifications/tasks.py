"""Celery tasks: thin, carry only ids, explicit names. The rules are in services.py.

acks_late is set globally, so a task can run twice (worker killed before the ack); both are
idempotent: deliver claims the row under a lease, the sweep only queues ids.
"""

from celery import shared_task

from . import services


@shared_task(name=services.DELIVER_TASK, ignore_result=True)
def deliver_message(message_id) -> str | dict:
    """One message id (as published by message_enqueue: sent together with other messages that
    are due) or a list of ids (a batch, as published by the sweep and delivery_publish_on_commit)."""
    if isinstance(message_id, (list, tuple)):
        outcomes = services.messages_deliver(message_id)
        return {outcome: list(outcomes.values()).count(outcome) for outcome in set(outcomes.values())}
    return services.message_deliver(int(message_id), with_due=True)


@shared_task(name="notifications.sweep_outbox", ignore_result=True)
def sweep_outbox() -> int:
    return services.outbox_sweep()
