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
from typing import NamedTuple

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import models

from .errors import DomainValidationError
from .logging import EMAIL_RE, LANDLINE_RE, PHONE_RE, ascii_digits

# --- Normalisation ---------------------------------------------------------------------------


# Mobile prefixes (010, 011, 016-019) and the length of the national number (without the
# leading 0) each allows: 010 is always 010-XXXX-XXXX; the older ones also had XXX in the middle.
_MOBILE_LENGTHS = {"10": (10,), "11": (9, 10), "16": (9, 10), "17": (9, 10), "18": (9, 10), "19": (9, 10)}
# What a person writes in a number: ASCII digits, a leading +, spaces, hyphens, dots, brackets.
_PHONE_CHARS = re.compile(r"\+?[0-9 ()./-]+")
PHONE_EXAMPLE = "예: 010-XXXX-XXXX"


def _phone_error(field: str, text: str) -> DomainValidationError:
    return DomainValidationError({field: [text]})


def normalise_phone(raw: str, field: str = "phone", *, allow_landline: bool = False) -> str:
    """Return a Korean number in E.164 (+821012345678), or refuse it with a message that says why.

    Strict on purpose: a number we store is one we will text or call, so nothing is guessed or
    dropped. Refused: extensions and `tel:` URIs (the extension would be silently lost),
    non-ASCII digits (full-width ０１０ and the like), letters, numbers too short or too long for
    their prefix, foreign numbers, and -- unless `allow_landline` (only where a kind asks for a
    call-back number) -- anything but a mobile number (010, 011, 016-019), since an SMS needs one.
    """
    text = (raw or "").strip() if isinstance(raw, str) else ""
    if not text:
        raise _phone_error(field, f"전화번호를 입력해 주세요. {PHONE_EXAMPLE}")
    lowered = text.lower()
    if lowered.startswith("tel:"):
        raise _phone_error(field, f"tel: 주소가 아닌 전화번호만 입력해 주세요. {PHONE_EXAMPLE}")
    if any(ch.isdigit() and not ("0" <= ch <= "9") for ch in text):
        raise _phone_error(field, "숫자는 반각 0-9로 입력해 주세요 (전각·기타 숫자 불가).")
    if re.search(r"(ext|x|#|;|내선)", lowered):
        raise _phone_error(field, "내선 번호는 저장할 수 없습니다. 직통 번호만 입력해 주세요.")
    if not _PHONE_CHARS.fullmatch(text):
        raise _phone_error(field, f"전화번호에는 숫자, 하이픈(-), 공백만 쓸 수 있습니다. {PHONE_EXAMPLE}")
    try:
        parsed = phonenumbers.parse(text, "KR")
    except phonenumbers.NumberParseException:
        raise _phone_error(field, f"올바른 전화번호가 아닙니다. {PHONE_EXAMPLE}") from None
    if parsed.country_code != 82:
        raise _phone_error(field, "국내 전화번호만 입력할 수 있습니다.")
    national = str(parsed.national_number)
    if len(national) < 8:
        raise _phone_error(field, f"올바른 전화번호가 아닙니다: 자릿수가 모자랍니다. {PHONE_EXAMPLE}")
    # 01X numbers are mobile (9-10 digits after the 0); 15XX/16XX/18XX-XXXX (8 digits, no 0)
    # are representative numbers, which receive no SMS.
    if national.startswith("1") and len(national) != 8:
        if len(national) not in _MOBILE_LENGTHS.get(national[:2], ()):
            raise _phone_error(field, f"휴대폰 번호의 자릿수나 앞자리가 맞지 않습니다. {PHONE_EXAMPLE}")
    elif not allow_landline:
        raise _phone_error(
            field, f"문자를 받을 수 있는 휴대폰 번호(010, 011, 016~019)를 입력해 주세요. {PHONE_EXAMPLE}"
        )
    if not phonenumbers.is_valid_number(parsed):
        raise _phone_error(field, f"올바른 전화번호가 아닙니다. {PHONE_EXAMPLE}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class NormalisedPhone(NamedTuple):
    """A number `normalise_phone` has already returned, with its `mask_phone` form, as a record
    stores them (a ticket's customer_phone and customer_phone_masked): a message to it takes
    them as they are instead of parsing the number twice more per message. Its repr shows the
    masked form only, so it cannot leak into a log or a traceback."""

    e164: str
    masked: str

    def __repr__(self) -> str:
        return f"NormalisedPhone({self.masked!r})"

    __str__ = __repr__


def is_mobile(e164: str | None) -> bool:
    """True for a stored (E.164) Korean mobile number: one an SMS can reach."""
    national = (e164 or "").removeprefix("+82")
    return (e164 or "").startswith("+82") and len(national) in _MOBILE_LENGTHS.get(national[:2], ())


def normalise_email(raw: str, field: str = "email") -> str:
    text = (raw or "").strip()
    try:
        validate_email(text)
    except DjangoValidationError:
        raise DomainValidationError({field: ["올바른 이메일 주소가 아닙니다."]}) from None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


# --- Contact data in free text --------------------------------------------------------------


def contact_in_text(text) -> str:
    """ "phone" or "email" if free text holds a phone number or an e-mail address, else "".

    The same patterns the log scrubber masks (any spelling, non-ASCII digits included), minus
    numbers glued to letters (an ID such as D0101234567). Ordinary numbers are left alone: dates,
    times, amounts, plates (12가3456), references (CS-20261122-0001), counts."""
    if not isinstance(text, str) or not text:
        return ""
    plain = ascii_digits(text)
    if EMAIL_RE.search(plain):
        return "email"
    for pattern in (PHONE_RE, LANDLINE_RE):
        for match in pattern.finditer(plain):
            before = plain[match.start() - 1] if match.start() else " "
            after = plain[match.end()] if match.end() < len(plain) else " "
            if not (before.isascii() and before.isalpha()) and not (after.isascii() and after.isalpha()):
                return "phone"
    return ""


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
    """Lookup only (nothing is sent), so any valid Korean number may be searched for."""
    return blind_index(normalise_phone(raw, allow_landline=True))


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
