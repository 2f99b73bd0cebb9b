from tests.conftest import PENALTY_DETAILS
from tests.seedcodes import seed

PROBLEM = "application/problem+json"


def penalty_body(**overrides):
    body = {
        "kind": seed("driver-penalty-request"),
        "details": dict(PENALTY_DETAILS),
        "driver_id": "DRV-100",
        "call_id": "CALL-1",
        "customer_phone": "010-1234-5678",
        "consent_basis": "newly_collected",
    }
    body.update(overrides)
    return body


def assert_problem(response, status, code=None, field=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code", "errors"} <= set(body)
    if code:
        assert body["code"] == code, body
    if field:
        assert field in body["errors"], body
    return body
