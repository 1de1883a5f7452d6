"""Shared set-up for the gate, web and feed tests (no tests of its own).

A ``World`` is a migrated store (SQLite or PostgreSQL) with three arrests, the
ICE and FBI agreements approved, log keys in a temporary directory, a FixedClock
inside both terms, the app, and one token per role.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
import rfc8785
import yaml
from fastapi import FastAPI

from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import AuditLog, create_keys, leaf_hash, verify_checkpoint, verify_inclusion
from pars.clock import FixedClock
from pars.gate import Gate, Principal, admin_event_recorder, issue_token
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.web.app import create_app
from tests.factories import approve_as, arrest, person, register_parties

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"
EDT = timezone(timedelta(hours=-4))
NOW = datetime(2018, 6, 15, 12, 0, tzinfo=EDT)
ICE_END = datetime(2018, 8, 31, 23, 59, 59, tzinfo=EDT)
SSN = "923-45-6789"


def graded(n: int, grade: str, **person_fields: Any) -> dict[str, Any]:
    ev = arrest(
        n,
        person=person(
            f"Doe{n}",
            "Jan",
            dob="1990-02-03",
            ssn=SSN,
            country_of_origin="US",
            sex="F",
            race="W",
            address="12 N 5th St",
            **person_fields,
        ),
    )
    ev["charges"] = [{"seq": 1, "statute": "18 § 2702", "description": "Aggravated assault", "grade": grade}]
    return ev


#: In ICE's scope (felonies); out of it (a misdemeanour); in it, born abroad.
EVENTS = [graded(1, "F1"), graded(2, "M2"), graded(3, "F2")]
EVENTS[2]["parties"][0]["person"]["country_of_origin"] = "MX"


def agreement(name: str, **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw.update(changes)
    return raw


class TestClient:
    """A synchronous client over ``httpx.ASGITransport`` (the app in-process, no server).

    Safe to call from many threads at once: every call runs on one event loop.
    """

    __test__ = False

    def __init__(self, app: FastAPI, *, raise_app_exceptions: bool = True) -> None:
        self._cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._cm.__enter__()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://pars.test")

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            return await self._client.request(method, url, **kw)

        return self._portal.call(call)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._cm.__exit__(None, None, None)


@dataclass
class World:
    store: Store
    clock: FixedClock
    log: AuditLog
    app: FastAPI
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def gate(self) -> Gate:
        gate: Gate = self.app.state.pars.gate
        return gate

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def search(self, who: str, body: Any, **kw: Any) -> Any:
        return self.client.post("/v1/search", json=body, headers=self.auth(who), **kw)

    def read(self, who: str, arrest_id: str, **params: str) -> Any:
        return self.client.get(f"/v1/arrests/{arrest_id}", params=params, headers=self.auth(who))

    def ingest(self, *events: Mapping[str, Any]) -> None:
        ingest_lines(self.store, [(i, json.dumps(e)) for i, e in enumerate(events, 1)], clock=self.clock)

    def apply(self, raw: dict[str, Any], approvers: tuple[str, ...] = ("courts", "police")) -> None:
        rec = admin_event_recorder(self.log)
        apply_document(self.store, self.clock, parse_document(raw), by="clerk", record_admin_event=rec)
        for role in approvers:
            approve_as(self.store, self.clock, raw["id"], role, rec)

    def token(self, name: str, role: str, user: str, agreement_id: str | None = None) -> str:
        tok, _ = issue_token(
            self.store,
            self.clock,
            role=role,
            user=user,
            agreement_id=agreement_id,
            record_admin_event=admin_event_recorder(self.log),
        )
        self.tokens[name] = tok
        return tok


ICE_SEARCH = {"purpose": "C", "case_number": "HSI-1", "justification": "removal proceedings"}
ICE_READ = {"purpose": "C", "case_number": "HSI-1", "justification": "removal proceedings"}


def rate_limited(w: World) -> tuple[dict[str, Any], Principal, Principal]:
    """ICE's agreement again as ``ice-rl``, limited to 3 requests a minute, applied (its document
    returned), and two of its users, a and b (tokens ``rl-a`` and ``rl-b``), with the clock at NOW."""
    raw = agreement("ice-2017", id="ice-rl", search={**agreement("ice-2017")["search"]})
    raw["search"]["rate_limit"] = {"requests": 3, "per": "minute"}
    w.apply(raw)
    w.clock.set(NOW)
    w.token("rl-a", "partner", "a", "ice-rl")
    w.token("rl-b", "partner", "b", "ice-rl")
    return raw, w.gate.authenticate(w.tokens["rl-a"]), w.gate.authenticate(w.tokens["rl-b"])


def make_world(store: Store, tmp_path: Path, **app_kw: Any) -> World:
    keys, _ = create_keys(tmp_path / "keys")
    clock = FixedClock(NOW - timedelta(days=400))  # agreements applied before their terms
    log = AuditLog(keys, clock, checkpoint_interval=0)  # readers see every entry at once
    app = create_app(store, clock, audit_log=log, **app_kw)
    w = World(store, clock, log, app, TestClient(app))
    # courts and the police register their keys; the DA has not (yet)
    register_parties(store, clock, admin_event_recorder(log), ("courts", "police"))
    w.apply(agreement("ice-2017"))
    w.apply(agreement("fbi-2017", approvals={"required": 2, "of": ["courts", "police", "district_attorney"]}))
    clock.set(NOW)
    w.ingest(*EVENTS)
    w.token("ice", "partner", "agent7", "ice-2017")
    w.token("ice2", "partner", "agent8", "ice-2017")
    w.token("fbi", "partner", "sa1", "fbi-2017")
    w.token("custodian", "custodian", "records-clerk")
    w.token("oversight", "oversight", "inspector")
    return w


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:
    w = make_world(store, tmp_path)
    yield w
    w.client.close()


def walk_keys(value: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key path in a JSON value (list items share their list's path)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            yield path
            yield from walk_keys(v, path)
    elif isinstance(value, list):
        for v in value:
            yield from walk_keys(v, prefix)


def verify_receipt(client: TestClient, headers: Mapping[str, str], receipt: Mapping[str, Any]) -> int:
    """Check a receipt as a partner would, with the two proof routes; returns its index."""
    key = client.get("/v1/audit/key", headers=headers).text
    lh = leaf_hash(rfc8785.dumps(receipt["entry"]))
    assert lh.hex() == receipt["leaf_hash_hex"]
    _origin, size, root = verify_checkpoint(receipt["checkpoint"], key)
    index = int(receipt["leaf_index"])
    assert size > index
    proof = client.get(f"/v1/audit/proof/inclusion?index={index}&size={size}", headers=headers).json()
    assert verify_inclusion(lh, index, size, [bytes.fromhex(p) for p in proof["proof_hex"]], root)
    return index
