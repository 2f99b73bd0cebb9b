"""Errors Django answers before (or instead of) a DRF view -- a CSRF failure, a body over the
upload limit, an uncaught error -- are problem+json on /api/ paths too. The console keeps
Django's pages."""

import json

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from .errors import PROBLEM_CONTENT_TYPE, problem


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def problem_http_response(request, status: int, *, detail: str = "", code: str = "") -> HttpResponse:
    body = problem(status, detail=detail, code=code, instance=request.path)
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM_CONTENT_TYPE)


def too_big_problem(request, exc) -> HttpResponse | None:
    if isinstance(exc, RequestDataTooBig):
        return problem_http_response(request, 413, detail="요청 본문이 허용된 크기를 넘었습니다.", code="too_large")
    if isinstance(exc, TooManyFieldsSent):
        return problem_http_response(request, 413, detail="요청의 항목 수가 너무 많습니다.", code="too_many_fields")
    return None


def bad_request(request, exception=None):
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    return too_big_problem(request, exception) or problem_http_response(request, 400)


def permission_denied(request, exception=None):
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return problem_http_response(request, 403)


def server_error(request):
    if not _is_api(request):
        return defaults.server_error(request)
    return problem_http_response(request, 500, detail="서버 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.")


def csrf_failure(request, reason=""):
    if not _is_api(request):
        return django_csrf_failure(request, reason)
    return problem_http_response(request, 403, detail="CSRF 확인에 실패했습니다.", code="csrf_failed")
