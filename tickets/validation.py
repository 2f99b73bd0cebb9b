"""Input checks every service shares: column lengths and NUL characters (which PostgreSQL
cannot store), answered as field errors instead of a database error; and no contact data in
free text (a number typed into a title or a note would be stored in clear and shown to every
role, around the encrypted contact field and its audited reveal)."""

from cstrack import pii
from cstrack.errors import DomainValidationError

CONTACT_IN_TEXT = {
    "phone": "전화번호는 이 칸에 적을 수 없습니다. 고객 연락처 칸에 입력해 주세요: "
    "그곳의 번호는 암호화해 저장하고 수집 동의를 함께 기록합니다.",
    "email": "이메일 주소는 이 칸에 적을 수 없습니다. 고객 연락처(이메일) 칸에 입력해 주세요: "
    "그곳의 주소는 암호화해 저장하고 수집 동의를 함께 기록합니다.",
}


def contact_errors(values: dict) -> dict[str, list[str]]:
    """A field error per free-text value that holds a phone number or an e-mail address."""
    errors = {}
    for name, value in values.items():
        if found := pii.contact_in_text(value):
            errors[name] = [CONTACT_IN_TEXT[found]]
    return errors


def refuse_contact_in_text(values: dict) -> None:
    if errors := contact_errors(values):
        raise DomainValidationError(errors)


def length_errors(model, values: dict[str, str]) -> dict[str, list[str]]:
    """A clear error per text longer than its column (PostgreSQL would refuse it with a 500)."""
    errors = {}
    for name, value in values.items():
        limit = model._meta.get_field(name).max_length
        if len(value) > limit:
            errors[name] = [f"{limit}자 이하로 입력해 주세요."]
    return errors


def nul_fields(values: dict, prefix: str = "") -> list[str]:
    """Fields holding a NUL character (PostgreSQL text and jsonb cannot store one)."""
    found = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if (isinstance(value, str) and "\x00" in value) or (isinstance(key, str) and "\x00" in key):
            found.append(name)
        elif isinstance(value, dict):
            found += nul_fields(value, f"{name}.")
        elif isinstance(value, list | tuple):
            found += nul_fields(dict(enumerate(value)), f"{name}.")
    return found


def refuse_nul(values: dict) -> None:
    if bad := nul_fields(values):
        raise DomainValidationError({name: ["NUL 문자는 입력할 수 없습니다."] for name in bad})


def not_a_choice(value, choices) -> list[str]:
    """The error for a value outside `choices` ([(value, label)] pairs or a TextChoices class),
    naming the choices by their labels: staff never see the stored codes."""
    pairs = choices.choices if hasattr(choices, "choices") else choices
    labels = ", ".join(str(label) for _value, label in pairs)
    if value in (None, "", []):
        return [f"목록에서 골라 주세요. 선택지: {labels}"]
    return [f"허용되지 않는 값입니다. 선택지: {labels}"]
