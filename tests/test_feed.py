"""The feed on a real uvicorn server in-process (SSE needs a streaming transport):
delivery within a second, scope, redaction, receipts, Last-Event-ID resume, and
streams closing at the second their agreement ends (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from pars.agreements.request import Request
from pars.agreements.service import terminate
from pars.audit import AuditLog
from pars.gate import FeedStep, admin_event_recorder, next_delivery
from pars.store.db import Store
from pars.store.schema.gate import gate_requests
from tests.test_gate_fixtures import NOW, SSN, World, agreement, graded, make_world, verify_receipt, world

__all__ = ["world"]

FEED = {"purpose": "C", "case_number": "FBI-9"}


class Live:
    """The world's app on a loopback port, with SSE subscriptions read in threads."""

    def __init__(self, world: World) -> None:
        self.world = world
        config = uvicorn.Config(
            world.app, host="127.0.0.1", port=0, log_level="warning", ws="none", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"

    def post(self, path: str, who: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.base + path, headers=self.world.auth(who), timeout=10, **kw)

    def subscribe(self, who: str, last_event_id: str | None = None) -> Subscription:
        headers = self.world.auth(who)
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        return Subscription(self.base + "/v1/feed", headers)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Subscription:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.status: int | None = None
        self.comments = 0
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, params=FEED, headers=headers) as resp:
                self.status = resp.status_code
                self._ready.set()
                if resp.status_code != 200:
                    self.events.put({"event": "response", "data": json.loads(resp.read())})
                    return
                event: dict[str, Any] = {}
                for line in resp.iter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                        continue
                    if not line:
                        if event:
                            self.events.put(event)
                        event = {}
                    elif line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif ": " in line:
                        k, v = line.split(": ", 1)
                        event[k] = v
        except httpx.HTTPError:
            pass
        finally:
            self._ready.set()
            self.events.put(None)

    def next(self, timeout: float = 5) -> dict[str, Any] | None:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def live(store: Store, tmp_path: Path) -> Iterator[Live]:
    w = make_world(store, tmp_path, feed_poll=0.2)
    server = Live(w)
    yield server
    server.stop()
    w.client.close()


def book(live: Live, *events: dict[str, Any]) -> None:
    r = live.post("/v1/bookings", "custodian", json=list(events))
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


def test_a_booking_reaches_a_subscriber_within_a_second_redacted_and_in_scope(live: Live) -> None:
    sub = live.subscribe("fbi")
    opened = sub.next()
    assert opened is not None and opened["event"] == "open"
    verify_receipt(live.world.client, live.world.auth("fbi"), opened["data"]["receipt"])
    t0 = time.monotonic()
    book(live, graded(20, "M1"), graded(21, "F1"))  # M1 is outside the FBI feed's grades
    got = sub.next(timeout=2)
    assert time.monotonic() - t0 < 1.0
    assert got is not None and got["event"] == "arrests"
    data = got["data"]
    assert [r["arrest_id"] for r in data["results"]] == ["A-2018-000021"]
    rec = data["results"][0]
    assert rec["person"]["ssn"] == "***-**-6789" and SSN not in json.dumps(data)
    assert "custody" not in rec  # warrant_required: no warrant can be cited on a feed
    entry = data["receipt"]["entry"]
    assert (entry["action"], entry["arrest_ids"], entry["status"]) == ("feed", ["A-2018-000021"], 200)
    assert int(got["id"]) >= 1
    verify_receipt(live.world.client, live.world.auth("fbi"), data["receipt"])
    sub.close()


