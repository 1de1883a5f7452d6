"""Gate benchmark: what deciding, redacting and logging cost over the bare query.

Run: ``.venv/bin/python benchmarks/gate.py [--arrests N] [--seconds S] [--backends sqlite,postgresql]``

Prints, for SQLite and PostgreSQL side by side in one run:

- a search through the gate (token already resolved; serving version, rate count,
  decide, query, load, warrant check, redact, audit entry, append, commit) vs the
  bare store query plus ``load_records`` for the same filters, requests/s, single
  thread, the two alternated in 10 rounds over the same bodies (goal >= 0.5x);
- HTTP ``POST /v1/search`` vs ``GET /healthz`` on the same ``pars serve`` process
  with the same client concurrency (goal >= 0.3x).

PostgreSQL comes from ``PARS_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/test); the script creates and drops its own
database. Loopback only. Not a test: it prints figures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this folder is first on sys.path, and its http.py would shadow the
# standard library's http package (httpx needs it): move the folder to the end.
_HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import httpx  # noqa: E402
from common import DEFAULT_PG, backend_store  # noqa: E402 - benchmarks/common.py
from sqlalchemy import select  # noqa: E402

from pars.agreements.approval_note import SignerKey  # noqa: E402
from pars.agreements.parties import add_party_key  # noqa: E402
from pars.agreements.service import apply_document, approval_note_for, approve  # noqa: E402
from pars.audit import AuditLog, init_log, load_keys  # noqa: E402
from pars.clock import SYSTEM_CLOCK  # noqa: E402
from pars.gate import Gate, admin_event_recorder, issue_token  # noqa: E402
from pars.gate.view import store_scope  # noqa: E402
from pars.store.db import Store  # noqa: E402
from pars.store.ingest import ingest_lines  # noqa: E402
from pars.store.migrate import upgrade  # noqa: E402
from pars.store.queries import SearchQuery, load_records, search  # noqa: E402
from pars.store.schema import arrests, parties  # noqa: E402
from pars.synth import generate  # noqa: E402

CONCURRENCY = 16


def agreement_doc() -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "id": "bench-2026",
        "partner": "FBI",
        "title": "benchmark agreement",
        "term": {
            "start": (now - timedelta(days=1)).isoformat(),
            "end": (now + timedelta(days=30)).isoformat(),
        },
        "purposes": ["C"],
        "roles": ["arrestee"],
        "fields": {
            "allow": [
                "arrest_id",
                "person_id",
                "person.last_name",
                "person.first_name",
                "person.dob",
                "arrest.*",
                "charges.*",
                "arraignment.*",
            ],
            "mask": {"person.ssn": "last4"},
        },
        "search": {"require": ["case_number"], "max_results": 25},
        "feed": {"enabled": True},
    }


@dataclass
class World:
    store: Store
    url: str
    key_dir: str
    token: str
    #: One token per concurrent HTTP client: partners' users, each with its own rate window.
    user_tokens: list[str]
    bodies: list[dict[str, Any]]
    arrest_ids: list[str]


@contextmanager
def backend(name: str, pg_admin: str, workdir: Path, arrests_n: int) -> Iterator[World]:
    """A migrated store with synthetic bookings, an approved agreement and a partner token."""
    with backend_store(name, pg_admin, workdir) as store:
        yield setup(store, store.url, str(workdir / "keys"), arrests_n)


def setup(store: Store, url: str, key_dir: str, arrests_n: int) -> World:
    upgrade(store)
    init_log(store, key_dir)
    events = generate(arrests_n, seed=7, start=date(2017, 9, 1), days=365)
    ingest_lines(store, ((i, json.dumps(e)) for i, e in enumerate(events, 1)))
    log = AuditLog(load_keys(key_dir))
    rec = admin_event_recorder(log)
    doc = agreement_doc()
    from pars.agreements.document import parse_document

    apply_document(store, SYSTEM_CLOCK, parse_document(doc), by="bench", record_admin_event=rec)
    for role in ("courts", "police"):  # each party signs its approval with its own key
        signer = SignerKey.generate(role)
        add_party_key(store, SYSTEM_CLOCK, role, signer.verifier_key, by="bench", record_admin_event=rec)
        with store.read() as conn:
            note = approval_note_for(conn, doc["id"], signer)
        approve(store, SYSTEM_CLOCK, doc["id"], note, by=role, record_admin_event=rec)

    def partner(user: str) -> str:
        return issue_token(
            store, SYSTEM_CLOCK, role="partner", user=user, agreement_id=doc["id"], record_admin_event=rec
        )[0]

    token = partner("bench")
    users = [partner(f"agent{k}") for k in range(64)]
    with store.read() as conn:
        districts = sorted({r for r in conn.scalars(select(arrests.c.district)) if r})
        ids = list(conn.scalars(select(arrests.c.arrest_id)))
        names = list(conn.scalars(select(parties.c.last_name).where(parties.c.role == "arrestee").limit(200)))
    base = {"purpose": "C", "case_number": "B-1", "justification": "benchmark"}
    # What partners search by: a district, or a person's name (hashed in the log).
    bodies = [{**base, "filters": {"district": d}} for d in districts]
    bodies += [{**base, "filters": {"last_name": n}} for n in names[:50]]
    return World(store, url, key_dir, token, users, bodies, ids)


def rate(fn: Any, seconds: float, start: int = 0) -> tuple[int, float]:
    """Calls of ``fn(start), fn(start + 1), ...`` for ``seconds``: (calls, elapsed)."""
    n = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        fn(start + n)
        n += 1
    return n, elapsed


#: Rounds the two in-process runs alternate over (load from elsewhere falls on both).
ROUNDS = 10


def core(world: World, seconds: float) -> tuple[float, float]:
    """Requests/s of the gate's search and of the bare query + load, alternated in
    ``ROUNDS`` rounds over the same bodies in the same order."""
    gate = Gate(world.store, AuditLog(load_keys(world.key_dir)), SYSTEM_CLOCK)
    who = gate.authenticate(world.token)
    bodies = world.bodies
    from pars.agreements.plan import RecordScope

    scope = store_scope(RecordScope())

    def through_gate(i: int) -> None:
        out = gate.search(who, bodies[i % len(bodies)])
        assert out.status == 200, out.body

    def bare(i: int) -> None:
        b = bodies[i % len(bodies)]
        with world.store.read() as conn:
            ids = search(conn, SearchQuery(b["filters"], (), 25, scope))
            load_records(conn, ids)

    rate(bare, 1)  # warm up both
    rate(through_gate, 1)
    totals = {"gate": [0, 0.0], "bare": [0, 0.0]}
    start = 0
    for r in range(ROUNDS):
        # Alternate which goes first, so neither always follows the other's commit.
        order = (
            ((through_gate, "gate"), (bare, "bare"))
            if r % 2 == 0
            else ((bare, "bare"), (through_gate, "gate"))
        )
        for fn, name in order:
            n, elapsed = rate(fn, seconds / ROUNDS, start)
            totals[name][0] += n
            totals[name][1] += elapsed
        start += 997  # the next round starts elsewhere in the bodies, the same for both
    return totals["gate"][0] / totals["gate"][1], totals["bare"][0] / totals["bare"][1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(world: World, workers: int = 1) -> Iterator[str]:
    """``pars serve`` (``--workers N``) on a loopback port in its own process group, for
    this world; every worker up before it yields, the whole group stopped after."""
    port = free_port()
    env = {**os.environ, "PARS_DATABASE_URL": world.url, "PARS_KEY_DIR": world.key_dir}
    serve = ["serve", "--port", str(port), *(["--workers", str(workers)] if workers > 1 else [])]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pars.cli import main; main()", *serve],
        env=env,
        # Not this folder: "-c" puts the working directory first on sys.path, and
        # benchmarks/http.py would shadow the standard library's http package.
        cwd=Path(world.key_dir).parent,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"pars serve --workers {workers} did not come up")
        if workers > 1:
            time.sleep(1.0 * workers)  # every worker up, not only the first to answer
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


async def hammer(base: str, make: Any, seconds: float, concurrency: int) -> tuple[int, int, list[float]]:
    """``concurrency`` clients sending ``make(client, rng, k)`` for ``seconds``: (ok, errors, latencies)."""
    ok = errors = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker(k: int) -> None:
            nonlocal ok, errors
            rng = random.Random(k)
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                try:
                    r = await make(client, rng, k)
                    good = r.status_code == 200
                except httpx.HTTPError:
                    good = False
                latencies.append(time.perf_counter() - t)
                if good:
                    ok += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return ok, errors, latencies


def http(world: World, seconds: float) -> tuple[float, float]:
    async def health(c: httpx.AsyncClient, rng: random.Random, k: int) -> httpx.Response:
        return await c.get("/healthz")

    async def searched(c: httpx.AsyncClient, rng: random.Random, k: int) -> httpx.Response:
        auth = {"Authorization": f"Bearer {world.user_tokens[k]}"}
        return await c.post("/v1/search", json=rng.choice(world.bodies), headers=auth)

    with served(world) as base:
        asyncio.run(hammer(base, health, 1, CONCURRENCY))
        h_ok, _, _ = asyncio.run(hammer(base, health, seconds, CONCURRENCY))
        s_ok, s_err, _ = asyncio.run(hammer(base, searched, seconds, CONCURRENCY))
    if s_err:
        print(f"  (search errors: {s_err})")
    return s_ok / seconds, h_ok / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arrests", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--backends", default="sqlite,postgresql")
    args = p.parse_args()
    pg = os.environ.get("PARS_BENCH_POSTGRES_URL", DEFAULT_PG)
    print(f"gate benchmark: {args.arrests} synthetic arrests, {args.seconds:g} s per figure, "
          f"HTTP concurrency {CONCURRENCY}")  # fmt: skip
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp, backend(name, pg, Path(tmp), args.arrests) as world:
            g, b = core(world, args.seconds)
            print(f"{name:<10} search via gate {g:8.1f} req/s | bare query+load {b:8.1f} req/s | "
                  f"ratio {g / b:.2f}x (goal >= 0.5x)")  # fmt: skip
            s, h = http(world, args.seconds)
            print(f"{name:<10} HTTP /v1/search {s:8.1f} req/s | /healthz {h:8.1f} req/s | "
                  f"ratio {s / h:.2f}x (goal >= 0.3x)")  # fmt: skip


if __name__ == "__main__":
    main()
