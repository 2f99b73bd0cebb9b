"""Kind field schemas: validation of a ticket's details, and JSON Schema for API clients.

A schema is data (TicketKind.schema), shaped like:
    {"fields": [{"name", "label", "type", "required", "choices", "max_length", "min", "max",
                 "required_when": {"other_field": value | [values]}, "help"}],
     "rules": [{"rule": "date_order", "start": "a", "end": "b"},
               {"rule": "at_least_one", "fields": ["a", "b"]}],
     "required_refs": ["driver_id", ...]}
Types: text, textarea, int, bool, date, datetime, choice, multichoice, email, phone.
E-mail and phone fields are personal data: they are returned separately, to be stored
encrypted, and never go into the plain `details` column.
"""

import datetime as dt

from django.utils.dateparse import parse_date, parse_datetime

from cstrack import pii
from cstrack.errors import DomainValidationError
from tickets.validation import CONTACT_IN_TEXT

FIELD_TYPES = {"text", "textarea", "int", "bool", "date", "datetime", "choice", "multichoice", "email", "phone"}
PII_TYPES = {"email", "phone"}


def is_personal(field: dict) -> bool:
    """Stored encrypted in sensitive_details and purged with the contact: phone and e-mail
    fields, and any field the schema marks `"personal": true` (a person's name, say)."""
    return field.get("type") in PII_TYPES or bool(field.get("personal"))


def personal_field_names(schema: dict) -> set[str]:
    return {f["name"] for f in schema.get("fields", []) if is_personal(f)}


REFERENCE_FIELDS = {"member_id", "driver_id", "call_id", "vehicle_plate", "parking_lot"}
REF_LABELS = {
    "member_id": "회원 ID",
    "driver_id": "기사 ID",
    "call_id": "콜 ID",
    "vehicle_plate": "차량 번호",
    "parking_lot": "주차장",
}
REQUIRED = "필수 항목입니다."


def check_schema(schema: dict) -> list[str]:
    """Problems with a schema itself (used when an administrator edits a kind)."""
    problems = []
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        return ["스키마에는 fields 목록이 있어야 합니다."]
    if not all(isinstance(f, dict) for f in schema["fields"]):
        return ["fields의 각 항목은 객체여야 합니다."]
    names = set()
    for f in schema["fields"]:
        name = f.get("name")
        if not name or not isinstance(name, str):
            problems.append("이름 없는 필드가 있습니다.")
            continue
        if name in names:
            problems.append(f"필드 이름이 중복됩니다: {name}")
        names.add(name)
        if f.get("type") not in FIELD_TYPES:
            problems.append(f"{name}: 알 수 없는 형식 {f.get('type')!r}")
        if f.get("type") in {"choice", "multichoice"} and not f.get("choices"):
            problems.append(f"{name}: 선택지가 필요합니다.")
    for f in schema["fields"]:
        for other in f.get("required_when") or {}:
            if other not in names:
                problems.append(f"{f.get('name')}: required_when이 없는 필드 {other}를 가리킵니다.")
    for ref in schema.get("required_refs", []):
        if ref not in REFERENCE_FIELDS:
            problems.append(f"알 수 없는 참조 항목: {ref}")
    # A rule naming a field the schema lacks would silently never (or always) fire.
    for rule in schema.get("rules", []):
        kind = rule.get("rule") if isinstance(rule, dict) else None
        if kind == "date_order":
            targets = [rule.get("start"), rule.get("end")]
        elif kind == "at_least_one":
            targets = rule.get("fields") if isinstance(rule.get("fields"), list) and rule.get("fields") else [None]
        else:
            problems.append(f"알 수 없는 규칙: {kind!r}")
            continue
        for target in targets:
            if target not in names:
                problems.append(f"{kind}: 없는 필드 {target}를 가리킵니다.")
    return problems


def _is_blank(value):
    return value is None or value == "" or value == []


def _condition_met(cond: dict, data: dict) -> bool:
    for other, expected in cond.items():
        wanted = expected if isinstance(expected, list) else [expected]
        if data.get(other) not in wanted:
            return False
    return True


def _coerce(field: dict, value):
    """Return the clean value or raise ValueError with a Korean message."""
    kind = field["type"]
    if kind in {"text", "textarea"}:
        if not isinstance(value, str):
            raise ValueError("문자열이어야 합니다.")
        value = value.strip()
        limit = field.get("max_length", 200 if kind == "text" else 4000)
        if len(value) > limit:
            raise ValueError(f"{limit}자 이하로 입력해 주세요.")
        if not is_personal(field) and (found := pii.contact_in_text(value)):
            # Stored in clear and shown to every role: contact data belongs in the contact field.
            raise ValueError(CONTACT_IN_TEXT[found])
        return value
    # JSON types only (docs/api.md): the console's form turns its strings into these first
    # (tickets/console/forms.py), so the API's schema states exactly what is accepted.
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("정수(JSON 숫자)여야 합니다. 예: 3")
        try:
            number = int(value)
        except (ValueError, OverflowError):  # OverflowError: int(float("inf"))
            raise ValueError("정수(JSON 숫자)여야 합니다. 예: 3") from None
        if isinstance(value, float) and value != number:
            raise ValueError("정수(JSON 숫자)여야 합니다. 예: 3")
        if "min" in field and number < field["min"]:
            raise ValueError(f"{field['min']} 이상이어야 합니다.")
        if "max" in field and number > field["max"]:
            raise ValueError(f"{field['max']} 이하여야 합니다.")
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError("예/아니오 값(JSON true 또는 false)이어야 합니다.")
    if kind == "date":
        parsed = value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else None
        if parsed is None and isinstance(value, str):
            try:
                parsed = parse_date(value)
            except ValueError:
                parsed = None
        if parsed is None:
            raise ValueError("날짜 형식(YYYY-MM-DD)이어야 합니다.")
        return parsed.isoformat()
    if kind == "datetime":
        parsed = value if isinstance(value, dt.datetime) else None
        if parsed is None and isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise ValueError("시간대가 포함된 ISO 8601 일시여야 합니다. 예: 2026-11-22T14:30:00+09:00")
        return parsed.isoformat()
    if kind == "choice":
        allowed = [c[0] for c in field["choices"]]
        if value not in allowed:
            raise ValueError(f"허용되지 않는 값입니다. 선택지: {', '.join(allowed)}")
        return value
    if kind == "multichoice":
        allowed = [c[0] for c in field["choices"]]
        if not isinstance(value, list) or any(v not in allowed for v in value):
            raise ValueError(f"선택지 목록이어야 합니다. 선택지: {', '.join(allowed)}")
        return list(dict.fromkeys(value))
    if kind == "email":
        if not isinstance(value, str):
            raise ValueError("이메일 주소여야 합니다.")
        try:
            return pii.normalise_email(value)
        except DomainValidationError:
            raise ValueError("올바른 이메일 주소가 아닙니다.") from None
    if kind == "phone":
        if not isinstance(value, str):
            raise ValueError("전화번호여야 합니다.")
        try:
            # A kind's phone field is a number to call back on: a landline is fine there.
            return pii.normalise_phone(value, field="value", allow_landline=True)
        except DomainValidationError as exc:
            raise ValueError(exc.field_errors["value"][0]) from None
    raise ValueError("알 수 없는 형식입니다.")


