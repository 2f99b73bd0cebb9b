"""One error format for the whole API: RFC 9457 problem details (application/problem+json).

    {"type": "urn:cstrack:problem:invalid", "title": "입력값을 확인해 주세요.", "status": 400,
     "detail": "...", "code": "invalid", "instance": "/api/v1/tickets/",
     "errors": {"details.incident_date": ["필수 항목입니다."]}}

`errors` maps a field (nested fields joined with dots) to its messages; it is always present.
Bad input is never a 500: domain errors, DRF errors and Django's 404/permission errors all map
to a 4xx here.
"""

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from cstrack.errors import DomainError
from cstrack.logging import scrub

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:cstrack:problem:"

TITLES = {
    400: "입력값을 확인해 주세요.",
    401: "인증이 필요합니다.",
    403: "권한이 없습니다.",
    404: "대상을 찾을 수 없습니다.",
    405: "허용되지 않는 메서드입니다.",
    406: "지원하지 않는 응답 형식입니다.",
    409: "현재 상태에서는 처리할 수 없습니다.",
    412: "다른 사용자가 먼저 수정했습니다. 새로 고친 뒤 다시 시도해 주세요.",
    413: "요청이 너무 큽니다.",
    415: "지원하지 않는 요청 형식입니다.",
    422: "같은 중복 방지 키로 다른 요청을 보냈습니다.",
    428: "If-Match 헤더가 필요합니다.",
    429: "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
}


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "수정하려면 If-Match 헤더에 티켓의 ETag(버전)를 보내 주세요."
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "If-Match의 버전이 현재 티켓 버전과 다릅니다. 새로 조회한 뒤 다시 시도해 주세요."
    default_code = "stale_version"


class IdempotencyConflict(exceptions.APIException):
    status_code = 409
    default_detail = "같은 중복 방지 키로 보낸 요청을 아직 처리하고 있습니다. 잠시 후 다시 시도해 주세요."
    default_code = "idempotency_in_progress"


class IdempotencyMismatch(exceptions.APIException):
    status_code = 422
    default_detail = "이 중복 방지 키(Idempotency-Key)는 다른 내용의 요청에 이미 쓰였습니다."
    default_code = "idempotency_key_reused"


def problem(status_code: int, *, detail: str = "", code: str = "", errors=None, title: str = "", instance: str = ""):
    """The body. Messages that echo submitted values (e.g. '"x" is not a valid choice') have any
    phone number or e-mail address in them masked: error bodies end up in logs and reports."""
    code = code or f"http_{status_code}"
    detail = scrub(str(detail)) if detail else detail
    errors = {
        scrub(str(k)): [scrub(str(m)) for m in (v if isinstance(v, list | tuple) else [v])]
        for k, v in (errors or {}).items()
    }
    instance = scrub(instance) if instance else instance
    body = {
        "type": f"{TYPE_PREFIX}{code}",
        "title": title or TITLES.get(status_code, "요청을 처리할 수 없습니다."),
        "status": status_code,
        "detail": detail or title or TITLES.get(status_code, ""),
        "code": code,
        "errors": errors or {},
    }
    if instance:
        body["instance"] = instance
    return body


def problem_response(status_code: int, headers=None, **kwargs) -> Response:
    return Response(
        problem(status_code, **kwargs), status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def _flatten(detail, prefix="") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                name = f"{prefix}.{index}" if prefix else str(index)
                for k, v in _flatten(item, name).items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _first_code(codes) -> str:
    while isinstance(codes, dict | list):
        if not codes:
            return ""
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes or "")


def exception_handler(exc, context):
    request = context.get("request")
    instance = request.path if request is not None else ""
    headers = {}
    if isinstance(exc, DomainError):
        status_code, code, detail, errors = exc.status, exc.code, exc.detail, exc.field_errors
        title = type(exc).title if exc.status != 412 else TITLES[412]
        if errors and detail == type(exc).title and len(errors) == 1:
            detail = next(iter(errors.values()))[0]
        return problem_response(status_code, code=code, detail=detail, errors=errors, title=title, instance=instance)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        code, detail = (
            ("too_large", "요청 본문이 허용된 크기를 넘었습니다.")
            if isinstance(exc, RequestDataTooBig)
            else (
                "too_many_fields",
                "요청의 항목 수가 너무 많습니다.",
            )
        )
        return problem_response(413, code=code, detail=detail, instance=instance)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django report it as a 500

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    status_code = exc.status_code
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        code = "invalid"
        detail = next(iter(errors.values()))[0] if len(errors) == 1 else TITLES[400]
    else:
        errors = {}
        code = _first_code(exc.get_codes()) or f"http_{status_code}"
        detail = str(exc.detail)
    if status_code == status.HTTP_401_UNAUTHORIZED:
        code = (
            code if code in {"invalid_api_key", "not_authenticated", "authentication_failed"} else "not_authenticated"
        )
    return problem_response(status_code, headers=headers, code=code, detail=detail, errors=errors, instance=instance)
