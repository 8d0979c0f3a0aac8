"""schemathesis against the service's OpenAPI document: no 5xx and no response that violates the
schema, for generated requests to every operation (the SSE stream excepted: it never ends)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.api.service.support import ADMIN_KEY

schemathesis.experimental.OPEN_API_3_1.enable()  # FastAPI writes OpenAPI 3.1


@pytest.fixture
def db_env(sqlite_env) -> dict:
    """SQLite only: the schema does not depend on the backend (persistence runs on both elsewhere)."""
    return sqlite_env


@pytest.fixture
def api_schema(app_client, board):
    from tests.api.service.support import setup_board

    setup_board(app_client, board)
    return schemathesis.from_dict(app_client.app.openapi(), app=app_client.app).exclude(path="/v1/events")


schema = schemathesis.from_pytest_fixture("api_schema")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_no_schema_violations(case, app_client):
    case.headers = {**(case.headers or {}), "X-API-Key": ADMIN_KEY}
    resp = case.call(session=app_client)
    case.validate_response(resp, checks=(not_a_server_error, response_schema_conformance))
