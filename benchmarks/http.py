"""HTTP benchmark driven by wrk (a C load generator), side by side in one run.

Run: ``.venv/bin/python benchmarks/http.py [--arrests N] [--seconds S] [--connections C]
[--backends sqlite,postgresql] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
[--workers 1,2]``

PostgreSQL: the run creates its own database on the ``--pg-url`` server (default
``PARS_BENCH_POSTGRES_URL``, else the local test server) and drops it afterwards.

For each backend, against ``pars serve`` (one process, then ``--workers N`` for each
further count in ``--workers``: figures named ``search-2w`` and so on) and against a
bare Starlette app on the same uvicorn settings (for reference), wrk measures with the same
connections and duration:

- ``bare``: a bare Starlette app answering ``{"status": "ok"}`` (the ceiling);
- ``healthz``: PARS ``GET /healthz`` (the middleware stack, no store);
- ``search``: ``POST /v1/search`` by name and date of birth, bodies rotated over
  500 arrestees (a realistic audited search: decided, queried, redacted, logged,
  receipted);
- ``read``: ``GET /v1/arrests/{id}``, ids rotated;
- ``denied``: a search with a purpose the agreement does not permit (403, logged).

It prints requests/s, p50 and p99 latency, non-2xx counts and each figure's ratio
to the bare app, then checks that ``pars audit verify`` passes and that the log
grew by at least the requests wrk saw answered. wrk comes from Debian (installed
here with apt-get when missing). Loopback only. Not a test: it prints figures.
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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# This script is named http.py: take its folder off the front of sys.path so the
# standard library's http package (httpx, uvicorn) is the one imported, then put it
# at the end for benchmarks/common.py and gate.py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
import httpx  # noqa: E402

sys.path.append(str(_HERE))
from common import DEFAULT_PG, search_bodies  # noqa: E402
from gate import World, backend, free_port, served  # noqa: E402

from pars.audit import log_size  # noqa: E402

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def ok(request):
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[Route("/", ok)])
"""

#: wrk script: rotate through the request list written beside it (method, path, body).
ROTATE_LUA = """
local reqs = {}
local i = 0
local f = assert(io.open("%(data)s", "r"))
for line in f:lines() do
  local method, path, body = line:match("^(%%u+)\\t([^\\t]+)\\t(.*)$")
  reqs[#reqs + 1] = {method, path, body}
end
f:close()
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #reqs + 1
  local r = reqs[i]
  if r[3] == "" then return wrk.format(r[1], r[2]) end
  return wrk.format(r[1], r[2], nil, r[3])
end
"""


@dataclass
class Figure:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("http: installing wrk (Debian package)", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("http: wrk is not installed and apt-get could not install it")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(name: str, out: str) -> Figure:
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Figure(
        name,
        rps,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
        int(total.group(1)) if total else 0,
        int(non2xx.group(1)) if non2xx else 0,
    )


def run_wrk(wrk: str, name: str, url: str, args: Any, script: Path | None = None) -> Figure:
    cmd = [wrk, "--latency", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s"]
    if script is not None:
        cmd += ["-s", str(script)]
    done = subprocess.run([*cmd, url], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"http: wrk failed on {name}: {done.stdout}{done.stderr}")
    return parse_wrk(name, done.stdout)


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"http: {url} did not come up")


@contextmanager
def bare_app(workdir: Path) -> Iterator[str]:
    (workdir / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "bare_app:app", "--host", "127.0.0.1", "--port", str(port)),
            *("--no-access-log", "--log-level", "warning"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_ready(url)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def request_files(world: World, workdir: Path, people: int) -> dict[str, Path]:
    """One wrk script per rotated request kind (search, read, denied)."""
    searches = search_bodies(world.store, people)
    reads = "purpose=C&case_number=B-1&justification=benchmark%20read"
    kinds = {
        "search": [("POST", "/v1/search", json.dumps(b)) for b in searches],
        "read": [("GET", f"/v1/arrests/{a}?{reads}", "") for a in world.arrest_ids[: people * 2]],
        "denied": [("POST", "/v1/search", json.dumps({**b, "purpose": "E"})) for b in searches[:50]],
    }
    scripts = {}
    for kind, reqs in kinds.items():
        data = workdir / f"{kind}.tsv"
        data.write_text("".join(f"{m}\t{p}\t{b}\n" for m, p, b in reqs))
        script = workdir / f"{kind}.lua"
        script.write_text(ROTATE_LUA % {"data": data, "token": world.token})
        scripts[kind] = script
    return scripts


def verify(world: World) -> bool:
    env = {**os.environ, "PARS_DATABASE_URL": world.url, "PARS_KEY_DIR": world.key_dir}
    done = subprocess.run(
        [sys.executable, "-c", "from pars.cli import main; main()", "audit", "verify"],
        env=env,
        cwd=Path(world.key_dir).parent,  # not this folder (see gate.served)
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--arrests", type=int, default=20_000)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--people", type=int, default=500, help="distinct people the searches rotate over")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument(
        "--workers",
        default="1",
        help="comma-separated `pars serve --workers` counts to measure in turn (e.g. 1,2); figures for N > 1 "
        "are named kind-Nw",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("PARS_BENCH_POSTGRES_URL", DEFAULT_PG),
        help="PostgreSQL server (admin URL): the run creates its own database there and drops it",
    )
    args = p.parse_args()
    wrk = ensure_wrk()
    pg = args.pg_url
    print(
        f"http benchmark (wrk): {args.arrests:,} arrests, {args.connections} connections, "
        f"{args.threads} wrk threads, {args.seconds} s per figure, loopback"
    )
    print(f"{'backend':<11}{'figure':<13}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'vs bare':>9}")
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp, backend(name, pg, Path(tmp), args.arrests) as world:
            work = Path(tmp)
            scripts = request_files(world, work, args.people)
            with bare_app(work) as url:
                run_wrk(wrk, "warm-up", url, argparse.Namespace(**{**vars(args), "seconds": 1}))
                figures = [run_wrk(wrk, "bare", url, args)]
            with world.store.read() as conn:
                before = log_size(conn)
            for workers in (int(w) for w in args.workers.split(",")):
                tag = "" if workers == 1 else f"-{workers}w"
                with served(world, workers) as base:
                    figures.append(run_wrk(wrk, "healthz" + tag, base + "/healthz", args))
                    for kind in ("search", "read", "denied"):
                        figures.append(run_wrk(wrk, kind + tag, base + "/", args, scripts[kind]))
            with world.store.read() as conn:
                grown = log_size(conn) - before
            bare = figures[0].rps
            for f in figures:
                print(
                    f"{name:<11}{f.name:<13}{f.rps:>10.1f}{f.p50_ms:>9.1f}{f.p99_ms:>9.1f}"
                    f"{f.non_2xx:>9}{f.rps / bare:>8.2f}x"
                )
            partner = ("search", "read", "denied")
            answered = sum(f.requests for f in figures if f.name.split("-")[0] in partner)
            ok = verify(world)
            print(
                f"{name:<11}log grew by {grown:,} entries for {answered:,} partner requests wrk counted; "
                f"pars audit verify: {'ok' if ok else 'FAILED'}; load average {_load()}"
            )


def _load() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared: say so)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
