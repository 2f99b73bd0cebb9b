"""The authentication backend: Django's ModelBackend with login throttling, and the user's
permissions and group names read in one query per request.

Login throttling: after LOGIN_MAX_FAILURES failed logins for one username (or
LOGIN_MAX_FAILURES_PER_ADDRESS from one address) within LOGIN_LOCKOUT_SECONDS, further attempts
are refused until the window passes.
Applies to every password login (console and admin) because it is the authentication backend."""

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Value


def _limits(request, username) -> list[tuple[str, int]]:
    """(cache key, limit) pairs: per username, and per address with a higher limit because a
    contact centre's agents often share one address behind NAT."""
    user_key = hashlib.sha256((username or "").lower().encode()).hexdigest()[:32]
    limits = [(f"login-fail:user:{user_key}", settings.LOGIN_MAX_FAILURES)]
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    if address:
        limits.append((f"login-fail:addr:{address}", settings.LOGIN_MAX_FAILURES_PER_ADDRESS))
    return limits


def is_locked(request, username) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _limits(request, username))


def record_failure(request, username) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    for key, _limit in _limits(request, username):
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window)


def clear_failures(request, username) -> None:
    # Only the username's counter: one agent's success must not wipe an attack on the address.
    cache.delete(_limits(request, username)[0][0])


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("email") or ""
        if is_locked(request, username):
            # PermissionDenied stops Django trying other backends: the attempt is refused.
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(request, username)
        else:
            clear_failures(request, username)
        return user

    def get_all_permissions(self, user_obj, obj=None):
        """As ModelBackend (group and direct permissions, cached on the user object, so once per
        request), in one query that also yields the user's group names (`group_names`)."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None or user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            via_groups = user_obj.groups.order_by().values_list(
                "name", "permissions__content_type__app_label", "permissions__codename"
            )
            direct = (
                user_obj.user_permissions.order_by()
                .annotate(no_group=Value("", output_field=CharField()))
                .values_list("no_group", "content_type__app_label", "codename")
            )
            rows = list(via_groups.union(direct, all=True))
            user_obj._perm_cache = {f"{app}.{codename}" for _name, app, codename in rows if codename}
            user_obj._group_names = frozenset(name for name, _app, _codename in rows if name)
        return user_obj._perm_cache


def group_names(user) -> frozenset:
    """The names of the user's groups, from the permission query when it has run."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return frozenset()
    names = getattr(user, "_group_names", None)
    if names is None:
        names = user._group_names = frozenset(user.groups.values_list("name", flat=True))
    return names
