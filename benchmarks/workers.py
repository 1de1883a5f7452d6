"""``pars serve --workers N``: audited searches per second by worker count, driven by wrk.

Run: ``.venv/bin/python benchmarks/workers.py [--workers 1,2,4] [--seconds S] [--connections C]
[--backends sqlite,postgresql] [--arrests N]``

For each backend, one store (synthetic arrests, one approved agreement, a partner
token without a rate limit) is served by ``pars serve --workers N`` for each N
in turn, and wrk sends the same rotated name + date-of-birth searches for the same
time. It prints requests/s, p50 and p99 latency, non-2xx answers, each figure's ratio
to one worker, and then checks ``pars audit verify`` and that the log grew by at least
the searches wrk counted. Counts may repeat (``--workers 1,2,1,2``) to alternate
runs on a busy machine. Loopback only. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Not "http": take this folder off the front of sys.path anyway (benchmarks/http.py would
# shadow the standard library's http package), then put it at the end for gate.py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

sys.path.append(str(_HERE))
from common import DEFAULT_PG, search_bodies  # noqa: E402
from gate import World, backend, served  # noqa: E402

from pars.audit import log_size  # noqa: E402

ROTATE_LUA = """
local bodies = {}
for line in io.lines("%(data)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.path = "/v1/search"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i %% #bodies) + 1])
end
"""


def script(world: World, workdir: Path, people: int) -> Path:
    bodies = [json.dumps(b) for b in search_bodies(world.store, people)]
    data = workdir / "search.txt"
    data.write_text("".join(b + "\n" for b in bodies))
    lua = workdir / "search.lua"
    lua.write_text(ROTATE_LUA % {"data": data, "token": world.token})
    return lua


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def wrk(base: str, lua: Path, args: argparse.Namespace, seconds: int) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, requests, non-2xx)."""
    exe = shutil.which("wrk") or sys.exit("workers: wrk is not installed (apt-get install wrk)")
    cmd = [exe, "--latency", "-t", "2", "-c", str(args.connections), "-d", f"{seconds}s", "-s", str(lua)]
    cmd.append(base)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    n = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, n, int(bad.group(1)) if bad else 0


def verify(world: World) -> bool:
    env = {**os.environ, "PARS_DATABASE_URL": world.url, "PARS_KEY_DIR": world.key_dir}
    cmd = [sys.executable, "-c", "from pars.cli import main; main()", "audit", "verify"]
    done = subprocess.run(cmd, env=env, cwd=Path(world.key_dir).parent, capture_output=True, check=False)
    return done.returncode == 0


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--arrests", type=int, default=5_000)
    p.add_argument("--people", type=int, default=500)
    p.add_argument("--backends", default="sqlite,postgresql")
    args = p.parse_args()
    pg = os.environ.get("PARS_BENCH_POSTGRES_URL", DEFAULT_PG)
    counts = [int(n) for n in args.workers.split(",")]
    print(f"pars serve --workers (wrk): {args.arrests:,} arrests, {args.connections} connections, "
          f"{args.seconds} s per figure, loopback; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'backend':<11}{'workers':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'vs 1':>8}")
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp, backend(name, pg, Path(tmp), args.arrests) as world:
            lua = script(world, Path(tmp), args.people)
            with world.store.read() as conn:
                before = log_size(conn)
            answered = 0
            first = None
            for n in counts:
                with served(world, n) as base:
                    wrk(base, lua, args, 1)  # warm-up (counted in the log, not in the figures)
                    rps, p50, p99, requests, bad = wrk(base, lua, args, args.seconds)
                answered += requests
                first = first or rps
                print(f"{name:<11}{n:>8}{rps:>10.1f}{p50:>9.1f}{p99:>9.1f}{bad:>9}{rps / first:>7.2f}x")
            with world.store.read() as conn:
                grown = log_size(conn) - before
            print(f"{name:<11}log grew by {grown:,} entries for {answered:,} searches wrk counted; "
                  f"pars audit verify: {'ok' if verify(world) else 'FAILED'}")  # fmt: skip


if __name__ == "__main__":
    main()
