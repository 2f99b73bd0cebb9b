"""OpenAPI: problem-details responses on every operation, Idempotency-Key / If-Match headers,
and the API-key security schemes."""

from django.db import DatabaseError
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

PROBLEM_MEDIA = "application/problem+json"


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="urn:cstrack:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    instance = serializers.CharField(required=False)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name (nested with dots, e.g. details.incident_date) → messages.",
    )

    class Meta:
        ref_name = "Problem"


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Retry-safe POST: the same key and body return the stored response (kept 24 h). "
    "Same key with another body: 422; while the first request runs: 409.",
)
IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the ticket as last read, e.g. "3". Missing: 428; stale: 412.',
)


class ApiAutoSchema(AutoSchema):
    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if self.method == "POST":
            params.append(IDEMPOTENCY_PARAMETER)
        if self.method == "PATCH":
            params.append(IF_MATCH_PARAMETER)
        return params

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, when in sorted(problem_statuses(self.method, self.path).items()):
            if code not in responses:
                responses[code] = self._get_response_for_code(ProblemSerializer, code, [PROBLEM_MEDIA], direction)
                responses[code]["description"] = when
        return responses


# The 4xx each operation really answers, all application/problem+json (tickets/api/errors.py):
# the one place the schema's error responses come from.
PROBLEMS_EVERYWHERE = {
    "400": "A NUL in a query value (base._reject_nul), a bad filter, cursor, page_size or body.",
    "401": "No or wrong credentials.",
    "403": "A scope, role or board the caller lacks.",
    "406": "An Accept header the view cannot answer.",
    "429": "Over the key's rate.",
}
# A body is read and parsed on POST and PATCH only (base.ApiViewSet.initial): 413 and 415 there.
PROBLEMS_BY_METHOD = {
    "POST": {
        "409": "The Idempotency-Key's first request still runs, or the object's state forbids this.",
        "413": "A body over the upload limit.",
        "415": "A body type the view cannot parse.",
        "422": "The Idempotency-Key was used before with another body.",
    },
    "PATCH": {
        "409": "The ticket is closed or cancelled.",
        "412": "A stale If-Match.",
        "413": "A body over the upload limit.",
        "415": "A body type the view cannot parse.",
        "428": "No If-Match.",
    },
}
NOT_FOUND = "No such object, or one the caller may not see (the same answer)."


def problem_statuses(method: str, path: str) -> dict[str, str]:
    """Status -> when, for one operation. 404 where the path names an object."""
    statuses = {**PROBLEMS_EVERYWHERE, **PROBLEMS_BY_METHOD.get(method.upper(), {})}
    return statuses | ({"404": NOT_FOUND} if "{" in path else {})


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tickets.api.auth.ApiKeyAuthentication"
    name = ["ApiKeyBearer", "ApiKeyHeader"]

    def get_security_requirement(self, auto_schema):
        return [{"ApiKeyBearer": []}, {"ApiKeyHeader": []}]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer cst_<prefix>_<secret>"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tickets.api.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


# --- Rules the server enforces on every request, written into the schema ------------------------

# NUL cannot be stored (PostgreSQL text) and is refused anywhere in a query or body (base.py).
NO_NUL = "^[^\\x00]*$"
# A required text field: DRF trims it, so it needs one character that is not white space.
NOT_BLANK = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
# A date-time filter in the years 0002-9998: at 0001 or 9999 an offset can carry it outside what
# a datetime holds when filters.UtcIsoDateTimeField moves it to UTC (a 400).
FILTER_YEARS = "^(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[\\x21-\\x7e](?:[\\x20-\\x7e]*[\\x21-\\x7e])?$",  # printable ASCII, no outer spaces
}


def _query_rules():
    from .filters import PHONE_HASH  # the filter's own pattern: one source

    return {
        "page_size": {"type": "integer", "minimum": 1},  # base.CursorPagination refuses 0; caps at 200
        "phone_hash": {"type": "string", "pattern": f"^(?:{PHONE_HASH.pattern})?$"},  # empty: no filter
    }


