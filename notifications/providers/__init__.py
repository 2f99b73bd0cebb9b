"""Providers, chosen by settings.

* sms: settings.SMS_PROVIDER = console | file | memory | http | solapi
* email: Django's mail backend ("email"); chat: Slack-compatible webhook ("slack");
  webhook: signed POST ("webhook").
* settings.NOTIFICATIONS_CHANNEL_PROVIDERS (optional dict) overrides any channel, e.g.
  {"email": "memory", "chat": "console"} for tests or a demo.
"""

from __future__ import annotations

from django.conf import settings

from .base import (
    DeliveryReport,
    NotAttempted,
    PermanentProviderError,
    Provider,
    ProviderConfigurationError,
    ProviderError,
    TemporaryProviderError,
)
from .chat import SlackWebhookProvider
from .console import ConsoleProvider
from .file import FileProvider
from .gateway import HttpGatewayProvider
from .mail import EmailProvider
from .memory import MemoryProvider
from .solapi import SolapiProvider
from .webhook import SignedWebhookProvider

__all__ = [
    "PROVIDERS",
    "DeliveryReport",
    "NotAttempted",
    "PermanentProviderError",
    "Provider",
    "ProviderConfigurationError",
    "ProviderError",
    "TemporaryProviderError",
    "get_provider",
]

PROVIDERS: dict[str, type[Provider]] = {
    cls.name: cls
    for cls in (
        ConsoleProvider,
        FileProvider,
        MemoryProvider,
        HttpGatewayProvider,
        SolapiProvider,
        EmailProvider,
        SlackWebhookProvider,
        SignedWebhookProvider,
    )
}
SMS_PROVIDERS = ("console", "file", "memory", "http", "solapi")
DEFAULT_BY_CHANNEL = {"email": "email", "chat": "slack", "webhook": "webhook"}


def provider_name(channel: str) -> str:
    overrides = getattr(settings, "NOTIFICATIONS_CHANNEL_PROVIDERS", None) or {}
    if channel in overrides:
        return overrides[channel]
    if channel == "sms":
        name = getattr(settings, "SMS_PROVIDER", "console") or "console"
        if name not in SMS_PROVIDERS:
            raise ProviderConfigurationError(f"SMS_PROVIDER must be one of {', '.join(SMS_PROVIDERS)}, not {name!r}")
        return name
    try:
        return DEFAULT_BY_CHANNEL[channel]
    except KeyError:
        raise ProviderConfigurationError(f"no provider for channel {channel!r}") from None


def get_provider(channel: str) -> Provider:
    """A provider instance for `channel`; settings are read now (override_settings works)."""
    name = provider_name(channel)
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise ProviderConfigurationError(f"unknown provider {name!r} for channel {channel!r}") from None
