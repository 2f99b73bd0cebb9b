"""Access tests: files under a temporary MEDIA_ROOT, messages through the in-memory provider."""

import pytest
from django.core.cache import cache

from notifications.providers import memory


@pytest.fixture(autouse=True)
def _access_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SMS_PROVIDER = "memory"
    settings.NOTIFICATIONS_CHANNEL_PROVIDERS = {"email": "memory", "chat": "memory", "webhook": "memory"}
    cache.clear()
    memory.reset()
    yield
    memory.reset()
    cache.clear()