def test_resume_with_last_event_id(live: Live) -> None:
    sub = live.subscribe("fbi")
    assert sub.next()["event"] == "open"  # type: ignore[index]
    book(live, graded(30, "F2"))
    first = sub.next(timeout=3)
    assert first is not None and first["event"] == "arrests"
    sub.close()
    book(live, graded(31, "F3"), graded(32, "F1"))
    again = live.subscribe("fbi", last_event_id=first["id"])
    assert again.next()["event"] == "open"  # type: ignore[index]
    got = again.next(timeout=3)
    assert got is not None
    assert sorted(r["arrest_id"] for r in got["data"]["results"]) == ["A-2018-000031", "A-2018-000032"]
    again.close()
    bad = live.subscribe("fbi", last_event_id="yesterday")
    assert bad.status == 422
    resp = bad.next()
    assert resp is not None and resp["data"]["receipt"]["entry"]["status"] == 422
    bad.close()


def test_feed_denied_when_the_agreement_has_no_feed(live: Live) -> None:
    sub = live.subscribe("ice")
    assert sub.status == 403
    resp = sub.next()
    assert resp is not None
    assert resp["data"]["error"]["rule"] == "feed.enabled"
    assert resp["data"]["receipt"]["entry"]["action"] == "feed"
    sub.close()


def test_streams_close_at_the_second_the_agreement_ends(live: Live) -> None:
    w = live.world
    end = NOW + timedelta(seconds=5)
    r = live.post("/v1/agreements/fbi-2017/terminate", "custodian",
                  json={"effective_at": end.isoformat(), "reason": "ended by council vote"})  # fmt: skip
    assert r.status_code == 200, r.text
    sub = live.subscribe("fbi")
    assert sub.next()["event"] == "open"  # type: ignore[index]
    w.clock.set(end)
    book(live, graded(40, "F1"))
    got = sub.next(timeout=3)
    assert got is not None and got["event"] == "arrests"  # the last second is still served
    with pytest.raises(queue.Empty):
        sub.next(timeout=0.6)
    w.clock.set(end + timedelta(seconds=1))
    closed = sub.next(timeout=2)
    assert closed is not None and closed["event"] == "closed"
    assert closed["data"]["error"]["rule"] == "term.end"
    assert closed["data"]["receipt"]["entry"]["rule"] == "term.end"
    assert sub.next(timeout=3) is None  # the stream ended
    sub.close()
    # Another agreement keeps working at the same instant.
    s = httpx.post(live.base + "/v1/search", json={"purpose": "C", "case_number": "x", "justification": "y"},
                   headers=w.auth("ice"), timeout=10)  # fmt: skip
    assert s.status_code == 200


def test_postgres_notify_wakes_streams_for_bookings_from_elsewhere(store: Store, tmp_path: Path) -> None:
    """A batch ingested by another process (here: directly, not via the API) is pushed by NOTIFY."""
    if store.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite streams are poked in-process and poll")
    w = make_world(store, tmp_path, feed_poll=30)  # polling alone would take 30 s
    server = Live(w)
    try:
        sub = server.subscribe("fbi")
        assert sub.next()["event"] == "open"  # type: ignore[index]
        time.sleep(0.3)  # let the listener connect
        t0 = time.monotonic()
        w.ingest(graded(50, "F1"))
        got = sub.next(timeout=3)
        assert got is not None and got["event"] == "arrests"
        assert time.monotonic() - t0 < 1.0
        sub.close()
    finally:
        server.stop()
        w.client.close()


