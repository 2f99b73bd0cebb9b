"""Authentication for the API: an integration's key (Authorization: Bearer or X-API-Key), or a
console user's session. An integration is represented by an ApiClient, a user-like principal
whose permissions come from the key's scopes."""

from rest_framework import authentication, exceptions

from cstrack.actors import Actor
from tickets.access.policy import key_permissions

from .keys import apikey_verify


class ApiClient:
    """request.user for an API key. Its permissions are its scopes' (the access policy's
    `key_permissions`); never `tickets.reveal_contact`: unmasked contact data is for console
    users with that permission only."""

    is_api_key = True
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key):
        self.key = key
        self.perms = key_permissions(key)

    def get_username(self) -> str:
        return f"integration:{self.key.name}"

    def __str__(self):
        return self.get_username()

    def has_perm(self, perm, obj=None) -> bool:
        return perm in self.perms

    def has_perms(self, perms, obj=None) -> bool:
        return all(self.has_perm(p) for p in perms)

    @property
    def kinds(self) -> list[str]:
        return list(self.key.kinds or [])


def client_id(user) -> str:
    """Who owns idempotency keys and throttle buckets."""
    if isinstance(user, ApiClient):
        return f"key:{user.key.pk}"
    return f"user:{user.pk}"


def actor_for(user) -> Actor:
    if isinstance(user, ApiClient):
        return Actor.integration(user.key.name, user=user)
    return Actor.for_user(user)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`. A key that is wrong or revoked is a
    401, never a fall-through to another method."""

    def authenticate(self, request):
        presented = request.META.get("HTTP_X_API_KEY", "")
        header = authentication.get_authorization_header(request).decode("latin-1", errors="replace")
        if not presented and header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
            presented = value
        if not presented:
            return None
        key = apikey_verify(presented)
        if key is None:
            raise exceptions.AuthenticationFailed("API 키가 올바르지 않거나 폐기되었습니다.", code="invalid_api_key")
        return ApiClient(key), key

    def authenticate_header(self, request):
        return 'Bearer realm="cstrack"'


class SessionAuthentication(authentication.SessionAuthentication):
    """Console users (CSRF enforced on unsafe methods, as DRF does)."""
