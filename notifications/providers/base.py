"""The provider interface and its errors.

A provider sends one message and, where it can, looks a message up by our idempotency key so
that a send whose outcome is unknown (worker killed, timeout) is not repeated blindly.

Error texts are short and never contain the recipient: they end up in `Message.last_error`,
in logs and in the admin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cstrack.logging import scrub

if TYPE_CHECKING:
    from notifications.models import Message


class ProviderError(Exception):
    """Base class. `str(exc)` is safe to store and show (no personal data)."""

    def __init__(self, detail: str):
        super().__init__(scrub(detail)[:250])


class TemporaryProviderError(ProviderError):
    """Worth retrying later: 5xx, 408/429, timeout, connection error.

    `maybe_delivered` is True when the provider may have accepted the message before the failure
    (timeout, connection reset, 5xx): the next attempt looks the message up before resending.
    """

    def __init__(self, detail: str, *, maybe_delivered: bool = False):
        super().__init__(detail)
        self.maybe_delivered = maybe_delivered


class NotAttempted(TemporaryProviderError):
    """The message was not handed to the provider at all (a batch ran out of time before its
    turn): it goes back to waiting without counting an attempt."""

    def __init__(self, detail: str = "not attempted: the batch ran out of time"):
        super().__init__(detail)


class PermanentProviderError(ProviderError):
    """Retrying will not help (4xx: bad request, bad credentials, refused recipient)."""


class ProviderConfigurationError(PermanentProviderError):
    """A setting the provider needs is missing (e.g. SMS_SENDER_NUMBER)."""


@dataclass(frozen=True)
class DeliveryReport:
    """The provider's later word on a message it accepted: `outcome` is "delivered", "failed"
    or "pending" (not final yet); `code` is its machine status code (no free text)."""

    provider_ref: str
    outcome: str
    code: str = ""


class Provider:
    """Send a message; look it up by idempotency key. Subclasses set `name`."""

    name = "base"
    #: True if lookup() can answer; False means a crash mid-send may lead to a second send.
    supports_lookup = False
    #: True if it sends Kakao AlimTalk; otherwise an AlimTalk message goes as its SMS/LMS fallback.
    supports_alimtalk = False

    def send(self, message: Message) -> str:
        """Deliver `message`; return the provider's reference. Raise a ProviderError on failure."""
        raise NotImplementedError

    def send_many(self, messages: list[Message], *, deadline: float | None = None) -> list[str | Exception]:
        """Deliver several messages; one result per message, in order: the provider's reference,
        or the exception that message met (a ProviderError, or any other exception from a bug).

        This default sends one by one (over the pooled connection for HTTP providers); a
        provider with a batch API (Solapi's send-many) overrides it with one request per batch.
        No send starts after `deadline` (time.monotonic()): the messages left get NotAttempted,
        so a slow provider cannot keep a batch busy past its lease.
        """
        results: list[str | Exception] = []
        for message in messages:
            if deadline is not None and results and time.monotonic() > deadline:
                results.append(NotAttempted())
                continue
            try:
                results.append(self.send(message))
            except Exception as exc:  # recorded per message by the caller
                results.append(exc)
        return results

    def lookup(self, idempotency_key: str, *, message: Message | None = None) -> str | None:
        """The provider's reference if it already has the message, else None.

        `message` is an optional hint (recipient, creation time) for providers that can only
        search by those. Raise TemporaryProviderError if the answer cannot be known now.
        """
        return None
