"""Personal data never reaches a log line.

Code must not log phone numbers or e-mail addresses in the first place. What slips through
(a query string in Django's request log, a repr of a request in an extra, an exception text) is
masked by the *formatters*: `ScrubbingFormatter` and `ScrubbingJsonFormatter` scrub the whole
rendered line -- message, every extra, the traceback -- after formatting, so nothing a handler
writes escapes them. Every handler the project configures uses one of them: Django (runserver's
`django.server`, `django.request`), gunicorn (`config/gunicorn.py`: error and access logs) and
Celery worker and beat (`config/celery.py` hands Celery Django's LOGGING).

`scrub()` recognises a number however it is spelled: 010-1234-5678, 01012345678, +82 10 ...,
010.1234.5678, (010) 1234-5678, form-encoded 010+1234+5678, percent-encoded %2B82%2010...,
full-width or other non-ASCII digits.
"""

import contextlib
import logging
import re
import unicodedata

from pythonjsonlogger.json import JsonFormatter

_SEP = r"[\s\-.+/()]{0,3}"
PHONE_RE = re.compile(
    r"(?<!\d)"
    rf"(?:\+?\(?82\)?{_SEP}\(?0?\)?|\(?0)"
    rf"1[016789]\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}}"
    r"(?!\d)"
)
# Landlines only when written with separators (02-123-4567): a bare run of digits is too often
# something else (an amount, a reference).
LANDLINE_RE = re.compile(
    r"(?<!\d)(?:\+?82[\s\-.]{0,2}\(?0?\)?|\(?0)(?:2|[3-6][1-5]|70)\)?[\s\-.]{1,2}\d{3,4}[\s\-.]{1,2}\d{4}(?!\d)"
)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Percent-escapes a phone number or an address may hide behind (space + - . / ( ) @). Only
# these are decoded, so a JSON line stays valid JSON.
_ESCAPES = re.compile(r"%(20|2[BbDdEeFf]|28|29|40)")


def ascii_digits(text: str) -> str:
    """Full-width and other Unicode digits (and dashes/spaces) as ASCII, one char for one."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isdigit() and not ch.isascii():
            with contextlib.suppress(ValueError):
                ch = str(unicodedata.digit(ch))
        elif ch in "\u2010\u2011\u2012\u2013\u2014\u2015\uff0d\u2212":
            ch = "-"
        elif ch in "\u3000\u00a0":
            ch = " "
        elif ch == "\uff0b":
            ch = "+"
        out.append(ch)
    return "".join(out)


def _mask(text: str) -> str:
    return EMAIL_RE.sub("[email]", LANDLINE_RE.sub("[phone]", PHONE_RE.sub("[phone]", text)))


def _normalised(text: str) -> str:
    text = ascii_digits(text)
    if "%" in text:
        text = _ESCAPES.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


def scrub(text: str) -> str:
    """`text` with every phone number and e-mail address replaced by [phone] / [email].

    A text without any comes back unchanged; one with some comes back masked, with hidden
    spellings (percent-escapes, non-ASCII digits) decoded so the mask can find them."""
    if not isinstance(text, str) or not text:
        return text
    masked = _mask(text)
    normalised = _normalised(masked)
    if normalised != masked:
        renormalised = _mask(normalised)
        if renormalised != normalised:
            return renormalised
    return masked


class PiiScrubFilter(logging.Filter):
    """Masks the message (with its args) early, for handlers outside our formatters' reach."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class ScrubbingFormatter(logging.Formatter):
    """A plain-text formatter whose whole output line is scrubbed."""

    def format(self, record):
        return scrub(super().format(record))


class ScrubbingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, non-ASCII kept as is (so scrub() sees every digit), with
    the whole JSON line scrubbed: extras such as Django's `request` repr included."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def format(self, record):
        return scrub(super().format(record))