def _text_rules(schema):
    """Walk a request schema: every free string gets the NUL rule (the blank rule when required
    non-empty). Keys of free-form objects cannot carry it: OpenAPI 3.0 has no propertyNames."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not ({"pattern", "format", "enum"} & schema.keys()):
        schema["pattern"] = NOT_BLANK if schema.get("minLength", 0) >= 1 else NO_NUL
    for key in ("properties", "patternProperties"):
        for child in (schema.get(key) or {}).values():
            _text_rules(child)
    for key in ("items", "additionalProperties"):
        _text_rules(schema.get(key))
    for key in ("oneOf", "anyOf", "allOf"):
        for child in schema.get(key) or []:
            _text_rules(child)


def empty_means_absent(path, operation) -> set[str]:
    """Query parameters an empty value leaves out (`?status=&created_after=`): a list's filters
    (django-filter skips empty values) and its cursor (empty decodes to the first page). Not
    page_size (an empty one is not a number: 400), multiple-choice filters (an empty choice is
    refused), nor the reports' own parameters."""
    if path.startswith("/api/v1/reports/"):
        return {"cursor"}
    return {
        p["name"]
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("schema", {}).get("type") != "array"  # multiple choice: refused
    } - {"page_size"}


# --- A new ticket per kind: each active kind's field schema (tickets/kinds/schema.py) as a branch --


def _filled(schema: dict, field: dict | None = None) -> dict:
    """A value the server does not treat as blank ("", [] and null mean absent); a required
    must_be_true box must be ticked."""
    if (field or {}).get("must_be_true"):
        return {**schema, "enum": [True]}
    if schema.get("type") == "string" and "enum" not in schema:
        return {**schema, "minLength": 1, "pattern": NOT_BLANK}
    if schema.get("type") == "array":
        return {**schema, "minItems": 1}
    return schema


def _absent_or_blank(schema: dict) -> dict:
    return {"maxLength": 0} if schema.get("type") == "string" and "enum" not in schema else {"not": {}}


def _details_schema(kind_schema: dict) -> dict:
    """The kind's JSON Schema (GET /api/v1/kinds/{code}/) in OpenAPI 3.0 terms, with the rules
    across its fields that 3.0 can state: required_when and at_least_one as anyOf."""
    from tickets.kinds.schema import json_schema

    details = {k: v for k, v in json_schema(kind_schema).items() if k != "$schema"}
    props = details["properties"]
    rules = []
    for field in kind_schema.get("fields", []):
        name = field["name"]
        if name in details["required"]:
            props[name] = _filled(props[name], field)
        if when := field.get("required_when"):
            # Required when every named field holds one of its values: some condition fails, or it is filled.
            misses = []
            for other, expected in when.items():
                wanted = expected if isinstance(expected, list) else [expected]
                misses += [{"not": {"required": [other]}}, {"properties": {other: {"not": {"enum": wanted}}}}]
            rules.append({"anyOf": [*misses, {"required": [name], "properties": {name: _filled(props[name], field)}}]})
    for rule in kind_schema.get("rules", []):
        if rule.get("rule") == "at_least_one":
            rules.append({"anyOf": [{"required": [n], "properties": {n: _filled(props[n])}} for n in rule["fields"]]})
    if rules:
        details["allOf"] = rules
    return details


def _create_consent_rules(personal: list[str], details: dict) -> list[dict]:
    """tickets/privacy/consent.apply_contact as schema: contact data (phone, e-mail, a personal
    detail) needs a basis other than verify_only; existing_member needs member_id; a delegation
    names the caller and the relation."""
    from tickets.models import ConsentBasis

    no_contact = {
        "properties": {
            "customer_phone": {"maxLength": 0},
            "customer_email": {"maxLength": 0},
            "details": {"properties": {n: _absent_or_blank(details["properties"][n]) for n in personal}},
        }
    }
    storing = [b for b in ConsentBasis.values if b != ConsentBasis.VERIFY_ONLY]
    filled = {"type": "string", "minLength": 1, "pattern": NOT_BLANK}

    def named(*names):
        return {"required": list(names), "properties": dict.fromkeys(names, filled)}

    return [
        {"anyOf": [no_contact, {"required": ["consent_basis"], "properties": {"consent_basis": {"enum": storing}}}]},
        _with_basis("consent_basis", ConsentBasis.EXISTING_MEMBER, named("member_id")),
        _with_basis("consent_basis", ConsentBasis.THIRD_PARTY_DELEGATED, named(*DELEGATION_NAMES)),
    ]


