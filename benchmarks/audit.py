"""Audit log benchmark: append rate, verify vs raw hashing, proof time vs log size.

Run: ``.venv/bin/python benchmarks/audit.py [--entries N] [--batch B] [--backends sqlite,postgresql]``
or, at the gate's real batch sizes: ``... benchmarks/audit.py --batches 1,8,32 [--appends A]``

Prints, for SQLite and PostgreSQL side by side in one run:

- batched append, entries/s (goal >= 20,000/s; entries are pre-built, as the gate
  builds its entry before taking the writer lock);
- ``verify_log`` over the whole log vs raw ``hashlib.sha256(0x00 ‖ bytes)`` over the
  same leaf bytes held in memory (goal <= 3x); beside it, what decoding every entry
  would add if verify covered the derived columns, and the checked reader's full scan
  (``pars.audit.open_log``: what the reports pay instead);
- inclusion-proof generation (one read transaction per proof, as a request would)
  at N leaves vs at 1,000 leaves (goal <= 2x).

With ``--batches``, it instead measures appends of 1, 8 and 32 entries, each append its
own durable transaction, interleaved one by one with a bare durable single-row insert
and commit (about 700 bytes, through the same ``Store.write()``) on the same database:

- "every": a checkpoint stored per append (``PARS_CHECKPOINT_INTERVAL=0``, what every
  append did before checkpoints were stored at a cadence);
- "cadence": at most one stored per second (the default), each append still signing its own;

and ``verify_log`` on each resulting log against raw SHA-256 over its leaves.

At the goal's scale (10^6 entries appended in batches of 1 to 32)::

    benchmarks/audit.py --batches 1,8,32 --fill 1000000 --modes cadence

``--fill N`` first appends N entries to each log in batches of those sizes in rotation
(each its own transaction, committed without fsync to build the log in minutes; the
timed appends after it are durable), ``--modes`` picks "every" and/or "cadence".

PostgreSQL comes from ``PARS_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/test); the script creates and drops its own
database there. Not a test: it prints figures, it does not assert.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
from common import DEFAULT_PG, backend_store  # benchmarks/common.py (scripts run from this folder)
from sqlalchemy import event

from pars.audit import (
    AuditEntry,
    AuditLog,
    build_entry,
    create_keys,
    inclusion_proof,
    init_log,
    open_log,
    verify_log,
)
from pars.store.db import Store

T0 = datetime(2018, 1, 1, tzinfo=UTC)
SMALL = 1_000
PROOFS = 300


def templates(log: AuditLog, count: int = 16) -> list[AuditEntry]:
    """Realistic entries (about 700 bytes) with a fixed-width marker to vary per leaf."""
    return [
        build_entry(
            hmac_key=log.keys.hmac_key,
            time=T0,  # one time for all: entry times never go backwards along the log
            kind="access",
            action="search",
            decision="allow",
            status=200,
            agreement_id=("ice-2017", "fbi-2018", "atf-2019")[k % 3],
            agreement_version=hashlib.sha256(str(k % 3).encode()).hexdigest(),
            agency=("ICE", "FBI", "ATF")[k % 3],
            user=f"agent{k}",
            route="POST /v1/search",
            purpose="C",
            case_number=f"CASE-2018-{k:06d}",
            justification="Investigating an ongoing case; subject named in a warrant",
            filters={"last_name": f"Doe{k}", "dob": "1990-02-03", "grade": "F1"},
            sort=["-arrested_at"],
            limit=25,
            arrest_ids=["A-2018-#########", "A-2018-000002", "A-2018-000003"],
            person_ids=["P-00000001", "P-00000002"],
            fields=["arrest_id", "person_id", "person.last_name", "arrest.agency", "charges.grade"],
        )
        for k in range(count)
    ]


def entry_bytes(tmpl: list[AuditEntry], i: int) -> bytes:
    return tmpl[i % len(tmpl)].canonical.replace(b"#########", b"%09d" % i)


def batches(tmpl: list[AuditEntry], start: int, n: int, size: int) -> Iterator[list[AuditEntry]]:
    for a in range(start, start + n, size):
        out = []
        for i in range(a, min(a + size, start + n)):
            t = tmpl[i % len(tmpl)]
            out.append(AuditEntry(t.document, entry_bytes(tmpl, i), t.time))
        yield out


def proof_time(store: Store, size: int, rng: random.Random) -> float:
    """Median seconds for one inclusion proof at ``size``, in its own read transaction."""
    times = []
    for _ in range(PROOFS):
        index = rng.randrange(size)
        t = time.perf_counter()
        with store.read() as conn:
            inclusion_proof(conn, index, size)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(name: str, n: int, batch: int, pg_admin: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, backend_store(name, pg_admin, Path(tmp)) as store:
        init_log(store, str(Path(tmp) / "keys"))
        log = AuditLog.open(str(Path(tmp) / "keys"))
        tmpl = templates(log)
        rng = random.Random(7)
        appending = 0.0
        done = 0
        small_proof = 0.0
        for chunk in batches(tmpl, 0, n, batch):
            t = time.perf_counter()
            with store.write() as conn:
                log.append(conn, chunk)
            appending += time.perf_counter() - t
            before, done = done, done + len(chunk)
            if before < SMALL <= done:
                small_proof = proof_time(store, SMALL, rng)
            if done % (n // 10 or 1) < batch:
                print(f"  {name}: {done:,} appended", file=sys.stderr, flush=True)
        big_proof = proof_time(store, n, rng)

        t = time.perf_counter()
        result = verify_log(store, log.verifier_key)
        verifying = time.perf_counter() - t
        assert result.ok, result.problem

        leaves = [entry_bytes(tmpl, i) for i in range(n)]
        t = time.perf_counter()
        for b in leaves:
            hashlib.sha256(b"\x00" + b).digest()
        raw = time.perf_counter() - t
        # What verify would add to cover the derived columns (kind, user, agreement_id,
        # time): decode every entry and read those four keys (none of the store's reading).
        t = time.perf_counter()
        for b in leaves:
            doc = orjson.loads(b)
            (doc["kind"], doc["user"], doc["agreement_id"], doc["time"])
        decoding = time.perf_counter() - t
        del leaves
        # What the readers pay instead: the whole log through the checked reader, decoded.
        with store.write() as conn:
            log.checkpoint_head(conn, force=True)
        t = time.perf_counter()
        with open_log(store, log.verifier_key) as view:
            read = sum(1 for _ in view.entries())
        reading = time.perf_counter() - t
        assert read == n
        return {
            "append_per_s": n / appending,
            "verify_s": verifying,
            "raw_s": raw,
            "decode_s": decoding,
            "reader_s": reading,
            "proof_small_ms": small_proof * 1000,
            "proof_big_ms": big_proof * 1000,
        }


_BARE = {
    "sqlite": "CREATE TABLE bench_bare (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)",
    "postgresql": "CREATE TABLE bench_bare (id BIGINT PRIMARY KEY, payload BYTEA NOT NULL)",
}


def bare_insert(store: Store, i: int, payload: bytes) -> float:
    """Seconds for one single-row insert in its own durable write transaction."""
    sql = "INSERT INTO bench_bare (id, payload) VALUES " + ("(?, ?)" if store.is_sqlite else "(%s, %s)")
    t = time.perf_counter()
    with store.write() as conn:
        conn.connection.driver_connection.execute(sql, (i, payload))
    return time.perf_counter() - t


def timed_append(store: Store, log: AuditLog, chunk: list[AuditEntry]) -> float:
    t = time.perf_counter()
    with store.write() as conn:
        log.append(conn, chunk)
    return time.perf_counter() - t


def verify_ratio(store: Store, log: AuditLog, tmpl: list[AuditEntry], n: int) -> tuple[float, int]:
    t = time.perf_counter()
    result = verify_log(store, log.verifier_key)
    verifying = time.perf_counter() - t
    assert result.ok, result.problem
    assert result.size == n
    raw = 0.0
    for lo in range(0, n, 65_536):  # in slices: a million leaves would hold 700 MB
        leaves = [entry_bytes(tmpl, i) for i in range(lo, min(lo + 65_536, n))]
        t = time.perf_counter()
        for b in leaves:
            hashlib.sha256(b"\x00" + b).digest()
        raw += time.perf_counter() - t
    return verifying / raw, result.checkpoints_checked


INTERVALS = {"every": 0.0, "cadence": None}


def fill(store: Store, log: AuditLog, tmpl: list[AuditEntry], n: int, sizes: list[int]) -> float:
    """Append ``n`` entries in batches of ``sizes`` in rotation, each its own transaction
    (the log a long-running gate leaves); returns the seconds taken.

    Not durable, to build a 10^6-entry log in minutes on a busy machine: PostgreSQL
    commits with ``synchronous_commit = off``, SQLite with ``synchronous = OFF``. The
    log is the same (the cadence follows the clock, so it stores fewer checkpoints
    per entry than a durable fill would); the timed appends after it are durable.
    """
    if store.is_sqlite:  # a store of its own, whose connections never sync
        store = Store(store.url)
        event.listen(store.engine, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA synchronous = OFF"))
    t = time.perf_counter()
    done, k = 0, 0
    while done < n:
        size = min(sizes[k % len(sizes)], n - done)
        chunk = next(batches(tmpl, done, size, size))
        with store.write() as conn:
            if not store.is_sqlite:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            log.append(conn, chunk)
        done, k = done + size, k + 1
        if done % 100_000 < size:
            print(f"  filled {done:,}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t
    if store.is_sqlite:
        store.dispose()
    return seconds


def run_batches(
    name: str, sizes: list[int], appends: int, pg_admin: str, *, modes: list[str], prefill: int = 0
) -> dict[str, object]:
    """Per batch size, per mode: the times of ``appends`` appends and as many bare inserts,
    taken one after the other (bare, append, bare, append ...) so load falls on all alike.
    With ``prefill``, each log first gets that many entries in batches of ``sizes``."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        logs = {}
        for mode in modes:
            (Path(tmp) / mode).mkdir()
            store = stack.enter_context(backend_store(name, pg_admin, Path(tmp) / mode))
            keys = str(Path(tmp) / f"keys-{mode}")
            init_log(store, keys)
            logs[mode] = (store, AuditLog.open(keys, checkpoint_interval=INTERVALS[mode]))
            with store.write() as conn:
                conn.exec_driver_sql(_BARE[name])
        tmpl = templates(logs[modes[0]][1])
        payload = tmpl[0].canonical
        out: dict[str, object] = {}
        for mode in modes:
            if prefill:
                store, log = logs[mode]
                out[f"fill_{mode}"] = prefill / fill(store, log, tmpl, prefill, sizes)
        done = dict.fromkeys(modes, prefill)
        bares = 0
        for size in sizes:
            chunks = {m: list(batches(tmpl, done[m], appends * size, size)) for m in done}
            times: dict[str, list[float]] = {k: [] for m in modes for k in (m, f"bare_{m}")}
            for i in range(appends):
                for mode in modes:
                    store, log = logs[mode]
                    times[f"bare_{mode}"].append(bare_insert(store, bares, payload))
                    times[mode].append(timed_append(store, log, chunks[mode][i]))
                bares += 1
            for mode in done:
                done[mode] += appends * size
            out[str(size)] = {k: (sum(v), statistics.median(v)) for k, v in times.items()}
            print(f"  {name}: batch {size} done", file=sys.stderr, flush=True)
        for mode in modes:
            store, log = logs[mode]
            out[f"verify_{mode}"] = verify_ratio(store, log, tmpl, done[mode])
        return out


