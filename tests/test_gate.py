"""The gate without HTTP: tokens, one entry per request, rate limits exact under
concurrency, fail-closed, and termination to the second (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pars.agreements.service import terminate
from pars.audit import AuditLog, AuditWriteError, iter_entries, log_size, verify_log
from pars.audit.texts import opened, with_texts
from pars.errors import InvalidInput, NotFound
from pars.gate import (
    Principal,
    Unauthorized,
    Unavailable,
    admin_event_recorder,
    issue_token,
    list_tokens,
    revoke_token,
)
from pars.gate.tokens import authenticate, live_principal, token_digest
from pars.store.schema.gate import gate_requests, gate_tokens
from tests.test_gate_fixtures import ICE_END, ICE_READ, ICE_SEARCH, NOW, World, agreement, rate_limited, world

__all__ = ["world"]


def size(w: World) -> int:
    with w.store.read() as conn:
        return log_size(conn)


def principal(w: World, name: str) -> Principal:
    return w.gate.authenticate(w.tokens[name])


# --- tokens ------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes_and_revocable(world: World) -> None:
    tok = world.tokens["ice"]
    with world.store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(gate_tokens))]
        assert authenticate(conn, tok) == Principal(
            next(r["token_id"] for r in rows if r["user"] == "agent7"), "partner", "agent7", "ice-2017"
        )
        assert authenticate(conn, tok[:-1] + ("A" if tok[-1] != "A" else "B")) is None
        assert authenticate(conn, None) is None
        assert authenticate(conn, "not a token") is None
    assert all(tok not in str(v) for r in rows for v in r.values())
    assert any(r["token_sha256"] == token_digest(tok) for r in rows)
    assert len(list_tokens(world.store)) == 5
    info = revoke_token(world.store, world.clock, tok, record_admin_event=admin_event_recorder(world.log))
    assert info.revoked is not None and info.user == "agent7"
    with world.store.read() as conn:
        assert authenticate(conn, tok) is None
    other = world.tokens["fbi"]
    token_id = next(i.token_id for i in list_tokens(world.store) if i.user == "sa1")
    revoke_token(world.store, world.clock, token_id, record_admin_event=admin_event_recorder(world.log))
    with world.store.read() as conn:
        assert authenticate(conn, other) is None


def test_a_token_looked_up_by_id_is_live_until_revoked(world: World) -> None:
    tok = world.tokens["custodian"]
    with world.store.read() as conn:
        who = authenticate(conn, tok)
        assert who is not None and live_principal(conn, who.token_id) == who
        assert live_principal(conn, "no-such-id") is None
    revoke_token(world.store, world.clock, who.token_id, record_admin_event=admin_event_recorder(world.log))
    with world.store.read() as conn:
        assert live_principal(conn, who.token_id) is None


def test_token_issue_checks_its_binding(world: World) -> None:
    with pytest.raises(InvalidInput, match="agreement"):
        issue_token(
            world.store,
            world.clock,
            record_admin_event=admin_event_recorder(world.log),
            role="partner",
            user="x",
        )
    with pytest.raises(InvalidInput, match="agreement"):
        issue_token(
            world.store,
            world.clock,
            record_admin_event=admin_event_recorder(world.log),
            role="custodian",
            user="x",
            agreement_id="ice-2017",
        )
    with pytest.raises(NotFound):
        issue_token(
            world.store,
            world.clock,
            record_admin_event=admin_event_recorder(world.log),
            role="partner",
            user="x",
            agreement_id="nope",
        )
    with pytest.raises(InvalidInput, match="role"):
        issue_token(
            world.store,
            world.clock,
            record_admin_event=admin_event_recorder(world.log),
            role="admin",
            user="x",
        )
    with pytest.raises(NotFound):
        revoke_token(
            world.store, world.clock, "no-such-id", record_admin_event=admin_event_recorder(world.log)
        )


# --- one entry per request -------------------------------------------------------


def test_every_outcome_is_one_entry_with_a_receipt(world: World) -> None:
    p = principal(world, "ice")
    before = size(world)
    outcomes = [
        world.gate.search(p, {**ICE_SEARCH, "filters": {"last_name": "Doe1"}}),
        world.gate.search(p, {**ICE_SEARCH, "filters": {"country_of_origin": "MX"}}),
        world.gate.search(p, {**ICE_SEARCH, "bogus": 1}),
        world.gate.search(p, None, malformed="body: not valid JSON"),
        world.gate.read(p, "A-2018-000001", ICE_SEARCH),
        world.gate.read(p, "A-2018-000002", ICE_SEARCH),
        world.gate.search(principal(world, "custodian"), ICE_SEARCH),
    ]
    assert [o.status for o in outcomes] == [200, 403, 422, 422, 200, 404, 403]
    assert [o.body["receipt"]["leaf_index"] for o in outcomes] == list(range(before, before + 7))
    assert size(world) == before + 7
    entries = [o.body["receipt"]["entry"] for o in outcomes]
    assert [e["rule"] for e in entries] == [
        "allow",
        "search.forbid_filters.country_of_origin",
        "malformed",
        "malformed",
        "allow",
        "not_found",
        "token.role",
    ]
    assert entries[0]["filters"]["last_name"].startswith("hmac-sha256:")
    assert entries[1]["filters"] == {"country_of_origin": "MX"}
    assert entries[4]["arrest_ids"] == ["A-2018-000001"] and entries[4]["person_ids"]
    assert "person.ssn" in entries[4]["fields"] and "person.country_of_origin" not in entries[4]["fields"]
    assert verify_log(world.store, world.log.verifier_key).ok


def test_malformed_filter_values_are_never_logged_in_clear(world: World) -> None:
    p = principal(world, "ice")
    out = world.gate.search(p, {**ICE_SEARCH, "filters": {"grade": [{"last_name": "Secret"}], "x": 10**30}})
    assert out.status == 422
    assert "Secret" not in str(out.body["receipt"]["entry"])


def test_read_out_of_scope_and_missing_are_indistinguishable(world: World) -> None:
    p = principal(world, "ice")
    scoped = world.gate.read(p, "A-2018-000002", ICE_SEARCH)  # a misdemeanour: outside ICE's scope
    missing = world.gate.read(p, "A-2018-000002X", ICE_SEARCH)

    def shape(body: dict[str, Any]) -> Any:
        # Commitments differ by their fresh salts; what they open must not.
        e = with_texts(dict(body["receipt"]["entry"]), opened(body["receipt"]))
        e.pop("filters")
        return body["error"]["code"], body["error"]["rule"], e

    assert scoped.status == missing.status == 404
    assert shape(scoped.body) == shape(missing.body)
    assert scoped.body["error"]["message"].replace("A-2018-000002", "X") == missing.body["error"][
        "message"
    ].replace("A-2018-000002X", "X")
    # The FBI has no scope: the same arrest exists for it.
    assert (
        world.gate.read(principal(world, "fbi"), "A-2018-000002", {"purpose": "C", "case_number": "1"}).status
        == 200
    )


# --- rate limit ------------------------------------------------------------------


def test_rate_limit_is_per_agreement_and_user_and_exact_under_concurrency(world: World) -> None:
    _, pa, pb = rate_limited(world)
    before = size(world)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        out = world.gate.search(pa, ICE_SEARCH)
        with lock:
            statuses.append(out.status)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 3 + [429] * 7
    assert size(world) == before + 10
    out = world.gate.search(pa, ICE_SEARCH)
    assert (out.status, out.body["error"]["rule"]) == (429, "search.rate_limit")
    assert world.gate.search(pb, ICE_SEARCH).status == 200  # another user has its own window
    world.clock.set(NOW + timedelta(seconds=60))  # the window (now - 60 s, now] moved past them
    assert world.gate.search(pa, ICE_SEARCH).status == 200
    with world.store.read() as conn:
        assert (
            conn.scalar(select(func.count()).select_from(gate_requests).where(gate_requests.c.user == "a"))
            == 4
        )
    assert verify_log(world.store, world.log.verifier_key).ok


def test_concurrent_searches_leave_exactly_one_entry_each(world: World) -> None:
    p = principal(world, "fbi")
    before = size(world)
    receipts: list[dict[str, Any]] = []
    lock = threading.Lock()

    def many() -> None:
        for _ in range(5):
            out = world.gate.search(p, {"purpose": "C", "case_number": "c", "filters": {"grade": "F1"}})
            assert out.status == 200 and out.body["count"] == 1
            with lock:
                receipts.append(out.body["receipt"])

    threads = [threading.Thread(target=many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert size(world) == before + 40
    assert sorted(r["leaf_index"] for r in receipts) == list(range(before, before + 40))
    stored = {e.index: e.document() for e in iter_entries(world.store, agreement_id="fbi-2017")}
    assert all(stored[r["leaf_index"]] == r["entry"] for r in receipts)
    assert verify_log(world.store, world.log.verifier_key).ok


# --- fail closed -------------------------------------------------------------


def test_no_entry_no_data(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    p = principal(world, "ice")
    before = size(world)
    with world.store.read() as conn:
        counted = conn.scalar(select(func.count()).select_from(gate_requests))

    def broken(self: AuditLog, conn: Any, entries: Any) -> Any:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(AuditLog, "append", broken)
    with pytest.raises(Unavailable):
        world.gate.search(p, {**ICE_SEARCH, "filters": {"last_name": "Doe1"}})
    with pytest.raises(Unavailable):
        world.gate.read(p, "A-2018-000001", ICE_SEARCH)
    monkeypatch.undo()
    assert size(world) == before
    with world.store.read() as conn:  # the rate counter rolled back with it
        assert conn.scalar(select(func.count()).select_from(gate_requests)) == counted


def test_no_entry_no_data_when_the_database_refuses_the_entry(world: World) -> None:
    """A real write failure inside the append (not a stand-in): 503, nothing logged or counted."""
    from sqlalchemy import text

    p = principal(world, "ice")
    before = size(world)
    refuse = {
        "sqlite": [
            "CREATE TRIGGER refuse_leaves BEFORE INSERT ON audit_leaves "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        ],
        "postgresql": [
            "CREATE FUNCTION refuse_leaves() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
            "CREATE TRIGGER refuse_leaves BEFORE INSERT ON audit_leaves "
            "FOR EACH ROW EXECUTE FUNCTION refuse_leaves()",
        ],
    }
    with world.store.write() as conn:
        for sql in refuse[world.store.dialect]:
            conn.execute(text(sql))
    with pytest.raises(Unavailable):
        world.gate.search(p, {**ICE_SEARCH, "filters": {"last_name": "Doe1"}})
    with world.store.write() as conn:
        on = "" if world.store.is_sqlite else " ON audit_leaves"
        conn.execute(text(f"DROP TRIGGER refuse_leaves{on}"))
    assert size(world) == before
    assert world.gate.search(p, ICE_SEARCH).status == 200  # and the log goes on where it was
    assert size(world) == before + 1
    assert verify_log(world.store, world.log.verifier_key).ok


# --- termination to the second -----------------------------------------------------


def test_termination_is_exact_to_the_second_and_touches_no_one_else(world: World) -> None:
    ice, fbi = principal(world, "ice"), principal(world, "fbi")
    end = NOW + timedelta(seconds=30)
    terminate(
        world.store, world.clock, "ice-2017", end, "agreement ended by the city",
        by="clerk", record_admin_event=admin_event_recorder(world.log),
    )  # fmt: skip
    world.clock.set(end)
    assert world.gate.search(ice, ICE_SEARCH).status == 200
    world.clock.set(end + timedelta(microseconds=999_999))
    assert world.gate.search(ice, ICE_SEARCH).status == 200  # still the last second served
    world.clock.set(end + timedelta(seconds=1))
    out = world.gate.search(ice, ICE_SEARCH)
    assert (out.status, out.body["error"]["rule"]) == (403, "term.end")
    assert out.body["receipt"]["entry"]["rule"] == "term.end"
    assert "results" not in out.body
    assert world.gate.read(ice, "A-2018-000001", ICE_SEARCH).status == 403
    assert world.gate.search(fbi, {"purpose": "C", "case_number": "c"}).status == 200
    admin = [e.document() for e in iter_entries(world.store, kind="admin", agreement_id="ice-2017")]
    assert [e["action"] for e in admin][-1] == "terminate"


def test_the_term_end_itself_is_served_and_the_next_second_is_not(world: World) -> None:
    ice = principal(world, "ice")
    world.clock.set(ICE_END)
    assert world.gate.search(ice, ICE_SEARCH).status == 200
    world.clock.set(ICE_END + timedelta(seconds=1))
    assert world.gate.search(ice, ICE_SEARCH).body["error"]["rule"] == "term.end"


def test_gate_is_the_only_reader_in_the_web_layer() -> None:
    """No web module reads records itself: only pars.gate imports the store's queries."""
    from pathlib import Path

    import pars.web

    root = Path(pars.web.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "pars.store.queries" not in text, path
        # The public /log/ routes read the log's own tables; no web module reads records.
        assert "load_records" not in text and "pars.store.schema.records" not in text, path


def test_group_commit_isolates_a_failing_request(world: World) -> None:
    """Jobs batched together: one that raises gets its error, the others their answers."""
    from pars.gate.batch import Job

    ice = principal(world, "ice")
    gate = world.gate
    good = [gate._serve_job(ice, ICE_SEARCH) for _ in range(5)]

    def bad_run(conn: Any) -> Any:
        raise RuntimeError("a bug in one request")

    jobs = [*good[:2], Job(bad_run), *good[2:]]
    with gate.commits._mutex:  # queue them all behind one leader, as a burst would
        gate.commits._pending.extend(jobs[1:])
    first = gate.commits.submit(jobs[0])
    assert first.status == 200
    for job in jobs[1:]:
        job.wake.wait(5)
        assert job.finished
    assert isinstance(jobs[2].error, RuntimeError)
    assert all(j.outcome is not None and j.outcome.status == 200 for j in jobs if j is not jobs[2])
    assert verify_log(world.store, world.log.verifier_key).ok


def test_requests_awaited_on_an_event_loop_are_batched_logged_and_receipted(world: World) -> None:
    """``search_async``/``read_async`` (the HTTP routes' path): every request its own entry
    and receipt, a failing one fails alone, and a revoked token is a 401 that logs nothing."""
    import asyncio

    from pars.gate.batch import Job

    ice = principal(world, "ice")
    gate = world.gate
    before = size(world)

    async def burst() -> list[Any]:
        def bad_run(conn: Any) -> Any:
            raise RuntimeError("a bug in one request")

        calls: list[Any] = [gate.search_async(ice, ICE_SEARCH) for _ in range(12)]
        calls.insert(5, gate.commits.submit_async(Job(bad_run)))
        calls.append(gate.read_async(ice, "A-2018-000003", ICE_READ))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(burst())
    assert isinstance(results.pop(5), RuntimeError)
    assert all(r.status == 200 for r in results), [getattr(r, "status", r) for r in results]
    indices = sorted(r.body["receipt"]["leaf_index"] for r in results)
    assert indices == list(range(before, before + 13))  # one entry each, none for the failed job
    assert verify_log(world.store, world.log.verifier_key).ok

    # A token revoked after it was identified: refused in the request's own transaction.
    token = world.tokens["ice"]
    who = gate.identify(token)
    assert gate.known(token) == who
    revoke_token(world.store, world.clock, who.token_id, record_admin_event=admin_event_recorder(world.log))
    logged = size(world)
    with pytest.raises(Unauthorized):
        asyncio.run(gate.search_async(who, ICE_SEARCH))
    with pytest.raises(Unauthorized):
        gate.search(who, ICE_SEARCH)
    assert size(world) == logged


def test_concurrent_requests_share_commits(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests that arrive while a batch is being written share the next batch's append.

    The first append is held until every other request is queued behind it, so the
    rest must go out as ONE append (and one commit); a gate that writes each request
    alone (``max_batch = 1``) makes eight appends and fails here.
    """
    calls: list[int] = []
    real = AuditLog.append
    n = 8

    def counting(self: AuditLog, conn: Any, entries: Any) -> Any:
        calls.append(len(entries))
        if len(calls) == 1:
            deadline = time.monotonic() + 20
            while sum(calls) + len(world.gate.commits._pending) < n and time.monotonic() < deadline:
                time.sleep(0.005)
        return real(self, conn, entries)

    monkeypatch.setattr(AuditLog, "append", counting)
    p = principal(world, "fbi")
    threads = [
        threading.Thread(target=lambda: world.gate.search(p, {"purpose": "C", "case_number": "c"}))
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(calls) == n
    assert len(calls) == 2, calls  # the first batch, then everyone who queued behind it
    assert verify_log(world.store, world.log.verifier_key).ok


def test_many_users_at_once_keep_exact_limits_and_one_entry_each(world: World) -> None:
    """Concurrent batches (several leaders on PostgreSQL): limits exact per user, log whole."""
    raw = agreement("ice-2017", id="ice-rl")
    raw["search"] = {**raw["search"], "rate_limit": {"requests": 3, "per": "minute"}}
    world.apply(raw)
    world.clock.set(NOW)
    users = [f"u{k}" for k in range(4)]
    for u in users:
        world.token(u, "partner", u, "ice-rl")
    who = {u: principal(world, u) for u in users}
    fbi = principal(world, "fbi")
    if not world.store.is_sqlite:
        world.gate.commits.max_leaders = 4  # batches in parallel, ordered by the log's lock
    before = size(world)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def limited(u: str) -> None:
        out = world.gate.search(who[u], ICE_SEARCH)
        with lock:
            results.append((u, out.status))

    def free() -> None:
        for _ in range(3):
            out = world.gate.search(fbi, {"purpose": "C", "case_number": "c"})
            with lock:
                results.append(("fbi", out.status))

    threads = [threading.Thread(target=limited, args=(u,)) for u in users for _ in range(6)]
    threads += [threading.Thread(target=free) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for u in users:
        assert sorted(s for who_, s in results if who_ == u) == [200] * 3 + [429] * 3, u
    assert [s for who_, s in results if who_ == "fbi"] == [200] * 18
    assert size(world) == before + 42
    assert verify_log(world.store, world.log.verifier_key).ok


def test_counted_requests_no_window_can_see_are_pruned(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from pars.gate import core

    monkeypatch.setattr(core, "PRUNE_EVERY", 2)
    # Entry times never go backwards: the story runs forward from the fixture's NOW.
    today = NOW + timedelta(days=5)
    world.clock.set(NOW)
    raw = agreement("ice-2017", id="ice-prune", search={**agreement("ice-2017")["search"]})
    raw["search"]["rate_limit"] = {"requests": 5, "per": "day"}
    world.apply(raw)
    world.token("pr-a", "partner", "a", "ice-prune")
    pa = principal(world, "pr-a")

    def counted() -> int:
        with world.store.read() as conn:
            return int(conn.scalar(select(func.count()).select_from(gate_requests)) or 0)

    world.clock.set(today - timedelta(days=3))
    for _ in range(4):
        assert world.gate.search(pa, ICE_SEARCH).status == 200
    assert counted() == 4  # within a day of the newest: nothing is pruned yet
    world.clock.set(today)
    statuses = [world.gate.search(pa, ICE_SEARCH).status for _ in range(6)]
    assert statuses == [200] * 5 + [429]  # those of three days ago do not count against today
    assert counted() == 5  # the four from three days ago are gone; today's five stay
    assert verify_log(world.store, world.log.verifier_key).ok


def test_the_gate_releases_records_only_through_its_private_path() -> None:
    """The package's face is pinned, and nothing outside a group-commit job can ask the
    gate for records without their entry: there is no public release."""
    import pars.gate

    assert sorted(pars.gate.__all__) == sorted(
        ["DEFAULT_LIMIT", "MAX_LIMIT", "RULE_MALFORMED", "RULE_NOT_FOUND", "FeedStep", "Forbidden", "Gate",
         "NotImplementedYet", "Outcome", "Principal", "TokenInfo", "TooLarge", "Unauthorized", "Unavailable",
         "admin_event_recorder", "authenticate", "error_body", "issue_token", "list_tokens", "next_delivery",
         "revoke_token"]
    )  # fmt: skip
    public = {name for name in dir(pars.gate.Gate) if not name.startswith("_")}
    assert public == {
        "authenticate", "entry_for", "identify", "known", "open_feed", "read", "read_async", "require_role",
        "search", "search_async",
    }  # fmt: skip


def test_a_denial_logs_every_violation_without_the_typed_name(world: World) -> None:
    p = principal(world, "ice")
    out = world.gate.search(p, {**ICE_SEARCH, "filters": {"lname_secret": "x", "country_of_origin": "MX"}})
    entry = out.body["receipt"]["entry"]
    # The typed name is free text (CONTRACT 5): committed in the rule, opened beside the entry.
    assert out.status == 403 and entry["rule"].startswith("filters.unknown.sha256:")
    assert opened(out.body["receipt"])["rule"].text == "lname_secret"
    assert "lname_secret" not in json.dumps(entry)
    assert entry["violations"] == ["filters.unknown", "search.forbid_filters.country_of_origin"]
    # A denial with one violation needs no list (its rule says it all), an allow neither.
    single = world.gate.search(p, {**ICE_SEARCH, "filters": {"country_of_origin": "MX"}})
    assert "violations" not in single.body["receipt"]["entry"]
    assert verify_log(world.store, world.log.verifier_key).ok
