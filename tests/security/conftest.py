"""Fixtures for the security regression tests (issue: hardening)."""

import pytest

from tests.api.conftest import KeyClient, _clean_throttle_cache, api, make_key  # noqa: F401


@pytest.fixture
def problem_json():
    def check(response, status):
        assert response.status_code == status, (response.status_code, response.content[:300])
        assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
        body = response.json()
        assert body["status"] == status
        return body

    return check
