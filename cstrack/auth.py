"""The authentication backend: Django's ModelBackend with login throttling, and the user's
permissions and group names read in one query per request.

Login throttling: after LOGIN_MAX_FAILURES failed logins for one username (or
LOGIN_MAX_FAILURES_PER_ADDRESS from one address) within LOGIN_LOCKOUT_SECONDS, further attempts
are refused until the window passes.
Applies to every password login (console and admin) because it is the authentication backend.

The counters live in the database (`LoginFailure`), not in the Redis cache: a cache that fails
open while Redis is down would let a guesser try passwords without limit. Each failure is one
atomic UPDATE ... count = count + 1 (an INSERT for the first), so parallel guesses all count."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Value

from cstrack import calendar
from cstrack.models import LoginFailure


def _limits(request, username) -> list[tuple[str, int]]:
    """(counter key, limit) pairs: per username, and per address with a higher limit because a
    contact centre's agents often share one address behind NAT."""
    user_key = hashlib.sha256((username or "").lower().encode()).hexdigest()[:32]
    limits = [(f"user:{user_key}", settings.LOGIN_MAX_FAILURES)]
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    if address:
        addr_key = hashlib.sha256(address.encode()).hexdigest()[:32]
        limits.append((f"addr:{addr_key}", settings.LOGIN_MAX_FAILURES_PER_ADDRESS))
    return limits


def is_locked(request, username) -> bool:
    now = calendar.now()
    for key, limit in _limits(request, username):
        if LoginFailure.objects.filter(key=key, expires_at__gt=now, count__gte=limit).exists():
            return True
    return False


def _count(key: str) -> None:
    now = calendar.now()
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    with transaction.atomic():
        if LoginFailure.objects.filter(key=key, expires_at__gt=now).update(count=F("count") + 1):
            return
        # None yet, or an expired window: start a new one.
        if LoginFailure.objects.filter(key=key).update(count=1, expires_at=now + window):
            return
        try:
            with transaction.atomic():
                LoginFailure.objects.create(key=key, count=1, expires_at=now + window)
        except IntegrityError:  # another request created it meanwhile
            LoginFailure.objects.filter(key=key).update(count=F("count") + 1)


def record_failure(request, username) -> None:
    for key, _limit in _limits(request, username):
        _count(key)


def clear_failures(request, username) -> None:
    # Only the username's counter: one agent's success must not wipe an attack on the address.
    LoginFailure.objects.filter(key=_limits(request, username)[0][0]).delete()


def purge_expired() -> int:
    return LoginFailure.objects.filter(expires_at__lte=calendar.now()).delete()[0]


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
