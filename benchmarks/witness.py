"""Witness benchmark: audited search throughput through the gate with two local witnesses
configured and publishing running, against the same without witnesses; and how long an
entry waits until a checkpoint covering it is published.

Run: ``.venv/bin/python benchmarks/witness.py [--arrests N] [--seconds S] [--rounds R]
[--backends sqlite,postgresql]``

For each backend, on one store with one agreement and one partner token (``gate.py``'s setup):

- ``Gate.search`` in this process, single thread (the gate's real request path: serving
  version, rate count, decide, query, redact, audit entry, append, commit), as in
  ``gate.py``'s core figure, while a publisher thread runs as ``pars serve`` runs it
  (a round every 0.25 s, checkpoints stored at most once a second). Two modes,
  alternated over the same data for ``--rounds`` rounds of ``--seconds`` each:
  ``none``: no witness configured (every stored checkpoint is published);
  ``two``: two ``pars witness serve`` processes on 127.0.0.1, quorum 2.
  Goal: ``two`` >= 0.9x ``none`` (witnesses are never on the request path).
- append-to-published latency (p50, p99) over every search of the ``two`` rounds: from
  the moment ``Gate.search`` returned (its entry committed) until the ``published_utc``
  of the first published checkpoint covering its index (read from the store after the
  round, so measuring costs the searches nothing).

Not a test: it prints figures, it does not assert. The machine's load is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# benchmarks/http.py would shadow the standard library's http package, which httpx imports:
# this folder goes last on the path (common and gate are still found there).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from common import DEFAULT_PG, backend_store  # noqa: E402
from gate import World, setup  # noqa: E402
from sqlalchemy import select  # noqa: E402

from pars.audit import AuditLog, load_keys  # noqa: E402
from pars.audit.publish import witness_config  # noqa: E402
from pars.audit.publisher import Publisher, start  # noqa: E402
from pars.clock import SYSTEM_CLOCK, to_utc_naive  # noqa: E402
from pars.demo_witnesses import local_witnesses, wait_ready  # noqa: E402
from pars.gate import Gate  # noqa: E402
from pars.store.schema.publish import audit_published  # noqa: E402
from pars.web.app import PUBLISH_POLL  # noqa: E402


def phase(world: World, log: AuditLog, spec: str, seconds: float) -> tuple[float, list[tuple[int, datetime]]]:
    """Searches for ``seconds`` with a publisher thread for ``spec``: (requests/s, [(index, done)])."""
    config = witness_config(spec, "")
    publisher = Publisher(world.store, log, config)
    thread, stop = start(publisher, PUBLISH_POLL)  # as pars serve does
    gate = Gate(world.store, log, SYSTEM_CLOCK)
    who = gate.authenticate(world.token)
    bodies = world.bodies
    done: list[tuple[int, datetime]] = []
    try:
        n = 0
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            out = gate.search(who, bodies[n % len(bodies)])
            done.append((int(out.body["receipt"]["leaf_index"]), datetime.now(UTC)))
            assert out.status == 200, out.body
            n += 1
        rate = n / elapsed
        if config.witnesses and done:  # let publishing catch up (not timed) before stopping it
            deadline = time.perf_counter() + 15
            while time.perf_counter() < deadline and _published(world) <= done[-1][0]:
                time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    return rate, done


def _published(world: World) -> int:
    with world.store.read() as conn:
        return int(conn.scalar(select(audit_published.c.size).order_by(audit_published.c.size.desc())) or 0)


def latencies(world: World, done: list[tuple[int, datetime]]) -> list[float]:
    """Seconds from each search's return until a published checkpoint covered its entry."""
    with world.store.read() as conn:
        rows = conn.execute(select(audit_published.c.size, audit_published.c.published_utc)).all()
    published = sorted((int(r.size), r.published_utc) for r in rows)
    out = []
    for index, at in done:
        first = next((when for size, when in published if size > index), None)
        if first is not None:
            out.append(max(0.0, (first - to_utc_naive(at)).total_seconds()))
    return sorted(out)


def run(name: str, arrests: int, seconds: float, rounds: int, pg_admin: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, backend_store(name, pg_admin, Path(tmp)) as store:
        world = setup(store, store.url, str(Path(tmp) / "keys"), arrests)
        log = AuditLog(load_keys(world.key_dir))
        origin = log.keys.name
        with local_witnesses(Path(tmp) / "witnesses", log.verifier_key, origin) as witnesses:
            wait_ready(witnesses)
            spec = ",".join(f"{w.vkey}={w.url}" for w in witnesses)
            phase(world, log, "", 1.0)  # warm up both
            phase(world, log, spec, 1.0)
            rates: dict[str, list[float]] = {"none": [], "two": []}
            done: list[tuple[int, datetime]] = []
            for r in range(rounds):
                order = ("none", "two") if r % 2 == 0 else ("two", "none")
                for mode in order:
                    rate, mine = phase(world, log, spec if mode == "two" else "", seconds)
                    rates[mode].append(rate)
                    if mode == "two":
                        done += mine
            waits = latencies(world, done)
            counted = len(done)
        return {"rates": rates, "waits": waits, "counted": counted}


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arrests", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--backends", default="sqlite")
    args = p.parse_args()
    pg_admin = os.environ.get("PARS_BENCH_POSTGRES_URL", DEFAULT_PG)
    print(f"load average before: {_load()} ({os.cpu_count()} CPUs)")
    results = {}
    for name in args.backends.split(","):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run(name, args.arrests, args.seconds, args.rounds, pg_admin)
    print(f"load average after:  {_load()}")
    print(
        f"\naudited searches through Gate.search, one thread, publisher thread running; "
        f"{args.rounds} alternated rounds of {args.seconds:g} s per mode"
    )
    for name, r in results.items():
        none, two = r["rates"]["none"], r["rates"]["two"]
        print(f"\n[{name}]")
        print(f"  no witness             {statistics.median(none):8.1f} req/s  (rounds: {_fmt(none)})")
        print(f"  2 witnesses, quorum 2  {statistics.median(two):8.1f} req/s  (rounds: {_fmt(two)})")
        ratio = statistics.median(two) / statistics.median(none)
        print(f"  ratio (medians)        {ratio:8.2f}x   goal >= 0.9x")
        w = r["waits"]
        if w:
            p50, p99 = w[len(w) // 2], w[min(len(w) - 1, int(len(w) * 0.99))]
            print(
                f"  append-to-published    p50 {p50 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms "
                f"({len(w)} of {r['counted']} entries published)"
            )
        else:
            print(f"  append-to-published    none of {r['counted']} entries was published")


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in xs)


if __name__ == "__main__":
    main()
