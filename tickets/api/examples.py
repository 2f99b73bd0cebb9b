"""An example create-ticket request for each kind, built from the kind's field schema.

Served with each kind (`GET /api/v1/kinds/`) and as OpenAPI examples on `POST /api/v1/tickets/`
(from the shipped defaults, since the schema document is generated without a request)."""

from drf_spectacular.utils import OpenApiExample

from tickets.kinds.schema import personal_field_names

SAMPLE_TEXT = {"text": "예시 입력", "textarea": "고객 요청 내용을 여기에 적습니다."}
SAMPLE_REFS = {
    "member_id": "M-100200",
    "driver_id": "DRV-3001",
    "call_id": "CALL-20261120-0042",
    "vehicle_plate": "12가3456",
    "parking_lot": "강남역 1주차장",
}


def _sample(field: dict, index: int = 0):
    kind = field["type"]
    if kind in SAMPLE_TEXT:
        return SAMPLE_TEXT[kind][: field.get("max_length", 200)]
    if kind == "int":
        return max(field.get("min", 1), 1) if "max" not in field else field.get("min", 0)
    if kind == "bool":
        return True
    if kind == "date":
        return "2026-11-20" if index == 0 else "2026-11-21"
    if kind == "datetime":
        return "2026-11-20T14:30:00+09:00"
    if kind == "choice":
        return field["choices"][0][0]
    if kind == "multichoice":
        return [field["choices"][0][0]]
    if kind == "email":
        return "customer@example.com"
    if kind == "phone":
        return "010-1234-5678"
    return None


def example_details(schema: dict) -> dict:
    fields = {f["name"]: f for f in schema.get("fields", [])}
    details = {}
    dates = 0
    for name, field in fields.items():
        if field.get("required") and not field.get("required_when"):
            details[name] = _sample(field, dates)
            dates += field["type"] == "date"
    for rule in schema.get("rules", []):
        if rule.get("rule") == "at_least_one" and not any(n in details for n in rule["fields"]):
            first = rule["fields"][0]
            details[first] = _sample(fields[first])
    for _round in range(3):  # fields required by other fields' values
        for name, field in fields.items():
            cond = field.get("required_when")
            if not cond or name in details:
                continue
            if all(details.get(o) in (v if isinstance(v, list) else [v]) for o, v in cond.items()):
                details[name] = _sample(field)
    return details


def example_request(kind_code: str, schema: dict) -> dict:
    details = example_details(schema)
    body = {"kind": kind_code, "details": details, "channel": "phone", "call_id": SAMPLE_REFS["call_id"]}
    for ref in schema.get("required_refs", []):
        body[ref] = SAMPLE_REFS[ref]
    personal = bool(personal_field_names(schema) & set(details))
    body["customer_phone"] = "010-1234-5678"
    if personal or body.get("customer_phone"):
        body["consent_basis"] = "newly_collected"
    return body


def openapi_examples() -> list[OpenApiExample]:
    from tickets.kinds.defaults import KINDS

    return [
        OpenApiExample(
            spec["code"],
            summary=spec["name"],
            value=example_request(spec["code"], spec["schema"]),
            request_only=True,
        )
        for spec in KINDS
    ]
