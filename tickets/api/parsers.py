"""The API's JSON parser: bad JSON of any shape is a 400 problem, never a 500.

DRF's parser lets a body nested a hundred thousand levels deep raise RecursionError, and reads
`1e400` as infinity (which later overflows an integer field). Here a body is refused when it is
not UTF-8 JSON, holds NaN/Infinity or a number too large for a float, or nests deeper than
MAX_DEPTH (real requests nest three or four levels)."""

import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _too_deep(data) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError(f"JSON이 너무 깊게 중첩되어 있습니다 ({MAX_DEPTH}단계까지).") from None
        except (ValueError, UnicodeDecodeError):
            raise ParseError("JSON 형식이 올바르지 않습니다 (숫자는 유한한 값이어야 합니다).") from None
        if _too_deep(data):
            raise ParseError(f"JSON이 너무 깊게 중첩되어 있습니다 ({MAX_DEPTH}단계까지).")
        return data
