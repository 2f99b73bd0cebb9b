"""The base of every API view: authentication, the access policy, throttling per key, cursor
pagination, JSON only, problem-details errors and Idempotency-Key on POST. Views built on it
do not depend on settings.REST_FRAMEWORK (only DEFAULT_THROTTLE_RATES["api_user"] is read)."""

import base64
import binascii
import contextlib
from urllib import parse

from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.db import transaction
from rest_framework import exceptions, pagination, permissions, throttling, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from cstrack import pii
from cstrack.errors import DomainValidationError
from tickets.access import policy

from . import idempotency
from .auth import ApiClient, ApiKeyAuthentication, SessionAuthentication, client_id
from .errors import PROBLEM_CONTENT_TYPE, exception_handler
from .parsers import StrictJSONParser
from .schema import ApiAutoSchema

DEFAULT_USER_RATE = "1200/min"


class PolicyPermission(permissions.BasePermission):
    """The view names the access-policy action each of its actions is (`policy_actions`, by
    viewset action or HTTP method); the policy says whether the caller may ever do it (a key's
    scopes and a user's group permissions). Whether they may do it to one object is decided by
    the policy when the view loads the object (invisible: 404) and by the service (403)."""

    message = "이 작업을 할 권한이 없습니다."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if hasattr(view, "action_map") and view.action is None:
            return True  # a method this resource does not have: let the view answer 405
        actions = getattr(view, "policy_actions", {})
        name = actions.get(getattr(view, "action", None)) or actions.get(request.method) or actions.get("*")
        if name is None:
            return False  # an endpoint without a policy decision is refused
        if policy.may(request.user, name):
            return True
        self.message = policy.ACTIONS[name].refusal
        return False


class ClientRateThrottle(throttling.SimpleRateThrottle):
    """One bucket per API key (its own `rate_per_minute`) or per console user."""

    scope = "api_user"
    cache_format = "throttle_api_%(ident)s"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or DEFAULT_USER_RATE

    def allow_request(self, request, view):
        if isinstance(request.user, ApiClient):
            self.rate = f"{request.user.key.rate_per_minute}/min"
        else:
            self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return self.cache_format % {"ident": "anon-" + self.get_ident(request)}
        return self.cache_format % {"ident": client_id(request.user)}


def link_without_phone(url: str) -> str:
    """`url` with a `phone=` filter swapped for its keyed hash: next/previous links keep the
    filter without echoing the number (they end up in client logs and browser history)."""
    parts = parse.urlsplit(url)
    query = parse.parse_qsl(parts.query, keep_blank_values=True)
    if not any(key == "phone" for key, _ in query):
        return url
    kept = []
    for key, value in query:
        if key != "phone":
            kept.append((key, value))
        elif value:
            with contextlib.suppress(DomainValidationError):  # refused by the filter already
                kept.append(("phone_hash", pii.phone_index(value)))
    return parse.urlunsplit(parts._replace(query=parse.urlencode(kept)))


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = link_without_phone(self.base_url)
        return page

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = parse.parse_qs(querystring, keep_blank_values=True)
            offset = int(tokens.get("o", ["0"])[0])
            if offset < 0 or offset > self.offset_cutoff:
                raise ValueError
            reverse = bool(int(tokens.get("r", ["0"])[0]))
            position = tokens.get("p", [None])[0]
        except (TypeError, ValueError, UnicodeError, binascii.Error):
            raise exceptions.ValidationError({"cursor": ["올바르지 않은 커서입니다."]}) from None
        return pagination.Cursor(offset=offset, reverse=reverse, position=position)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise exceptions.ValidationError({"page_size": ["정수여야 합니다."]}) from None
        if size < 1:
            raise exceptions.ValidationError({"page_size": ["1 이상이어야 합니다."]})
        return min(size, self.max_page_size)

    def get_paginated_response_schema(self, schema):
        result = super().get_paginated_response_schema(schema)
        result["required"] = ["results", "next", "previous"]
        return result


