"""Property-based requests from /openapi.json (schemathesis), in-process: whatever a
client sends, the API never answers with a server error (SQLite; bounded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from pars.store.db import Store
from tests.test_gate_fixtures import World, make_world


@pytest.fixture
def fuzz_world(sqlite_store: Store, tmp_path: Path) -> Iterator[World]:
    w = make_world(sqlite_store, tmp_path)
    yield w
    w.client.close()


def _who(path: str) -> str:
    if path.startswith(("/v1/bookings", "/v1/agreements")):
        return "custodian"
    if path.startswith(("/v1/audit", "/v1/oversight")):
        return "oversight"
    return "ice"  # ICE has no feed: /v1/feed answers 403 at once instead of streaming


def test_no_server_errors(fuzz_world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=fuzz_world.auth(_who(case.operation.path)))
            assert response.status_code < 500, (case.operation.path, response.text)
            if response.status_code >= 400 and response.headers.get("content-type") == "application/json":
                assert set(response.json()["error"]) == {"code", "message", "rule"}

        check()