def validate_details(schema: dict, data, refs: dict | None = None) -> tuple[dict, dict]:
    """Validate `data` against `schema`. Returns (plain_details, personal_details).

    Raises DomainValidationError with one entry per bad field, keyed "details.<name>" (and
    the reference field name for missing references).
    """
    if not isinstance(data, dict):
        raise DomainValidationError({"details": ["객체(JSON object)여야 합니다."]})
    errors: dict[str, list[str]] = {}
    fields = {f["name"]: f for f in schema.get("fields", [])}
    for unknown in sorted(set(data) - set(fields)):
        errors[f"details.{unknown}"] = ["이 유형에 없는 항목입니다."]

    # Coerce first, so a condition compares clean values ("true"/"on" from a form is True).
    coerced, bad = {}, {}
    for name, field in fields.items():
        if not _is_blank(data.get(name)):
            try:
                coerced[name] = _coerce(field, data[name])
            except ValueError as exc:
                bad[name] = str(exc)

    plain, personal = {}, {}
    for name, field in fields.items():
        value = data.get(name)
        required = field.get("required", False)
        if field.get("required_when"):
            required = _condition_met(field["required_when"], coerced)
        if _is_blank(value):
            if required:
                errors[f"details.{name}"] = [REQUIRED]
            continue
        if name in bad:
            errors[f"details.{name}"] = [bad[name]]
            continue
        clean = coerced[name]
        if required and field.get("must_be_true") and clean is not True:
            errors[f"details.{name}"] = ["안내 절차를 확인한 뒤 체크해 주세요."]
            continue
        (personal if is_personal(field) else plain)[name] = clean

    merged = {**plain, **personal}
    for rule in schema.get("rules", []):
        if rule.get("rule") == "date_order":
            start, end = merged.get(rule["start"]), merged.get(rule["end"])
            if start and end and end < start:
                errors.setdefault(f"details.{rule['end']}", []).append("시작일보다 빠를 수 없습니다.")
        elif rule.get("rule") == "at_least_one" and all(_is_blank(merged.get(n)) for n in rule["fields"]):
            labels = ", ".join(fields[n].get("label", n) for n in rule["fields"] if n in fields)
            errors.setdefault(f"details.{rule['fields'][0]}", []).append(f"다음 중 하나는 입력해 주세요: {labels}")
    for ref in schema.get("required_refs", []):
        if _is_blank((refs or {}).get(ref)):
            errors[ref] = [f"{REF_LABELS.get(ref, ref)}: {REQUIRED}"]
    if errors:
        raise DomainValidationError(errors)
    return plain, personal


def json_schema(schema: dict) -> dict:
    """The kind's field schema as JSON Schema (draft 2020-12), for API clients' forms."""
    props, required = {}, []
    for f in schema.get("fields", []):
        kind = f["type"]
        prop: dict = {"title": f.get("label", f["name"])}
        if f.get("help"):
            prop["description"] = f["help"]
        if kind in {"text", "textarea"}:
            prop.update(type="string", maxLength=f.get("max_length", 200 if kind == "text" else 4000))
        elif kind == "int":
            prop["type"] = "integer"
            if "min" in f:
                prop["minimum"] = f["min"]
            if "max" in f:
                prop["maximum"] = f["max"]
        elif kind == "bool":
            prop["type"] = "boolean"
        elif kind == "date":
            prop.update(type="string", format="date")
        elif kind == "datetime":
            prop.update(type="string", format="date-time")
        elif kind == "choice":
            prop.update(
                type="string", enum=[c[0] for c in f["choices"]], **{"x-labels": dict(map(tuple, f["choices"]))}
            )
        elif kind == "multichoice":
            prop.update(type="array", items={"type": "string", "enum": [c[0] for c in f["choices"]]})
        elif kind == "email":
            prop.update(type="string", format="email", **{"x-personal-data": True})
        elif kind == "phone":
            prop.update(type="string", **{"x-personal-data": True})
        if f.get("required_when"):
            prop["x-required-when"] = f["required_when"]
        props[f["name"]] = prop
        if f.get("required") and not f.get("required_when"):
            required.append(f["name"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
        "x-required-references": schema.get("required_refs", []),
    }
