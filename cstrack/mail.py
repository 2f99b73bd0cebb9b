"""Development e-mail backend: prints messages like Django's console backend, but with the
recipients masked, because e-mail addresses must never reach a log."""

from django.core.mail.backends.console import EmailBackend as ConsoleBackend

from .pii import mask_email


class MaskedConsoleEmailBackend(ConsoleBackend):
    def write_message(self, message):
        original = message.to, message.cc, message.bcc
        message.to = [mask_email(a) for a in message.to]
        message.cc = [mask_email(a) for a in message.cc]
        message.bcc = []
        try:
            super().write_message(message)
        finally:
            message.to, message.cc, message.bcc = original
