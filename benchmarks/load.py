"""Load test: 32 concurrent partner clients against ``pars serve`` for 60 seconds.

Run: ``.venv/bin/python benchmarks/load.py [--seconds 60] [--clients 32] [--arrests N]
[--backends sqlite,postgresql]``

Each client is a partner user with its own token, mixing searches (70 %) and reads
of arrests that exist (30 %), on loopback only. Prints, per backend: requests,
errors (anything but 200, or a transport error; goal 0), throughput, p50/p99
latency, and whether ``pars audit verify`` passes afterwards with exactly one
entry per answered request. Not a test: it prints figures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import gate as bench

from pars.audit import log_size


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(world: bench.World, seconds: float, clients: int) -> None:
    reads = {"purpose": "C", "case_number": "L-1", "justification": "load test"}

    async def mixed(c: httpx.AsyncClient, rng: random.Random, k: int) -> httpx.Response:
        auth = {"Authorization": f"Bearer {world.user_tokens[k]}"}
        if rng.random() < 0.7:
            return await c.post("/v1/search", json=rng.choice(world.bodies), headers=auth)
        return await c.get(f"/v1/arrests/{rng.choice(world.arrest_ids)}", params=reads, headers=auth)

    with world.store.read() as conn:
        before = log_size(conn)
    with bench.served(world) as base:
        ok, errors, lat = asyncio.run(bench.hammer(base, mixed, seconds, clients))
    with world.store.read() as conn:
        after = log_size(conn)
    env = {**os.environ, "PARS_DATABASE_URL": world.url, "PARS_KEY_DIR": world.key_dir}
    verify = subprocess.run(
        [sys.executable, "-c", "from pars.cli import main; main()", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(
        f"  requests {ok + errors}, errors {errors}, {(ok + errors) / seconds:.1f} req/s, "
        f"p50 {percentile(lat, 0.5) * 1000:.1f} ms, p99 {percentile(lat, 0.99) * 1000:.1f} ms"
    )
    print(
        f"  audit entries added {after - before} (answered {ok + errors}); "
        f"pars audit verify: {'ok' if verify.returncode == 0 else 'FAILED: ' + verify.stdout + verify.stderr}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--arrests", type=int, default=5000)
    p.add_argument("--backends", default="sqlite,postgresql")
    args: Any = p.parse_args()
    pg = os.environ.get("PARS_BENCH_POSTGRES_URL", bench.DEFAULT_PG)
    print(f"load: {args.clients} partner clients, {args.seconds:g} s, 70% searches / 30% reads, loopback")
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp, bench.backend(name, pg, Path(tmp), args.arrests) as world:
            print(f"{name}:")
            run(world, args.seconds, args.clients)


if __name__ == "__main__":
    main()
