"""E-mail through Django's configured mail backend (EMAIL_URL / EMAIL_BACKEND).

SMTP cannot be asked afterwards whether a message went out, so lookup() is not supported: a
worker killed between the SMTP hand-off and our database write can cause a second e-mail. The
message carries X-Cstrack-Idempotency-Key and a Message-ID derived from the key, so mail
clients and filters can recognise the duplicate.
"""

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage

from .base import PermanentProviderError, Provider, TemporaryProviderError
from .gateway import IDEMPOTENCY_HEADER


def _message_id(key: str) -> str:
    domain = (getattr(settings, "DEFAULT_FROM_EMAIL", "") or "cstrack@localhost").rpartition("@")[2] or "localhost"
    safe = "".join(ch if ch.isalnum() or ch in "-._" else "-" for ch in key)
    return f"<{safe}@{domain}>"


class EmailProvider(Provider):
    name = "email"

    def send(self, message) -> str:
        ref = _message_id(message.idempotency_key)
        email = EmailMessage(
            subject=message.subject or "",
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            headers={IDEMPOTENCY_HEADER: message.idempotency_key, "Message-ID": ref},
        )
        try:
            email.send(fail_silently=False)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            code = getattr(exc, "smtp_code", None)
            if code is None and isinstance(exc, smtplib.SMTPRecipientsRefused):
                codes = [value[0] for value in exc.recipients.values()]
                code = codes[0] if codes else None
            if code and 400 <= int(code) < 500:
                raise TemporaryProviderError(f"smtp: refused {code}") from None
            raise PermanentProviderError(f"smtp: refused {code or ''}".strip()) from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TemporaryProviderError(f"smtp: {exc.smtp_code}", maybe_delivered=True) from None
            raise PermanentProviderError(f"smtp: {exc.smtp_code}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TemporaryProviderError(f"smtp: {type(exc).__name__}", maybe_delivered=True) from None
        return ref
