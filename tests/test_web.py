"""The HTTP API in-process (httpx.ASGITransport), on SQLite and PostgreSQL: every
status of CONTRACT section 4, receipts that verify, nothing withheld leaking, the
error body, custodian and audit routes, hardening."""

from __future__ import annotations

import inspect
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from pars.audit import AuditLog, AuditWriteError, log_size, verify_log
from pars.audit.texts import opened, with_texts
from pars.store.db import Store
from pars.web.app import create_app
from tests.factories import arrest, sign_approval_note
from tests.test_gate_fixtures import (
    ICE_READ,
    ICE_SEARCH,
    SSN,
    TestClient,
    World,
    agreement,
    make_world,
    verify_receipt,
    walk_keys,
    world,
)

__all__ = ["world"]

ERROR_KEYS = {"code", "message", "rule"}


def size(w: World) -> int:
    with w.store.read() as conn:
        return log_size(conn)


def assert_error(resp: Any, status: int, *, logged: bool) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body["error"]) == ERROR_KEYS
    assert ("receipt" in body) is logged
    assert "Traceback" not in resp.text
    return dict(body)


def test_search_allowed_redacted_masked_and_receipted(world: World) -> None:
    r = world.search("ice", {**ICE_SEARCH, "filters": {"grade": ["F1", "F2"]}, "sort": ["arrest_id"]})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2 == len(body["results"])
    assert [x["arrest_id"] for x in body["results"]] == ["A-2018-000001", "A-2018-000003"]
    rec = body["results"][0]
    assert rec["person"]["ssn"] == "***-**-6789"
    assert "custody" not in rec and "parties" not in rec
    keys = set(walk_keys(body["results"]))
    assert not {"person.country_of_origin", "person.address", "person.race", "parties"} & keys
    assert SSN not in r.text and "MX" not in json.dumps(body["results"])
    entry = body["receipt"]["entry"]
    assert entry["arrest_ids"] == ["A-2018-000001", "A-2018-000003"] and entry["status"] == 200
    verify_receipt(world.client, world.auth("ice"), body["receipt"])


def test_read_allowed(world: World) -> None:
    r = world.read("ice", "A-2018-000003", **ICE_READ)
    assert r.status_code == 200
    assert r.json()["record"]["arrest_id"] == "A-2018-000003"
    assert "country_of_origin" not in r.text and SSN not in r.text
    verify_receipt(world.client, world.auth("ice"), r.json()["receipt"])


def test_no_withheld_key_anywhere_in_any_ice_response(world: World) -> None:
    responses = [
        world.search("ice", {**ICE_SEARCH}),
        world.search("ice", {**ICE_SEARCH, "filters": {"country_of_origin": "MX"}}),
        world.search("ice", {**ICE_SEARCH, "filters": {"race": "W"}}),
        world.read("ice", "A-2018-000001", **ICE_READ),
        world.read("ice", "A-2018-000002", **ICE_READ),
    ]
    for r in responses:
        data = r.json()
        data.pop("receipt", None)
        keys = set(walk_keys(data))
        assert not any(k.endswith(("country_of_origin", "race", "address", "custody")) for k in keys), keys
        assert SSN not in r.text
        assert "12 N 5th St" not in r.text


def test_401_without_or_with_a_bad_token_is_not_logged(world: World) -> None:
    before = size(world)
    for headers in ({}, {"Authorization": "Bearer pars_" + "x" * 43}, {"Authorization": "Basic abc"}):
        r = world.client.post("/v1/search", json=ICE_SEARCH, headers=headers)
        assert_error(r, 401, logged=False)
        assert r.headers["www-authenticate"] == "Bearer"
    assert_error(world.client.get("/v1/audit/checkpoint"), 401, logged=False)
    assert size(world) == before