# A delegated basis names who delegated and how they are related (consent.apply_contact).
DELEGATION_NAMES = ("delegation_caller", "delegation_relation")


def _with_basis(field: str, basis: str, then: dict) -> dict:
    """`then` holds whenever the consent basis in `field` is `basis`."""
    return {"anyOf": [{"properties": {field: {"not": {"enum": [basis]}}}}, then]}


def ticket_create_branches(kinds) -> list[dict]:
    """One branch per active kind: its code, its details, its required references, its consent."""
    from tickets.kinds.schema import personal_field_names

    branches = []
    for code, kind_schema in kinds:
        details = _details_schema(kind_schema)
        refs = kind_schema.get("required_refs", [])
        branches.append(
            {
                "type": "object",
                "title": code,
                "required": ["kind", "details", *refs],
                "properties": {
                    "kind": {"type": "string", "enum": [code]},
                    "details": details,
                    **{ref: {"type": "string", "minLength": 1, "pattern": NOT_BLANK} for ref in refs},
                },
                "allOf": _create_consent_rules(sorted(personal_field_names(kind_schema)), details),
            }
        )
    return branches


def outcome_rules(outcome: dict, kinds) -> None:
    """An outcome is one of the ticket's kind's outcomes: here, one of any active kind's (the
    ticket's kind is data behind the path). A value that needs a reason in a kind needs one here."""
    values = list(dict.fromkeys(value for kind in kinds for value, _label in kind.outcomes))
    needing = {value for kind in kinds for value in kind.outcomes_needing_reason}
    outcome["properties"]["outcome"] = {**outcome["properties"]["outcome"], "enum": values}
    if needing:
        reason = {"type": "string", "minLength": 1, "pattern": NOT_BLANK}
        outcome["anyOf"] = [
            {"properties": {"outcome": {"enum": [v for v in values if v not in needing]}}},
            {"required": ["reason"], "properties": {"reason": reason}},
        ]


def request_shapes_hook(result, generator, request, public):
    """drf-spectacular postprocessing: what a serializer field cannot say. A new ticket's kind is
    one of the active kinds now (the schema is generated per request; kinds are data), and an
    assignment names an assignee or a board (tickets/api/views.py)."""
    from tickets.kinds.services import active_kinds_with_schema

    schemas = result.get("components", {}).get("schemas", {})
    try:
        kinds = active_kinds_with_schema()
    except DatabaseError:  # `manage.py spectacular` on a machine without the database
        kinds = None
    if (create := schemas.get("TicketCreateRequest")) and kinds is not None:
        create["properties"]["kind"] = {**create["properties"]["kind"], "enum": [kind.code for kind in kinds]}
        create["oneOf"] = ticket_create_branches([(kind.code, kind.schema) for kind in kinds])
    if (outcome := schemas.get("OutcomeRequest")) and kinds is not None:
        outcome_rules(outcome, kinds)
    if update := schemas.get("PatchedTicketUpdateRequest"):
        update["additionalProperties"] = False  # ticket_update refuses any other field
    if assignment := schemas.get("AssignmentRequest"):
        assignment["anyOf"] = [{"required": ["assignee"]}, {"required": ["board"]}]
    if consent := schemas.get("ConsentRequest"):
        consent["allOf"] = _consent_rules()
    if delegation := schemas.get("DelegationCreateRequest"):  # delegation.delegation_record
        delegation["anyOf"] = [
            {"properties": {"third_party_is_member": {"enum": [True]}}},
            {"required": ["third_party_consented"], "properties": {"third_party_consented": {"enum": [True]}}},
        ]
    return result


