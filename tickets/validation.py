"""Input checks every service shares: column lengths and NUL characters (which PostgreSQL
cannot store), answered as field errors instead of a database error."""

from cstrack.errors import DomainValidationError


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