def test_a_token_revoked_after_it_was_seen_gets_401_unlogged(world: World) -> None:
    """Partner routes remember a token's principal (``Gate.identify``), so the gate checks
    in each request's own transaction that the token is still live."""
    from pars.gate import admin_event_recorder, list_tokens, revoke_token

    assert world.search("ice", ICE_SEARCH).status_code == 200  # seen, and remembered
    assert world.read("ice", "A-2018-000003", **ICE_READ).status_code == 200
    token_id = next(i.token_id for i in list_tokens(world.store) if i.user == "agent7")
    revoke_token(world.store, world.clock, token_id, record_admin_event=admin_event_recorder(world.log))
    before = size(world)
    for r in (
        world.search("ice", ICE_SEARCH),
        world.read("ice", "A-2018-000003", **ICE_READ),
        world.client.get("/v1/feed", params=ICE_READ, headers=world.auth("ice")),
    ):
        assert_error(r, 401, logged=False)
        assert r.headers["www-authenticate"] == "Bearer"
    assert size(world) == before


def test_403_names_the_rule_and_carries_a_receipt(world: World) -> None:
    r = world.search("ice", {**ICE_SEARCH, "purpose": "J"})
    body = assert_error(r, 403, logged=True)
    assert body["error"]["rule"] == "purposes" == body["receipt"]["entry"]["rule"]
    r = world.search("ice", {**ICE_SEARCH, "filters": {"ssn": SSN}})  # masked: not filterable
    body = assert_error(r, 403, logged=True)
    assert body["error"]["rule"] == "fields.hidden_filter.person.ssn"
    assert SSN not in json.dumps(body["receipt"])
    verify_receipt(world.client, world.auth("ice"), body["receipt"])
    r = world.search("custodian", ICE_SEARCH)
    assert assert_error(r, 403, logged=True)["error"]["rule"] == "token.role"


def test_404_out_of_scope_equals_missing(world: World) -> None:
    a = world.read("ice", "A-2018-000002", **ICE_READ)
    b = world.read("ice", "A-2099-000002", **ICE_READ)
    ba, bb = assert_error(a, 404, logged=True), assert_error(b, 404, logged=True)
    # Commitments differ by their fresh salts; what they open must not.
    ea = with_texts(dict(ba["receipt"]["entry"]), opened(ba["receipt"]))
    eb = with_texts(dict(bb["receipt"]["entry"]), opened(bb["receipt"]))
    assert ea.pop("filters") == {"arrest_id": "A-2018-000002"}
    assert eb.pop("filters") == {"arrest_id": "A-2099-000002"}
    assert ea == eb and ea["rule"] == "not_found"
    assert set(ba) == set(bb) and set(ba["receipt"]) == set(bb["receipt"])
    assert (ba["error"]["code"], ba["error"]["rule"]) == (bb["error"]["code"], bb["error"]["rule"])
    assert len(a.content) - len(b.content) < 80  # only the id and the hashes/signature differ


def test_422_malformed_is_logged_and_names_the_field(world: World) -> None:
    cases = [
        (json.dumps({**ICE_SEARCH, "unexpected": 1}), "unexpected"),
        (json.dumps({**ICE_SEARCH, "limit": "ten"}), "limit"),
        (json.dumps({**ICE_SEARCH, "filters": []}), "filters"),
        ("{not json", "body"),
        ("[1, 2]", "body"),
        (json.dumps({"case_number": "x"}), "purpose"),
    ]
    for raw, field in cases:
        r = world.client.post(
            "/v1/search", content=raw, headers={**world.auth("ice"), "Content-Type": "application/json"}
        )
        body = assert_error(r, 422, logged=True)
        assert body["error"]["message"].startswith(field), body["error"]["message"]
        assert body["receipt"]["entry"]["status"] == 422
    r = world.client.get(
        "/v1/arrests/A-2018-000001", params={**ICE_READ, "x": "1"}, headers=world.auth("ice")
    )
    assert_error(r, 422, logged=True)


def test_429_over_the_rate_limit(world: World) -> None:
    raw = agreement("ice-2017", id="ice-rl")
    raw["search"] = {**raw["search"], "rate_limit": {"requests": 2, "per": "hour"}}
    world.apply(raw)
    world.token("rl", "partner", "agent9", "ice-rl")
    assert [world.search("rl", ICE_SEARCH).status_code for _ in range(2)] == [200, 200]
    body = assert_error(world.search("rl", ICE_SEARCH), 429, logged=True)
    assert body["error"]["rule"] == "search.rate_limit"
    assert world.read("rl", "A-2018-000001", **ICE_READ).status_code == 429


