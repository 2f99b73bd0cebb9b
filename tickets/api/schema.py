"""OpenAPI: problem-details responses on every operation, Idempotency-Key / If-Match headers,
and the API-key security schemes."""

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
        codes = {"400", "401", "403", "406", "429"}
        if "{" in self.path:
            codes.add("404")
        if self.method in ("POST", "PATCH", "PUT", "DELETE"):
            codes |= {"409", "413", "415"}  # 413: a body over the upload limit (tickets/api/fallbacks.py)
        if self.method == "POST":
            codes.add("422")
        if self.method == "PATCH":
            codes |= {"412", "428"}
        for code in sorted(codes):
            if code not in responses:
                responses[code] = self._get_response_for_code(ProblemSerializer, code, [PROBLEM_MEDIA], direction)
        return responses


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