def print_batches(
    results: dict[str, dict[str, object]], sizes: list[int], appends: int, modes: list[str], prefill: int
) -> None:
    print(f"\naudit appends at the gate's batch sizes: {appends} appends per batch size and mode,")
    print("each append and each bare single-row insert its own durable transaction, interleaved")
    if prefill:
        print(f"after filling each log with {prefill:,} entries in batches of {sizes} in rotation")
    label = {"every": "every cp", "cadence": "cadence"}
    for name, r in results.items():
        print(f"\n[{name}]")
        for mode in modes:
            if f"fill_{mode}" in r:
                print(f"  fill ({mode}): {r[f'fill_{mode}']:,.0f} entries/s")
        head = "".join(f" {'append, ' + label[m]:>22}" for m in modes)
        ratios = "".join(f" {label[m] + '/bare':>13}" for m in modes)
        print(f"  {'batch':>5} {'bare commit':>12}{head}{ratios}")
        for size in sizes:
            x = r[str(size)]
            assert isinstance(x, dict)
            n = appends * size
            bare_ms = statistics.mean(x[f"bare_{m}"][1] for m in modes) * 1000
            cols = "".join(f" {x[m][1] * 1000:>7.2f} ms {n / x[m][0]:>7,.0f}/s" for m in modes)
            rats = "".join(f" {x[m][1] / x[f'bare_{m}'][1]:>12.2f}x" for m in modes)
            print(f"  {size:>5} {bare_ms:>9.2f} ms{cols}{rats}")
        for mode in modes:
            ratio, checkpoints = r[f"verify_{mode}"]  # type: ignore[misc]
            print(f"  verify ({mode}): {ratio:.2f}x raw sha256, {checkpoints:,} stored checkpoints checked")
    print("\nms: median per transaction; /s: entries per second over all of them;")
    print("x/bare: median append against the median bare commit on the same database")
    print("(goal at batch 1: <= 1.5x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1_000, help="entries per append (transaction)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--batches", help="comma-separated batch sizes, e.g. 1,8,32: the side-by-side run")
    ap.add_argument("--appends", type=int, default=500, help="with --batches: appends per size and mode")
    ap.add_argument(
        "--fill",
        type=int,
        default=0,
        help="with --batches: first fill each log with this many entries, in batches of those sizes",
    )
    ap.add_argument(
        "--modes",
        default="every,cadence",
        help="with --batches: every (a checkpoint stored per append), cadence",
    )
    args = ap.parse_args()
    pg_admin = os.environ.get("PARS_BENCH_POSTGRES_URL", DEFAULT_PG)
    if args.batches:
        sizes = [int(b) for b in args.batches.split(",")]
        modes = [m for m in args.modes.split(",") if m]
        if not modes or any(m not in INTERVALS for m in modes):
            ap.error("--modes: every and/or cadence")
        found = {}
        for name in args.backends.split(","):
            print(f"running {name} at batch sizes {sizes} ...", file=sys.stderr, flush=True)
            found[name] = run_batches(name, sizes, args.appends, pg_admin, modes=modes, prefill=args.fill)
        print_batches(found, sizes, args.appends, modes, args.fill)
        return
    if args.entries < SMALL:
        ap.error(f"--entries must be at least {SMALL}")

    with tempfile.TemporaryDirectory() as tmp:
        keys, _ = create_keys(tmp)
        t = time.perf_counter()
        for k in range(2000):
            build_entry(
                hmac_key=keys.hmac_key,
                time=T0,
                kind="access",
                action="search",
                decision="allow",
                status=200,
                filters={"last_name": f"Doe{k}", "grade": "F1"},
                arrest_ids=[f"A-{k}"],
            )
        build_rate = 2000 / (time.perf_counter() - t)

    results = {}
    for name in args.backends.split(","):
        print(f"running {name} with {args.entries:,} entries ...", file=sys.stderr, flush=True)
        results[name] = run(name, args.entries, args.batch, pg_admin)

    n = args.entries
    print(f"\naudit log benchmark: {n:,} entries, {args.batch:,} per append")
    print(f"entry building (RFC 8785, keyed hashes; outside the lock): {build_rate:,.0f} entries/s")
    for name, r in results.items():
        print(f"\n[{name}]")
        print(f"  append:  {r['append_per_s']:,.0f} entries/s   (goal >= 20,000/s)")
        print(
            f"  verify:  {r['verify_s']:.2f} s vs raw sha256 {r['raw_s']:.2f} s"
            f" = {r['verify_s'] / r['raw_s']:.2f}x   (goal <= 3x)"
        )
        print(
            f"  columns: decoding every entry, what verify would add to cover the derived columns:"
            f" {r['decode_s']:.2f} s = {r['decode_s'] / r['raw_s']:.2f}x raw sha256 more"
            f" (verify would be {(r['verify_s'] + r['decode_s']) / r['raw_s']:.2f}x)"
        )
        print(
            f"  reader:  the whole log through the checked reader, decoded (what reports pay instead):"
            f" {r['reader_s']:.2f} s = {r['reader_s'] / r['raw_s']:.2f}x raw sha256"
        )
        print(
            f"  proof:   {r['proof_big_ms']:.3f} ms at {n:,} leaves vs {r['proof_small_ms']:.3f} ms"
            f" at {SMALL:,} = {r['proof_big_ms'] / r['proof_small_ms']:.2f}x   (goal <= 2x)"
        )


if __name__ == "__main__":
    main()