class ApiViewMixin:
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [PolicyPermission]
    throttle_classes = [ClientRateThrottle]
    pagination_class = CursorPagination
    renderer_classes = [JSONRenderer]
    parser_classes = [StrictJSONParser]
    filter_backends = []
    schema = ApiAutoSchema()
    policy_actions: dict = {}

    _idempotency_record = None

    def get_exception_handler(self):
        return exception_handler

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated("인증 정보가 없습니다. API 키 또는 로그인이 필요합니다.")
        raise exceptions.PermissionDenied(detail=message or PolicyPermission.message, code=code)

    # --- Idempotency-Key ---------------------------------------------------------------------

    def initial(self, request, *args, **kwargs):
        if request.method in ("POST", "PATCH", "PUT"):
            if is_multipart(request):
                # Uploads (attachments): refuse oversized bodies before anything parses them,
                # and keep the file in memory only (never a plaintext temporary file on disk).
                _check_upload_length(request)
                request._request.upload_handlers = [InMemoryUploadHandler(request._request)]
            else:
                request._request.body  # noqa: B018 - cache the raw body for the idempotency fingerprint
        super().initial(request, *args, **kwargs)
        _reject_nul(request)
        if request.method != "POST":
            return
        key = idempotency.request_key(request)
        if key is None:
            return
        record, stored = idempotency.claim(client_id(request.user), key, idempotency.fingerprint(request))
        if stored is not None:
            raise _Replay(stored)
        self._idempotency_record = record

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            stored = exc.record
            headers = {**stored.response_headers, "Idempotent-Replayed": "true"}
            content_type = PROBLEM_CONTENT_TYPE if stored.response_status >= 400 else None
            return Response(
                stored.response_body, status=stored.response_status, headers=headers, content_type=content_type
            )
        return super().handle_exception(exc)

    def dispatch(self, request, *args, **kwargs):
        try:
            response = super().dispatch(request, *args, **kwargs)
        except BaseException:
            if self._idempotency_record is not None:
                idempotency.release(self._idempotency_record)
            raise
        if self._idempotency_record is not None:
            idempotency.complete(self._idempotency_record, response)
        return response


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _reject_nul(request) -> None:
    """NUL characters cannot be stored (PostgreSQL text) and are never meaningful here."""
    if any(_has_nul(k) or _has_nul(v) for k, v in request.query_params.lists()) or (
        request.method in ("POST", "PATCH", "PUT") and _has_nul(request.data)
    ):
        raise exceptions.ValidationError({"non_field_errors": ["NUL 문자(\\u0000)는 보낼 수 없습니다."]})


def is_multipart(request) -> bool:
    return (request.content_type or "").lower().startswith("multipart/form-data")


# Room for the multipart envelope around a file of the largest accepted size.
MULTIPART_OVERHEAD = 64 * 1024


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "요청이 너무 큽니다."
    default_code = "payload_too_large"


def _check_upload_length(request) -> None:
    from tickets.privacy.attachments import max_bytes

    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes() + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"파일이 너무 큽니다. {max_bytes() // (1024 * 1024)}MB 이하만 첨부할 수 있습니다.")


class InMemoryUploadHandler(MemoryFileUploadHandler):
    """Every uploaded file stays in memory (the request size is capped above)."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True


class _Replay(Exception):
    def __init__(self, record):
        self.record = record


class ApiViewSet(ApiViewMixin, viewsets.GenericViewSet):
    pass


def etag_for(ticket) -> str:
    return f'"{ticket.version}"'


def if_match_version(request) -> int | None:
    """The version named by If-Match: None for `*`. Missing: 428. Unparseable: 412."""
    from .errors import PreconditionFailed, PreconditionRequired

    raw = request.META.get("HTTP_IF_MATCH")
    if raw is None or not raw.strip():
        raise PreconditionRequired()
    value = raw.split(",")[0].strip()
    if value == "*":
        return None
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit() or len(value) > 9:
        raise PreconditionFailed()
    return int(value)


atomic = transaction.atomic