def test_oversight_report_route_and_role_checks(world: World) -> None:
    world.search("ice", ICE_SEARCH)
    r = world.client.get("/v1/oversight/report", headers=world.auth("oversight"))
    assert r.status_code == 200, r.text
    report = r.json()
    assert set(report) >= {"generated_at", "log", "agreements", "findings"}
    assert report["log"]["verified"] is True
    assert report["log"]["size"] == size(world)
    assert any(a["id"] == "ice-2017" and a["requests"] >= 1 for a in report["agreements"])
    r = world.client.get(
        "/v1/oversight/report",
        params={"agreement": "ice-2017", "from": "yesterday"},
        headers=world.auth("oversight"),
    )
    assert_error(r, 422, logged=False)
    r = world.client.get("/v1/oversight/report", headers=world.auth("ice"))
    assert_error(r, 403, logged=False)


def test_503_when_the_entry_cannot_be_written(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    before = size(world)

    def broken(self: AuditLog, conn: Any, entries: Any) -> Any:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(AuditLog, "append", broken)
    for r in (
        world.search("ice", {**ICE_SEARCH, "filters": {"last_name": "Doe1"}}),
        world.read("ice", "A-2018-000001", **ICE_READ),
        world.search("ice", {"bad": 1}),
    ):
        body = assert_error(r, 503, logged=False)
        assert "results" not in body and "record" not in body
        assert "Doe1" not in r.text and "A-2018-000001" not in r.text
    monkeypatch.undo()
    assert size(world) == before


def test_500_is_the_error_body_without_a_trace(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_world(store, tmp_path)
    client = TestClient(w.app, raise_app_exceptions=False)

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("secret internals")

    async def boom_async(*a: Any, **k: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(w.gate, "search", boom)
    monkeypatch.setattr(w.gate, "search_async", boom_async)  # what the route awaits
    r = client.post("/v1/search", json=ICE_SEARCH, headers=w.auth("ice"))
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "internal", "message": "internal error; nothing was answered", "rule": None}
    }
    assert "secret" not in r.text
    client.close()
    w.client.close()


def test_every_logged_receipt_verifies_and_the_log_verifies(world: World) -> None:
    rs = [
        world.search("ice", ICE_SEARCH),
        world.search("ice", {**ICE_SEARCH, "purpose": "X"}),
        world.read("ice", "A-2018-000002", **ICE_READ),
        world.search("fbi", {"purpose": "C", "case_number": "c", "filters": {"ssn": SSN}}),
    ]
    for r in rs:
        verify_receipt(world.client, world.auth("ice"), r.json()["receipt"])
    size_now = size(world)
    cons = world.client.get(f"/v1/audit/proof/consistency?old=1&new={size_now}", headers=world.auth("ice"))
    assert cons.status_code == 200 and cons.json()["old"] == 1
    assert verify_log(world.store, world.log.verifier_key).ok


def test_audit_routes(world: World) -> None:
    ice_idx = world.search("ice", ICE_SEARCH).json()["receipt"]["leaf_index"]
    fbi_idx = world.search("fbi", {"purpose": "C", "case_number": "c"}).json()["receipt"]["leaf_index"]
    cp = world.client.get("/v1/audit/checkpoint", headers=world.auth("fbi"))
    assert cp.status_code == 200 and cp.headers["content-type"].startswith("text/plain")
    assert cp.text.splitlines()[1] == str(fbi_idx + 1)
    key = world.client.get("/v1/audit/key", headers=world.auth("custodian")).text
    assert key == world.log.verifier_key
    own = world.client.get(f"/v1/audit/entries/{ice_idx}", headers=world.auth("ice"))
    assert own.status_code == 200 and own.json()["entry"]["user"] == "agent7"
    assert own.json()["index"] == ice_idx
    other = world.client.get(f"/v1/audit/entries/{fbi_idx}", headers=world.auth("ice"))
    missing = world.client.get("/v1/audit/entries/999999", headers=world.auth("ice"))
    assert_error(other, 404, logged=False)
    assert_error(missing, 404, logged=False)
    assert other.json()["error"]["code"] == missing.json()["error"]["code"]
    assert (
        world.client.get(f"/v1/audit/entries/{fbi_idx}", headers=world.auth("oversight")).status_code == 200
    )
    assert_error(world.client.get("/v1/audit/entries/0", headers=world.auth("custodian")), 403, logged=False)
    bad = world.client.get("/v1/audit/proof/inclusion?index=5&size=2", headers=world.auth("ice"))
    assert_error(bad, 422, logged=False)
    far = world.client.get("/v1/audit/proof/inclusion?index=0&size=99999", headers=world.auth("ice"))
    assert_error(far, 404, logged=False)
    assert_error(world.client.get("/v1/audit/proof/inclusion?index=x&size=1", headers=world.auth("ice")), 422,
                 logged=False)  # fmt: skip


def test_bookings_json_lines_and_array(world: World) -> None:
    lines = "\n".join([json.dumps(arrest(10)), "{bad", json.dumps(arrest(10))]).encode()
    r = world.client.post("/v1/bookings", content=lines, headers=world.auth("custodian"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"], body["duplicates"]) == (1, 1, 1)
    assert [x["status"] for x in body["results"]] == ["accepted", "rejected", "duplicate"]
    assert [x["line"] for x in body["results"]] == [1, 2, 3]
    r = world.client.post(
        "/v1/bookings", json=[arrest(11), {"type": "arrest"}], headers=world.auth("custodian")
    )
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]
    assert_error(world.client.post("/v1/bookings", json=[], headers=world.auth("ice")), 403, logged=False)


def test_agreement_routes_are_audited(world: World) -> None:
    raw = agreement("ice-2017", id="ice-2019", term={"start": "2018-09-01T00:00:00-04:00",
                                                       "end": "2019-08-31T23:59:59-04:00"})  # fmt: skip
    before = size(world)
    h = world.auth("custodian")
    r = world.client.put("/v1/agreements/ice-2019", content=json.dumps(raw, default=str), headers=h)
    assert r.status_code == 200 and r.json()["version"] == 1
    mismatch = world.client.put("/v1/agreements/other", content=json.dumps(raw, default=str), headers=h)
    assert assert_error(mismatch, 422, logged=False)["error"]["message"].startswith("id")
    import yaml

    amended = world.client.put(
        "/v1/agreements/ice-2019", content=yaml.safe_dump({**raw, "title": "x"}), headers=h
    )
    assert amended.json()["version"] == 2
    notes = {p: sign_approval_note(world.store, "ice-2019", p) for p in ("courts", "police")}
    a1 = world.client.post("/v1/agreements/ice-2019/approvals", json={"note": notes["courts"]}, headers=h)
    a2 = world.client.post("/v1/agreements/ice-2019/approvals", json={"note": notes["police"]}, headers=h)
    assert a1.status_code == a2.status_code == 200 and a2.json()["activated"]
    assert (a2.json()["version"], a2.json()["party"]) == (2, "police")
    bad = world.client.post(
        "/v1/agreements/ice-2019/approvals", json={"note": notes["courts"], "x": 1}, headers=h
    )
    assert assert_error(bad, 422, logged=False)["error"]["message"].startswith("x")
    bad = world.client.post("/v1/agreements/ice-2019/approvals", json={"as": "courts"}, headers=h)
    assert assert_error(bad, 422, logged=False)["error"]["message"].startswith("as")
    bad = world.client.post("/v1/agreements/ice-2019/approvals", json={"note": 3}, headers=h)
    assert assert_error(bad, 422, logged=False)["error"]["message"].startswith("note")
    t = world.client.post(
        "/v1/agreements/ice-2019/terminate",
        json={"effective_at": "2018-12-31T23:59:59-05:00", "reason": "renegotiation"},
        headers=h,
    )
    assert t.status_code == 200, t.text
    bad = world.client.post("/v1/agreements/ice-2019/terminate", json={"effective_at": "soon", "reason": "r"},
                            headers=h)  # fmt: skip
    assert assert_error(bad, 422, logged=False)["error"]["message"].startswith("effective_at")
    nope = world.client.post("/v1/agreements/nope/approvals", json={"note": notes["courts"]}, headers=h)
    assert assert_error(nope, 403, logged=False)["error"]["rule"] == "approvals.agreement"
    assert_error(world.client.put("/v1/agreements/ice-2019", content="{}", headers=world.auth("ice")), 403,
                 logged=False)  # fmt: skip
    assert size(world) == before + 6  # apply, apply, approve, approve, activate, terminate
    from pars.audit import iter_entries

    admin = [e.document() for e in iter_entries(world.store, agreement_id="ice-2019", kind="admin")]
    assert [(e["action"], e["route"], e["user"]) for e in admin][-1] == (
        "terminate",
        "POST /v1/agreements/{agreement_id}/terminate",
        "records-clerk",
    )


def test_hardening_headers_limits_and_unknown_routes(store: Store, tmp_path: Path) -> None:
    w = make_world(store, tmp_path, max_body=2048)
    try:
        r = w.client.get("/healthz")
        assert r.json() == {"status": "ok"}
        for name, value in {
            "content-security-policy": "default-src 'self'",
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
        }.items():
            assert r.headers[name] == value
        # A partner route logs even an oversized body: a 422 with its receipt (CONTRACT 4).
        big = w.client.post("/v1/search", content=b"x" * 5000, headers=w.auth("ice"))
        assert assert_error(big, 422, logged=True)["error"]["message"] == "body: larger than 2048 bytes"

        async def chunks() -> Any:
            for _ in range(5):
                yield b"x" * 1000

        streamed = w.client.post("/v1/bookings", content=chunks(), headers=w.auth("custodian"))
        assert_error(streamed, 413, logged=False)
        assert_error(w.client.get("/nope"), 404, logged=False)
        assert_error(w.client.delete("/v1/search") if hasattr(w.client, "delete") else w.client.request(
            "DELETE", "/v1/search"), 405, logged=False)  # fmt: skip
    finally:
        w.client.close()


def test_access_log_is_json_without_values(world: World, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pars.access"):
        world.read("ice", "A-2018-000001", **ICE_READ)
        world.search("ice", {**ICE_SEARCH, "filters": {"last_name": "Doe1"}})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "pars.access"]
    assert lines[0]["route"] == "/v1/arrests/{arrest_id}" and lines[0]["status"] == 200
    assert (
        lines[0]["role"] == "partner" and lines[0]["agreement"] == "ice-2017" and lines[0]["user"] == "agent7"
    )
    assert set(lines[1]) == {"method", "route", "status", "ms", "role", "agreement", "user"}
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "A-2018-000001" not in text and "Doe1" not in text and "HSI-1" not in text


def test_openapi_lists_every_contract_route(sqlite_store: Store, tmp_path: Path) -> None:
    from pars.audit import create_keys

    keys, _ = create_keys(tmp_path / "k")
    app = create_app(sqlite_store, audit_log=AuditLog(keys))
    client = TestClient(app)
    spec = client.get("/openapi.json").json()
    client.close()
    wanted = {
        ("post", "/v1/search"), ("get", "/v1/arrests/{arrest_id}"), ("get", "/v1/feed"),
        ("post", "/v1/bookings"), ("put", "/v1/agreements/{agreement_id}"),
        ("post", "/v1/agreements/{agreement_id}/approvals"),
        ("post", "/v1/agreements/{agreement_id}/terminate"),
        ("get", "/v1/audit/checkpoint"), ("get", "/v1/audit/key"), ("get", "/v1/audit/proof/inclusion"),
        ("get", "/v1/audit/proof/consistency"), ("get", "/v1/audit/entries/{index}"),
        ("get", "/v1/oversight/report"), ("get", "/healthz"),
    }  # fmt: skip
    have = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert wanted <= have


def _api_routes(routes: Any) -> list[APIRoute]:
    out: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "original_router"):  # FastAPI's included routers
            out.extend(_api_routes(r.original_router.routes))
        elif hasattr(r, "routes"):
            out.extend(_api_routes(r.routes))
    return out


def test_partner_routes_call_the_gate(sqlite_store: Store, tmp_path: Path) -> None:
    """Every partner endpoint answers through ``svc.gate`` (a route that bypassed it fails here)."""
    from pars.audit import create_keys

    keys, _ = create_keys(tmp_path / "k")
    app = create_app(sqlite_store, audit_log=AuditLog(keys))
    partner = {"/v1/search", "/v1/arrests/{arrest_id}", "/v1/feed"}
    routes = [r for r in _api_routes(app.routes) if r.path in partner]
    assert len(routes) == 3
    for route in routes:
        src = inspect.getsource(route.endpoint)
        assert "svc.gate" in src, route.path


def test_concurrent_http_searches_one_entry_each(world: World) -> None:
    import threading

    before = size(world)
    receipts: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(who: str) -> None:
        for _ in range(5):
            r = world.search(who, {**ICE_SEARCH, "filters": {"district": "24"}})
            assert r.status_code == 200
            with lock:
                receipts.append(r.json()["receipt"])

    threads = [threading.Thread(target=client, args=(who,)) for who in ("ice", "ice2") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert size(world) == before + 40
    assert sorted(r["leaf_index"] for r in receipts) == list(range(before, before + 40))
    for r in receipts[:3]:
        verify_receipt(world.client, world.auth("ice"), r)
    assert verify_log(world.store, world.log.verifier_key).ok


def test_custody_only_with_a_warrant_on_file_for_that_arrest(world: World) -> None:
    from pars.agreements.warrants import add_warrant
    from tests.factories import follow

    world.ingest(
        follow("release", 1, "r-1", released_at="2018-06-03T09:00:00-04:00", facility="CFCF"),
        follow("release", 3, "r-3", released_at="2018-06-03T09:00:00-04:00", facility="CFCF"),
    )
    add_warrant(
        world.store,
        world.clock,
        arrest_id="A-2018-000001",
        reference="W-1",
        issued_by="CP Court",
        agreement_id="fbi-2017",
        by="c",
    )
    base = {"purpose": "C", "case_number": "c"}
    plain = world.read("fbi", "A-2018-000001", **base).json()
    assert "custody" not in plain["record"]
    warranted = world.read("fbi", "A-2018-000001", **base, warrant="W-1").json()
    assert warranted["record"]["custody"] == {"released_at": "2018-06-03T09:00:00-04:00", "facility": "CFCF"}
    assert "custody.facility" in warranted["receipt"]["entry"]["fields"]
    other = world.read("fbi", "A-2018-000003", **base, warrant="W-1").json()
    assert "custody" not in other["record"]  # the warrant covers arrest 1 only
    found = world.search("fbi", {**base, "warrant": "W-1", "filters": {"grade": ["F1", "F2"]}}).json()
    custody = {r["arrest_id"]: "custody" in r for r in found["results"]}
    assert custody == {"A-2018-000001": True, "A-2018-000003": False}
    denied = world.search("fbi", {**base, "warrant": "W-1", "filters": {"facility": "CFCF"}})
    assert denied.status_code == 403 and denied.json()["error"]["rule"] == "warrant_required.custody"


def test_a_warrant_filed_for_one_agency_unlocks_nothing_for_another(world: World) -> None:
    """DEA has FBI's terms (custody with a warrant) but cites the warrant filed for FBI's requests."""
    from pars.agreements.warrants import add_warrant
    from tests.factories import follow

    world.ingest(follow("release", 1, "r-1", released_at="2018-06-03T09:00:00-04:00", facility="CFCF"))
    world.apply(agreement("fbi-2017", id="dea-2018", partner="DEA"))  # log times only go forward
    world.clock.advance(timedelta(minutes=1))
    world.token("dea", "partner", "dea-agent", "dea-2018")
    add_warrant(
        world.store,
        world.clock,
        arrest_id="A-2018-000001",
        reference="W-1",
        issued_by="CP Court",
        agreement_id="fbi-2017",
        by="c",
    )
    base = {"purpose": "C", "case_number": "c", "warrant": "W-1"}
    assert "custody" in world.read("fbi", "A-2018-000001", **base).json()["record"]
    theirs = world.read("dea", "A-2018-000001", **base)
    assert theirs.status_code == 200, theirs.text
    assert "custody" not in theirs.json()["record"] and "CFCF" not in theirs.text
    assert not [f for f in theirs.json()["receipt"]["entry"]["fields"] if f.startswith("custody")]
    found = world.search("dea", {**base, "filters": {"grade": ["F1", "F2"]}}).json()
    assert found["results"] and not any("custody" in r for r in found["results"])


def test_put_agreement_refuses_an_unknown_key_at_any_level_and_changes_nothing(world: World) -> None:
    import yaml

    from pars.agreements.service import load_history

    def versions() -> list[str]:
        with world.store.read() as conn:
            return [v.hash for v in load_history(conn, "ice-2017").versions]

    h = world.auth("custodian")
    before = versions()
    raw = agreement("ice-2017")
    cases = [
        ({**raw, "forbid_filters": ["sex"]}, "forbid_filters: unknown key here; did you mean 'search."),
        ({**raw, "search": {**raw["search"], "forbid_filter": ["sex"]}}, "search.forbid_filter: unknown key"),
        ({**raw, "term": {**raw["term"], "zone": "EST"}}, "term.zone: unknown key"),
    ]
    for doc, message in cases:
        r = world.client.put("/v1/agreements/ice-2017", content=yaml.safe_dump(doc), headers=h)
        assert assert_error(r, 422, logged=False)["error"]["message"].startswith(message), r.text
    assert versions() == before


def test_atf_masks_and_roles(world: World) -> None:
    """ATF: dob as its year, ssn as a keyed hash, witnesses but never victims, race unfilterable."""
    import re

    world.apply(agreement("atf-2018"))
    world.token("atf", "partner", "atf-agent", "atf-2018")
    r = world.read("atf", "A-2018-000001", purpose="C", case_number="T-1", justification="trace")
    assert r.status_code == 200, r.text
    rec = r.json()["record"]
    assert rec["person"]["dob"] == "1990"
    assert re.fullmatch(r"[0-9a-f]{64}", rec["person"]["ssn"])
    assert [p["role"] for p in rec["parties"]] == ["witness"]
    assert rec["parties"][0]["person"] == {"last_name": "Poe", "first_name": "Sam"}
    assert "Roe" not in r.text and SSN not in r.text and "1990-02-03" not in r.text
    entry = r.json()["receipt"]["entry"]
    assert len(entry["person_ids"]) == 2  # the arrestee and the witness whose names left
    denied = world.search(
        "atf", {"purpose": "C", "case_number": "T", "justification": "j", "filters": {"race": "W"}}
    )
    assert denied.json()["error"]["rule"] == "search.forbid_filters.race"


def test_one_error_body_on_every_surface(world: World) -> None:
    """Partner, custodian, unknown-route and console errors share ``{"error": {"code",
    "message", "rule"}}`` and take their code from the one status map."""
    from starlette.requests import Request

    from pars.console.render import problem
    from pars.console.session import NotAllowed, SignedOut
    from pars.gate.errors import CODE_BY_STATUS

    bodies = [
        (401, world.client.post("/v1/search", json={}).json()),
        (403, world.search("ice", {**ICE_SEARCH, "filters": {"country_of_origin": "MX"}}).json()),
        (404, world.client.get("/v1/nowhere", headers=world.auth("ice")).json()),
        (405, world.client.get("/v1/search", headers=world.auth("ice")).json()),
        (422, world.search("ice", {"purpose": 7}).json()),
    ]
    scope = {"type": "http", "method": "GET", "path": "/console/api/x", "headers": [], "query_string": b""}
    for exc, status in ((SignedOut("sign in first"), 401), (NotAllowed("oversight only"), 403)):
        resp = problem(Request(scope), exc)
        assert resp.status_code == status
        bodies.append((status, json.loads(bytes(resp.body))))
    for status, body in bodies:
        assert set(body["error"]) == {"code", "message", "rule"}, (status, body)
        assert body["error"]["code"] == CODE_BY_STATUS[status], (status, body)
