"""Development provider: one log line per message, with the recipient masked."""

import logging

from .base import Provider

logger = logging.getLogger("notifications.console")


class ConsoleProvider(Provider):
    name = "console"

    def send(self, message) -> str:
        ref = f"console:{message.idempotency_key}"
        logger.info(
            "message %s (%s) to %s: %s%s",
            message.pk,
            message.message_type,
            message.recipient_masked,
            f"[{message.subject}] " if message.subject else "",
            message.body,
        )
        return ref