def _consent_rules() -> list[dict]:
    """What consent.apply_contact refuses in the request itself (a basis the ticket's stored
    data rules out is a 409): verify_only carries no contact; third_party_delegated names the
    delegating caller and the relation."""
    from tickets.models import ConsentBasis

    blank = {"type": "string", "pattern": "^\\s*$"}  # DRF trims: white space is empty
    named = {"type": "string", "pattern": NOT_BLANK}
    return [
        _with_basis(
            "basis", ConsentBasis.VERIFY_ONLY.value, {"properties": {"customer_phone": blank, "customer_email": blank}}
        ),
        _with_basis(
            "basis",
            ConsentBasis.THIRD_PARTY_DELEGATED.value,
            {"required": list(DELEGATION_NAMES), "properties": dict.fromkeys(DELEGATION_NAMES, named)},
        ),
    ]


def request_rules_hook(result, generator, request, public):
    """drf-spectacular postprocessing: request components (COMPONENT_SPLIT_REQUEST) and query
    parameters say what base.py refuses for every operation."""
    query_rules = _query_rules()
    schemas = result.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        if name.endswith("Request"):
            _text_rules(schema)
    for path, path_item in result.get("paths", {}).items():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "Idempotency-Key":
                    parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)
                elif parameter["in"] == "query" and parameter["name"] in query_rules:
                    parameter["schema"] = {**parameter["schema"], **query_rules[parameter["name"]]}
                elif parameter["in"] == "query" and parameter.get("schema", {}).get("format") == "date-time":
                    parameter["schema"] = {**parameter["schema"], "pattern": FILTER_YEARS}
                elif parameter["in"] == "query":
                    _text_rules(parameter.get("schema"))
                if parameter["in"] == "query" and parameter["name"] in empty_means_absent(path, operation):
                    parameter["allowEmptyValue"] = True
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if "$ref" not in media.get("schema", {}):
                    _text_rules(media.get("schema"))
    return result


# --- OpenAPI links: what a created resource's answer lets a client call next --------------------

_TICKET = {"reference": "$response.body#/reference"}
_LINKS = {
    ("/api/v1/tickets/", "post", "201"): {
        "GetTicket": ("v1_tickets_retrieve", _TICKET),
        "UpdateTicket": ("v1_tickets_partial_update", {**_TICKET, "header.If-Match": "$response.header.ETag"}),
        "MoveTicket": ("v1_tickets_transitions_create", _TICKET),
        "RecordOutcome": ("v1_tickets_outcome_create", _TICKET),
        "LogReContact": ("v1_tickets_recontacts_create", _TICKET),
        "AssignTicket": ("v1_tickets_assignment_create", _TICKET),
        "RecordConsent": ("v1_tickets_consent_create", _TICKET),
        "ListAttachments": ("v1_tickets_attachments_list", _TICKET),
        "ListDelegations": ("v1_tickets_delegations_list", _TICKET),
        "RecordDelegation": ("v1_tickets_delegations_create", _TICKET),
        "ListFollowUps": ("v1_followups_list", {"ticket": "$response.body#/reference"}),
    },
    ("/api/v1/tickets/{reference}/delegations/", "post", "201"): {
        "RevealDelegationNumber": (
            "v1_tickets_delegations_contact_number_create",
            {"reference": "$request.path.reference", "delegation_id": "$response.body#/id"},
        ),
    },
    ("/api/v1/tickets/{reference}/attachments/", "post", "201"): {
        "GetAttachment": ("v1_attachments_retrieve", {"id": "$response.body#/id"}),
        "DownloadAttachment": ("v1_attachments_content_retrieve", {"id": "$response.body#/id"}),
    },
    ("/api/v1/webhooks/", "post", "201"): {
        "GetSubscription": ("v1_webhooks_retrieve", {"id": "$response.body#/id"}),
        "RotateSecret": ("v1_webhooks_rotate_secret_create", {"id": "$response.body#/id"}),
        "Unsubscribe": ("v1_webhooks_destroy", {"id": "$response.body#/id"}),
    },
}


def links_hook(result, generator, request, public):
    """drf-spectacular postprocessing: OpenAPI links from each create to the calls that use what
    it returned (clients and stateful testing follow them)."""
    paths = result.get("paths", {})
    for (path, method, status), links in _LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {"operationId": operation_id, "parameters": dict(parameters)}
            for name, (operation_id, parameters) in links.items()
            if any(op.get("operationId") == operation_id for item in paths.values() for op in item.values())
        }
    return result