def test_a_delivery_that_cannot_be_logged_is_not_sent(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    from pars.audit import AuditLog, AuditWriteError, log_size

    sub = live.subscribe("fbi")
    assert sub.next()["event"] == "open"  # type: ignore[index]
    with live.world.store.read() as conn:
        before = log_size(conn)

    def broken(self: AuditLog, conn: Any, entries: Any) -> Any:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(AuditLog, "append", broken)
    book(live, graded(60, "F1"))
    got = sub.next(timeout=3)
    assert got is not None and got["event"] == "error"
    assert "results" not in got["data"] and "A-2018-000060" not in json.dumps(got["data"])
    assert sub.next(timeout=3) is None  # the stream stopped
    monkeypatch.undo()
    with live.world.store.read() as conn:
        assert log_size(conn) == before
    sub.close()


def test_revoking_the_token_closes_its_stream(live: Live) -> None:
    from pars.gate import admin_event_recorder, revoke_token

    sub = live.subscribe("fbi")
    assert sub.next()["event"] == "open"  # type: ignore[index]
    revoke_token(
        live.world.store,
        live.world.clock,
        live.world.tokens["fbi"],
        record_admin_event=admin_event_recorder(live.world.log),
    )
    closed = sub.next(timeout=3)
    assert closed is not None and closed["event"] == "closed"
    assert closed["data"]["error"]["code"] == "unauthorized"
    assert sub.next(timeout=3) is None
    sub.close()


def test_an_idle_stream_sends_keepalive_comments(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    from pars.web import partner

    monkeypatch.setattr(partner, "KEEPALIVE_SECONDS", 0.2)
    sub = live.subscribe("fbi")
    assert sub.next()["event"] == "open"  # type: ignore[index]
    time.sleep(1.0)
    assert sub.comments >= 2
    with pytest.raises(queue.Empty):
        sub.next(timeout=0.1)  # comments are not events
    sub.close()


# --- the feed through the gate (no HTTP): floor, rate limit, group commit -------------------


def _open(w: World, who: str, last_event_id: int | None = None) -> tuple[Any, int]:
    p = w.gate.authenticate(w.tokens[who])
    opened = w.gate.open_feed(p, FEED, last_event_id=last_event_id)
    assert opened.status == 200 and opened.cursor is not None, opened.body
    return p, opened.cursor


def _delivered(w: World, p: Any, cursor: int) -> tuple[list[str], FeedStep]:
    """Every arrest the stream delivers after ``cursor`` until it has nothing new."""
    got: list[str] = []
    while True:
        step = next_delivery(w.gate, p, Request.feed(FEED), cursor)
        if step.kind == "data":
            got += [r["arrest_id"] for r in step.body["results"]]
        if step.kind in ("idle", "closed"):
            return got, step
        cursor = step.cursor


def test_last_event_id_never_resumes_before_the_subscribers_first_delivery(world: World) -> None:
    """`Last-Event-ID: 0` used to replay every arrest ever booked; now a stream starts no
    earlier than where this (agreement, user) first subscribed, whatever it sends."""
    world.ingest(graded(50, "F1"), graded(51, "F2"))  # booked before sa1 ever subscribed
    p, first = _open(world, "fbi", last_event_id=0)
    assert _delivered(world, p, first)[0] == []  # nothing from the past
    world.ingest(graded(52, "F1"))
    assert _delivered(world, p, first)[0] == ["A-2018-000052"]
    # Reconnecting from the very start resumes at the first open, not before it.
    _, again = _open(world, "fbi", last_event_id=0)
    assert again == first
    assert _delivered(world, p, again)[0] == ["A-2018-000052"]
    # A resume past the newest event is held to it; no Last-Event-ID starts at the newest.
    _, future = _open(world, "fbi", last_event_id=10**12)
    _, fresh = _open(world, "fbi")
    assert future == fresh > first
    # Another user of the same agreement has its own floor: its first open, now.
    world.token("fbi2", "partner", "sa2", "fbi-2017")
    p2, other = _open(world, "fbi2", last_event_id=0)
    assert other == fresh and _delivered(world, p2, other)[0] == []


def test_feed_deliveries_are_logged_and_count_toward_the_rate_limit(world: World) -> None:
    """Each delivery is one entry and one request of the rate limit; over it, the stream
    closes with a logged 429 and searches in the same window are refused too."""
    limited = {"require": [], "rate_limit": {"requests": 3, "per": "day"}}
    world.apply(agreement("fbi-2017", id="fbi-rl", search=limited))  # serves from now on
    world.token("rl", "partner", "sa9", "fbi-rl")
    p, cursor = _open(world, "rl")  # request 1
    before = size_of(world)
    for n in (60, 61):  # requests 2 and 3
        world.ingest(graded(n, "F1"))
        step = next_delivery(world.gate, p, Request.feed(FEED), cursor)
        assert step.kind == "data", step
        entry = step.body["receipt"]["entry"]
        assert (entry["action"], entry["arrest_ids"], entry["user"]) == ("feed", [f"A-2018-0000{n}"], "sa9")
        cursor = step.cursor
    world.ingest(graded(62, "F1"))
    closed = next_delivery(world.gate, p, Request.feed(FEED), cursor)
    assert closed.kind == "closed"
    assert closed.body["error"]["rule"] == "search.rate_limit"
    assert closed.body["receipt"]["entry"]["status"] == 429
    assert "A-2018-000062" not in json.dumps(closed.body)
    assert size_of(world) == before + 3  # two deliveries and the refusal, one entry each
    search = world.gate.search(p, {"purpose": "C", "case_number": "c"})
    assert search.status == 429


def test_a_feed_delivery_shares_the_group_commit_with_searches(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed has no append of its own: a delivery queued behind a batch goes out in the
    next batch's one append, beside the searches queued with it."""
    p, cursor = _open(world, "fbi")
    world.ingest(graded(70, "F1"))
    calls: list[list[str]] = []
    real = AuditLog.append

    def held(self: AuditLog, conn: Any, entries: Any) -> Any:
        calls.append([e.document["action"] for e in entries])
        if len(calls) == 1:
            deadline = time.monotonic() + 20
            while len(world.gate.commits._pending) < 3 and time.monotonic() < deadline:
                time.sleep(0.005)
        return real(self, conn, entries)

    monkeypatch.setattr(AuditLog, "append", held)
    body = {"purpose": "C", "case_number": "c"}
    steps: list[FeedStep] = []
    first = threading.Thread(target=lambda: world.gate.search(p, body))
    first.start()
    while not calls:
        time.sleep(0.005)
    others = [threading.Thread(target=lambda: world.gate.search(p, body)) for _ in range(2)]
    deliver = lambda: steps.append(next_delivery(world.gate, p, Request.feed(FEED), cursor))  # noqa: E731
    others.append(threading.Thread(target=deliver))
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join()
    assert calls[0] == ["search"] and sorted(calls[1]) == ["feed", "search", "search"], calls
    assert steps[0].kind == "data" and steps[0].body["receipt"]["entry"]["action"] == "feed"


def size_of(w: World) -> int:
    from pars.audit import log_size

    with w.store.read() as conn:
        return log_size(conn)


def test_a_refused_delivery_counts_toward_the_rate_limit_as_replay_counts_it(world: World) -> None:
    """A delivery refused by another rule than the limit (here the agreement ended
    mid-stream) is logged, and counts toward the (agreement, user)'s limit exactly as a
    refused search does and as replay counts it; only the limit's own 429 does not."""
    limited = {"require": [], "rate_limit": {"requests": 5, "per": "day"}}
    world.apply(agreement("fbi-2017", id="fbi-rl", search=limited))
    world.token("rl", "partner", "sa9", "fbi-rl")
    p, cursor = _open(world, "rl")  # request 1
    end = world.clock.now()
    terminate(
        world.store, world.clock, "fbi-rl", end, "ended mid-stream",
        by="clerk", record_admin_event=admin_event_recorder(world.log),
    )  # fmt: skip
    world.clock.set(end + timedelta(seconds=1))
    world.ingest(graded(80, "F1"))
    closed = next_delivery(world.gate, p, Request.feed(FEED), cursor)
    assert closed.kind == "closed" and closed.body["error"]["rule"] == "term.end"
    assert closed.body["receipt"]["entry"]["status"] == 403
    with world.store.read() as conn:
        counted = conn.scalar(
            select(func.count()).where(
                gate_requests.c.agreement_id == "fbi-rl", gate_requests.c.user == "sa9"
            )
        )
    assert counted == 2  # the open and the refused delivery
