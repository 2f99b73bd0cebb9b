"""Personal data: normalise, encrypt at rest, find by keyed hash, mask.

Phone numbers and e-mail addresses never appear in logs, task arguments or listings. They are
stored encrypted (Fernet, keys from the environment; the first key encrypts, every key decrypts,
so keys rotate without downtime) beside a keyed hash used for exact-match lookup.
"""

import hashlib
import hmac
import json
import re
from functools import lru_cache

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import models

from .errors import DomainValidationError

# --- Normalisation ---------------------------------------------------------------------------


def normalise_phone(raw: str, field: str = "phone") -> str:
    """Return the number in E.164 (+821012345678). Korean numbers may be written locally."""
    text = (raw or "").strip()
    try:
        parsed = phonenumbers.parse(text, "KR")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise DomainValidationError({field: ["올바른 전화번호가 아닙니다. 예: 010-1234-5678"]})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str, field: str = "email") -> str:
    text = (raw or "").strip()
    try:
        validate_email(text)
    except DjangoValidationError:
        raise DomainValidationError({field: ["올바른 이메일 주소가 아닙니다."]}) from None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


# --- Masking ---------------------------------------------------------------------------------


def mask_phone(e164: str | None) -> str:
    """+821012345678 -> 010-****-5678; other numbers keep only their last four digits."""
    if not e164:
        return ""
    try:
        parsed = phonenumbers.parse(e164, "KR")
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        national = e164
    digits = re.sub(r"\D", "", national)
    parts = national.split("-")
    if len(parts) == 3:
        return f"{parts[0]}-{'*' * len(parts[1])}-{parts[2]}"
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_email(email: str | None) -> str:
    """hong.gildong@example.com -> ho*********@example.com"""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:2]}{'*' * max(len(local) - 2, 1)}@{domain}"


def mask_name(name: str | None) -> str:
    """홍길동 → 홍*동, 김철 → 김*: enough for a customer to recognise a message as theirs."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_value(kind: str, value: str | None) -> str:
    return mask_phone(value) if kind == "phone" else mask_email(value) if kind == "email" else ("***" if value else "")


# --- Encryption and keyed hash -------------------------------------------------------------


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.PII_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("encrypted value cannot be decrypted with the configured keys") from None


def rotate(token: str) -> str:
    """Re-encrypt under the newest key (MultiFernet.rotate keeps the original timestamp)."""
    return fernet().rotate(token.encode()).decode()


def blind_index(value: str) -> str:
    """Keyed hash of a normalised value: equal inputs give equal outputs, nothing reversible."""
    return hmac.new(settings.PII_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def phone_index(raw: str) -> str:
    return blind_index(normalise_phone(raw))


# --- Model fields ----------------------------------------------------------------------------


class EncryptedTextField(models.TextField):
    """Stores a Fernet token; Python code sees the plain text. Not searchable: pair it with a
    blind-index column where lookup is needed."""

    def from_db_value(self, value, expression, connection):
        return value if value in (None, "") else decrypt(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return None if value is None else ""
        return encrypt(value)


class EncryptedJSONField(models.TextField):
    """A JSON document stored as one Fernet token (kind-specific personal fields)."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        return {} if not value else json.loads(value)

    def get_prep_value(self, value):
        if not value:
            return ""
        return encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))
