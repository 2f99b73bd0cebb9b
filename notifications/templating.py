"""Message templates: the placeholder allow-list, validation and rendering.

Pure functions, no database. `notifications.services` re-exports `template_validate`, and
`MessageTemplate.clean()` calls it, so the admin and the services apply the same rules.

Rules
-----
* A placeholder is a bare name in braces, ``{reference}``, declared in ``PLACEHOLDERS``. The
  declarations are not made here: the app that fills the values declares them, next to the code
  that fills them, through ``register_placeholders`` when it is ready (tickets does so from
  ``tickets/followups/messages.py``), so the list a template is checked against and the values
  it is rendered with cannot drift apart. No
  attribute or index access (``{a.b}``, ``{a[0]}``), no conversion (``!r``) and no format spec
  (``:>10``): the caller formats values (dates included) before passing them. Literal braces are
  written doubled: ``{{`` and ``}}``.
* SMS text must be encodable in EUC-KR (KS X 1001, what Korean carriers carry): emoji, most
  symbols and the rare Hangul syllables outside the 2,350 of KS X 1001 (e.g. '똠') are refused,
  naming the character. At most 2,000 EUC-KR bytes (LMS limit);
  up to 90 bytes goes as SMS, longer as LMS (Hangul is 2 bytes, ASCII 1).
* Rendering: every placeholder the template uses must be present in the context. A missing
  key raises ``DomainValidationError`` naming it (a customer text with a silent gap where the
  date should be is worse than a visible failure). A value of ``None`` renders as an empty
  string. Keys not in the allow-list are ignored.
* For SMS, characters of *values* that EUC-KR cannot carry (an emoji in a customer name) are
  replaced by ``?``, since the caller cannot be expected to police free text; the template text
  itself is validated strictly at edit time.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from cstrack.errors import DomainValidationError

# name -> Korean description shown to the administrator who edits a template. Filled at start-up
# by the apps that supply the values (register_placeholders); one dict, so importers see it fill.
PLACEHOLDERS: dict[str, str] = {}


def register_placeholders(declarations: Mapping[str, str]) -> None:
    """Declare placeholders a template may use (name -> Korean description). The caller must fill
    every one it declares in the context it renders with. A name declared twice with another
    meaning is a programming error."""
    for name, description in declarations.items():
        if not name.isidentifier():
            raise ValueError(f"placeholder name must be an identifier: {name!r}")
        if PLACEHOLDERS.get(name, description) != description:
            raise ValueError(f"placeholder {name!r} is already declared as {PLACEHOLDERS[name]!r}")
        PLACEHOLDERS[name] = description


SMS_ENCODING = "euc-kr"
SMS_MAX_BYTES = 90  # one SMS; longer text goes as LMS
LMS_MAX_BYTES = 2000
LMS_SUBJECT_MAX_BYTES = 40  # Korean carriers: 20 Hangul / 40 ASCII

_formatter = string.Formatter()


def sms_char_ok(ch: str) -> bool:
    """True if `ch` is in EUC-KR proper (KS X 1001: ASCII plus 2-byte codes).

    Python's codec also writes the 2,350-syllable gap (e.g. '똠') as an 8-byte KS X 1001 Annex 3
    make-up sequence that SMS carriers do not render; those count as not encodable.
    """
    try:
        return len(ch.encode(SMS_ENCODING)) <= 2
    except UnicodeEncodeError:
        return False


def _encoded_if_all_ok(text: str) -> bytes | None:
    """`text` in EUC-KR if every character of it is one `sms_char_ok` accepts, else None.

    One encode of the whole text instead of one per character (the dispatcher checks every
    message it renders). The codec writes ASCII as 1 byte and every other character it knows
    as 2 bytes, or 8 for a make-up sequence (tests/notifications/test_templates.py checks the
    whole of Unicode), so the text is all right exactly when its length in bytes is 2 per
    character less 1 per ASCII character."""
    try:
        encoded = text.encode(SMS_ENCODING)
    except UnicodeEncodeError:
        return None
    ascii_count = len(text.encode("ascii", "ignore"))
    return encoded if len(encoded) == 2 * len(text) - ascii_count else None


def sms_safe(text: str) -> str:
    """`text` with every character SMS cannot carry replaced by '?'."""
    if _encoded_if_all_ok(text) is not None:
        return text
    return "".join(ch if sms_char_ok(ch) else "?" for ch in text)


def euc_kr_length(text: str) -> int:
    """Length in EUC-KR bytes (Hangul 2, ASCII 1); characters SMS cannot carry count as '?'."""
    encoded = _encoded_if_all_ok(text)
    if encoded is not None:
        return len(encoded)
    return len(sms_safe(text).encode(SMS_ENCODING))


def sms_type(body: str) -> str:
    """ "SMS" if the text fits one short message (90 EUC-KR bytes), else "LMS"."""
    return "SMS" if euc_kr_length(body) <= SMS_MAX_BYTES else "LMS"


def unencodable_characters(text: str) -> list[str]:
    """The distinct characters of `text` EUC-KR cannot carry, in order of appearance."""
    bad: list[str] = []
    if _encoded_if_all_ok(text) is not None:
        return bad
    for ch in text:
        if ch not in bad and not sms_char_ok(ch):
            bad.append(ch)
    return bad


def _describe(ch: str) -> str:
    return f"'{ch}' (U+{ord(ch):04X})"


def placeholders_in(text: str, field: str = "body") -> list[str]:
    """The placeholder names used in `text`, in order; refuses anything but bare names."""
    try:
        parsed = list(_formatter.parse(text))
    except ValueError:
        raise DomainValidationError(
            {field: ["중괄호 짝이 맞지 않습니다. 글자 그대로의 중괄호는 {{ 와 }} 로 적어 주세요."]}
        ) from None
    names: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
            raise DomainValidationError(
                {field: [f"자리표시자 {shown} 형식은 쓸 수 없습니다. {{이름}} 형태만 허용됩니다."]}
            )
        names.append(name)
    return names


def _check_placeholders(text: str, field: str) -> list[str]:
    names = placeholders_in(text, field)
    unknown = [n for n in dict.fromkeys(names) if n not in PLACEHOLDERS]
    if unknown:
        allowed = ", ".join(PLACEHOLDERS)
        raise DomainValidationError(
            {field: [f"알 수 없는 자리표시자: {', '.join('{' + n + '}' for n in unknown)}. 사용 가능: {allowed}"]}
        )
    return names


def check_sms_text(text: str, field: str = "body") -> None:
    """Refuse text EUC-KR cannot carry or longer than an LMS."""
    bad = unencodable_characters(text)
    if bad:
        raise DomainValidationError(
            {field: [f"문자 메시지로 보낼 수 없는 글자가 있습니다: {', '.join(_describe(c) for c in bad)}"]}
        )
    size = euc_kr_length(text)
    if size > LMS_MAX_BYTES:
        raise DomainValidationError(
            {field: [f"문자 메시지는 {LMS_MAX_BYTES:,}바이트(EUC-KR)까지 보낼 수 있습니다. 현재 {size:,}바이트입니다."]}
        )


ALIMTALK_MAX_CHARS = 1000  # Kakao's limit for an AlimTalk text


def template_validate(
    body: str, channel: str, subject: str = "", *, alimtalk: tuple[str, str] = ("", ""), fallback_body: str = ""
) -> None:
    """Validate a template's text for its channel; raises DomainValidationError naming the problem.

    The size check applies to the template text (placeholders as written); the rendered text is
    checked again at enqueue time. `alimtalk` is (template id, pfId): with a template id, the
    body is an AlimTalk text (any characters, at most 1,000) and `fallback_body`, the SMS/LMS
    sent when AlimTalk fails, is required and checked as SMS text.
    """
    body = body or ""
    subject = subject or ""
    template_id, pf_id = (value.strip() for value in alimtalk)
    if not body.strip():
        raise DomainValidationError({"body": ["본문을 입력해 주세요."]})
    _check_placeholders(body, "body")
    _check_placeholders(subject, "subject")
    if template_id or pf_id or (fallback_body or "").strip():
        if channel != "sms":
            raise DomainValidationError({"alimtalk_template_id": ["알림톡은 문자 채널 템플릿에만 쓸 수 있습니다."]})
        if not template_id or not pf_id:
            raise DomainValidationError(
                {"alimtalk_template_id": ["알림톡에는 템플릿 ID와 카카오 채널 ID(pfId)가 모두 필요합니다."]}
            )
        if len(body) > ALIMTALK_MAX_CHARS:
            raise DomainValidationError({"body": [f"알림톡 본문은 {ALIMTALK_MAX_CHARS:,}자까지입니다."]})
        if not (fallback_body or "").strip():
            raise DomainValidationError({"fallback_body": ["알림톡이 실패할 때 보낼 대체 문자 본문을 입력해 주세요."]})
        _check_placeholders(fallback_body, "fallback_body")
        check_sms_text(fallback_body, "fallback_body")
        check_sms_subject(subject)
    elif channel == "sms":
        check_sms_text(body, "body")
        check_sms_subject(subject)


def check_sms_subject(subject: str) -> None:
    """An LMS subject: EUC-KR, at most 40 bytes (20 Hangul)."""
    bad = unencodable_characters(subject or "")
    if bad:
        raise DomainValidationError(
            {"subject": [f"문자 메시지 제목에 쓸 수 없는 글자가 있습니다: {', '.join(_describe(c) for c in bad)}"]}
        )
    if euc_kr_length(subject or "") > LMS_SUBJECT_MAX_BYTES:
        raise DomainValidationError(
            {"subject": [f"문자 메시지 제목은 {LMS_SUBJECT_MAX_BYTES}바이트(한글 20자)까지입니다."]}
        )


class _Values(dict):
    """format_map mapping that refuses anything outside the allow-list (defence in depth)."""

    def __missing__(self, key):  # only reached for names the template uses but the context lacks
        raise KeyError(key)


def render(text: str, context: Mapping | None, *, channel: str, field: str = "body") -> str:
    """Render `text` with the allow-listed values of `context` (see the module docstring)."""
    if not text:
        return ""
    names = _check_placeholders(text, field)
    context = context or {}
    missing = [n for n in dict.fromkeys(names) if n not in context]
    if missing:
        raise DomainValidationError(
            {field: [f"템플릿에 필요한 값이 없습니다: {', '.join('{' + n + '}' for n in missing)}"]}
        )
    values = _Values()
    for name in names:
        value = context[name]
        value = "" if value is None else str(value)
        if channel == "sms":
            value = sms_safe(value)
        values[name] = value
    return text.format_map(values)
