"""Chat: a Slack-compatible incoming webhook. The recipient is the webhook URL.

POST {"text": ...}. Incoming webhooks return no message id and cannot be queried, so lookup()
is not supported (see docs/delivery.md) and the reference is our idempotency key.
"""

import json

from .base import Provider
from .gateway import IDEMPOTENCY_HEADER, raise_for_status, request


class SlackWebhookProvider(Provider):
    name = "slack"

    def send(self, message) -> str:
        text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
        body = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
        resp = request(
            "POST", message.recipient, body=body, headers={IDEMPOTENCY_HEADER: message.idempotency_key}, what="chat"
        )
        raise_for_status(resp, "chat")
        return f"chat:{message.idempotency_key}"
