"""Property-based requests from /openapi.json (schemathesis), in-process: whatever a
client sends, the API never answers with a server error (SQLite; bounded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

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
    operations = []
    for found in schema.get_all_operations():
        assert isinstance(found, Ok), found  # an operation the schema cannot describe is a failure
        operations.append(found.ok())
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


def test_stateful_search_then_read_its_own_entry(fuzz_world: World) -> None:
    """Schemathesis follows the receipt links: a partner's search (any body) and then its own
    entry by the receipt's index. Every answer is under 500, every search answer carries a
    receipt, and the entry it names is readable by the same user, texts beside it."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)
    machine = schema.as_state_machine()
    seen: list[str] = []

    class Partner(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": fuzz_world.auth(_who(case.operation.path))}

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            path = case.operation.path
            seen.append(path)
            assert response.status_code < 500, (path, response.text)
            if path == "/v1/search" and response.status_code != 401:  # 401: no agreement to log under
                assert "receipt" in response.json(), response.text
            if path == "/v1/audit/entries/{index}" and response.status_code == 200:
                assert set(response.json()) == {"index", "entry", "texts"}

    Partner.run(
        settings=settings(
            max_examples=10,
            stateful_step_count=3,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
    assert "/v1/search" in seen and "/v1/audit/entries/{index}" in seen, sorted(set(seen))
