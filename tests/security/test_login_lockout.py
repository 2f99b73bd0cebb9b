"""Finding 7: the login lock-out failed open while Redis was down (its counters lived in a
cache that answers "nothing counted" when Redis is unreachable): seven wrong passwords, then the
right one logged in."""

import pytest
from django.contrib.auth import authenticate
from django.core.cache import caches
from django.test import Client, RequestFactory, override_settings

from cstrack.models import LoginFailure
from tests.conftest import make_user

DEAD_REDIS = {
    "default": {
        "BACKEND": "cstrack.cache.FailOpenRedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.1, "socket_timeout": 0.1},
    }
}

pytestmark = pytest.mark.django_db


@override_settings(CACHES=DEAD_REDIS, LOGIN_MAX_FAILURES=5)
def test_lockout_holds_with_redis_down():
    assert caches["default"].get("probe", "down") == "down"  # Redis really is unreachable
    make_user("clerk")
    request = RequestFactory().post("/login/", REMOTE_ADDR="198.51.100.7")
    for _ in range(7):
        assert authenticate(request, username="clerk", password="wrong") is None
    assert authenticate(request, username="clerk", password="pw-clerk") is None  # locked: fails closed
    assert LoginFailure.objects.filter(count__gte=5).exists()
    assert not LoginFailure.objects.filter(key__contains="clerk").exists()  # the key is a hash


@override_settings(CACHES=DEAD_REDIS, LOGIN_MAX_FAILURES=3)
def test_console_login_page_refuses_the_locked_account_with_redis_down():
    make_user("clerk2")
    client = Client()
    for _ in range(4):
        client.post("/login/", {"username": "clerk2", "password": "wrong"})
    response = client.post("/login/", {"username": "clerk2", "password": "pw-clerk2"})
    assert response.status_code != 302 and "_auth_user_id" not in client.session


def test_lockout_window_ends(settings):
    import datetime as dt

    import time_machine

    settings.LOGIN_MAX_FAILURES, settings.LOGIN_LOCKOUT_SECONDS = 2, 60
    make_user("clerk3")
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC), tick=False) as clock:
        for _ in range(2):
            authenticate(None, username="clerk3", password="wrong")
        assert authenticate(None, username="clerk3", password="pw-clerk3") is None
        clock.shift(61)
        assert authenticate(None, username="clerk3", password="pw-clerk3") is not None
