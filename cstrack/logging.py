"""Last line of defence for personal data in logs. Code must not log phone numbers or e-mail
addresses in the first place; this filter masks any that slip through (including in args)."""

import logging
import re

PHONE_RE = re.compile(r"(?<!\d)(?:\+?82[- ]?|0)1[016789][- .]?\d{3,4}[- .]?\d{4}(?!\d)")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def scrub(text: str) -> str:
    return EMAIL_RE.sub("[email]", PHONE_RE.sub("[phone]", text))


class PiiScrubFilter(logging.Filter):
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
