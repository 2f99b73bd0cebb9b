"""Development/end-to-end provider: appends one JSON line per message to SMS_FILE_PATH.

The file holds the masked recipient only (it is not encrypted, so it must not hold the number).
lookup() scans it for the idempotency key. Appends take an exclusive lock so that several
worker processes can share one file.
"""

import fcntl
import json
import os
from pathlib import Path

from django.conf import settings

from cstrack import calendar

from .base import Provider


class FileProvider(Provider):
    name = "file"
    supports_lookup = True

    def _path(self) -> Path:
        return Path(settings.SMS_FILE_PATH)

    def send(self, message) -> str:
        ref = f"file:{message.idempotency_key}"
        line = {
            "ts": calendar.now().isoformat(),
            "provider_ref": ref,
            "idempotency_key": message.idempotency_key,
            "message_id": message.pk,
            "channel": message.channel,
            "type": message.message_type,
            "to": message.recipient_masked,
            "subject": message.subject,
            "text": message.body,
        }
        path = self._path()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return ref

    def lookup(self, idempotency_key, *, message=None):
        path = self._path()
        if not path.exists():
            return None
        with path.open("r", encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            try:
                for raw in fh:
                    try:
                        row = json.loads(raw)
                    except json.JSONDecodeError:
                        continue  # a torn line from a crash mid-write
                    if row.get("idempotency_key") == idempotency_key:
                        return row.get("provider_ref")
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return None
