"""API fixtures: keys with scopes and a client that sends a key."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.seedcodes import seed
from tickets.api.keys import apikey_create


@pytest.fixture(autouse=True)
def _clean_throttle_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_key(db):
    def _make(name="callcentre", scopes=("read", "write"), kinds=(), rate_per_minute=10_000):
        kinds = [seed(code) for code in kinds]
        key, plain = apikey_create(name=name, scopes=scopes, kinds=kinds, rate_per_minute=rate_per_minute)
        return key, plain

    return _make


class KeyClient(APIClient):
    def __init__(self, plain, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.fixture
def api(make_key):
    """A client for an integration with read and write scope on every kind."""
    key, plain = make_key()
    client = KeyClient(plain)
    client.key = key
    client.plain = plain
    return client


@pytest.fixture
def client_for(make_key):
    def _client(**kwargs):
        key, plain = make_key(**kwargs)
        client = KeyClient(plain)
        client.key = key
        return client

    return _client


@pytest.fixture
def session_client():
    def _client(user):
        client = APIClient()
        client.force_login(user)
        return client

    return _client
