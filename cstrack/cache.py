"""A Redis cache that fails open: the cache only holds throttling counters, and an agent's
request must not fail because Redis is down (DESIGN: "Redis down must not fail a request")."""

import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def _fail_open(name, fallback):
    def method(self, *args, **kwargs):
        try:
            return getattr(super(FailOpenRedisCache, self), name)(*args, **kwargs)
        except _DOWN as exc:
            logger.warning("cache unavailable (%s): %s skipped", type(exc).__name__, name)
            return fallback(*args, **kwargs) if callable(fallback) else fallback

    method.__name__ = name
    return method


class FailOpenRedisCache(RedisCache):
    get = _fail_open("get", lambda key, default=None, version=None: default)
    get_many = _fail_open("get_many", {})
    set = _fail_open("set", None)
    set_many = _fail_open("set_many", [])
    add = _fail_open("add", True)
    incr = _fail_open("incr", 1)
    delete = _fail_open("delete", False)
    delete_many = _fail_open("delete_many", None)
    touch = _fail_open("touch", False)
    has_key = _fail_open("has_key", False)
