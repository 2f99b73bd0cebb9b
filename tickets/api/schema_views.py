"""Small plain views for the API URL space."""

import json

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .errors import PROBLEM_CONTENT_TYPE, problem


@csrf_exempt  # any method on an unknown API path is a 404 problem, not a CSRF page
def not_found(request, *args, **kwargs):
    body = problem(404, detail="요청한 API 경로가 없습니다.", code="not_found", instance=request.path)
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=404, content_type=PROBLEM_CONTENT_TYPE)
