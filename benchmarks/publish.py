"""Publishing benchmark: append-to-published latency with two local witnesses, and what
publishing costs the appends.

Run: ``.venv/bin/python benchmarks/publish.py [--seconds S] [--rate R] [--backends sqlite,postgresql]``

For each backend, side by side in one run:

- appends of one entry at about ``--rate`` per second for ``--seconds``, first with no
  witness (every stored checkpoint is published), then with two ``pars witness serve``
  processes on 127.0.0.1 and quorum 2, the publisher running in a thread as in
  ``pars serve`` (checkpoints stored at most once a second, the default);
- for each entry, the time from its append's commit until a published checkpoint
  covers it (p50, p99), and the appends' median duration in both runs.

Not a test: it prints figures, it does not assert.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from common import DEFAULT_PG, backend_store  # benchmarks/common.py (scripts run from this folder)

# benchmarks/http.py would shadow the standard library's http package, which httpx (the
# witness client) imports: drop this folder from the path once common is in.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from pars.audit import AuditEntry, AuditLog, build_entry, init_log  # noqa: E402
from pars.audit.cosignature import cosigner_verifier_key  # noqa: E402
from pars.audit.note import public_key_bytes, signer_key  # noqa: E402
from pars.audit.publish import published_size, witness_config  # noqa: E402
from pars.audit.publisher import Publisher, start  # noqa: E402
from pars.store.db import Store  # noqa: E402
from pars.web.app import PUBLISH_POLL  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _witness(folder: Path, name: str, log_vkey: str) -> tuple[subprocess.Popen[bytes], str]:
    key = Ed25519PrivateKey.generate()
    path = folder / f"{name.replace('/', '_')}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (signer_key(name, key) + "\n").encode())
    os.close(fd)
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pars.cli import main; main()", "witness", "serve", "--key", str(path),
         "--log", log_vkey, "--state", str(folder / f"{path.stem}.json"), "--port", str(port)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=folder,  # not benchmarks/, whose http.py would shadow the standard library's
    )  # fmt: skip
    for _ in range(300):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return proc, f"{cosigner_verifier_key(name, public_key_bytes(key))}=http://127.0.0.1:{port}"


def _entry(log: AuditLog, i: int) -> AuditEntry:
    return build_entry(
        hmac_key=log.keys.hmac_key, time=datetime.now(UTC), kind="access", action="search",
        decision="allow", status=200, agreement_id="ice-2017", user=f"agent{i % 7}",
        purpose="C", case_number=f"CASE-{i}", justification="an ongoing investigation",
        filters={"last_name": f"Doe{i}", "dob": "1990-02-03"}, arrest_ids=[f"A-2018-{i:06d}"],
    )  # fmt: skip


def measure(store: Store, log: AuditLog, spec: str, seconds: float, rate: float) -> dict[str, float]:
    """Append for ``seconds``; latency from each commit until it is published."""
    config = witness_config(spec, "")
    publisher = Publisher(store, log, config)
    thread, stop = start(publisher, PUBLISH_POLL)  # as pars serve does
    committed: list[tuple[int, float]] = []  # (size after the append, when it committed)
    published: list[tuple[int, float]] = []
    done = threading.Event()

    def watch() -> None:
        last = -1
        give_up = float("inf")
        while (not done.is_set() or last < committed[-1][0]) and time.perf_counter() < give_up:
            if done.is_set() and give_up == float("inf"):
                give_up = time.perf_counter() + 15
            with store.read() as conn:
                size = published_size(conn, config)
            if size != last:
                published.append((size, time.perf_counter()))
                last = size
            time.sleep(0.005)

    durations = []
    end = time.perf_counter() + seconds
    i = 0
    watcher = None
    try:
        while time.perf_counter() < end:
            t = time.perf_counter()
            with store.write() as conn:
                appended = log.append(conn, [_entry(log, i)])
            now = time.perf_counter()
            durations.append(now - t)
            committed.append((appended.checkpoint.size, now))
            if watcher is None:
                watcher = threading.Thread(target=watch, daemon=True)
                watcher.start()
            i += 1
            time.sleep(max(0.0, 1 / rate - (time.perf_counter() - t)))
        done.set()
        if watcher is not None:
            watcher.join(timeout=60)
    finally:
        stop.set()
        thread.join(timeout=30)
    latencies = []
    for size, at in committed:
        first = next((when for s, when in published if s >= size), None)
        if first is not None:
            latencies.append(max(0.0, first - at))
    latencies.sort()
    return {
        "appends": len(committed),
        "published": len(latencies),
        "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "append_ms": statistics.median(durations) * 1000,
    }


def run(name: str, seconds: float, rate: float, pg_admin: str) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp, backend_store(name, pg_admin, Path(tmp)) as store:
        keys = str(Path(tmp) / "keys")
        init_log(store, keys)
        log = AuditLog.open(keys)
        out = {"none": measure(store, log, "", seconds, rate)}
        procs = []
        try:
            specs = []
            for who in ("courts.example/witness", "civic.example/witness"):
                proc, spec = _witness(Path(tmp), who, log.verifier_key)
                procs.append(proc)
                specs.append(spec)
            out["two"] = measure(store, log, ",".join(specs), seconds, rate)
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=20.0, help="appends per second (one entry each)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    pg_admin = os.environ.get("PARS_BENCH_POSTGRES_URL", DEFAULT_PG)
    results = {}
    for name in args.backends.split(","):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run(name, args.seconds, args.rate, pg_admin)
    print(f"\npublishing: one-entry appends at ~{args.rate:g}/s for {args.seconds:g} s; checkpoints stored")
    print("at most once a second; latency from an append's commit until a published checkpoint covers it")
    for name, r in results.items():
        print(f"\n[{name}]")
        for mode, label in (("none", "no witness"), ("two", "2 witnesses, quorum 2")):
            x = r[mode]
            print(
                f"  {label:<22} published {x['published']:.0f}/{x['appends']:.0f};"
                f" latency p50 {x['p50'] * 1000:,.0f} ms, p99 {x['p99'] * 1000:,.0f} ms;"
                f" append median {x['append_ms']:.2f} ms"
            )
        ratio = r["two"]["append_ms"] / r["none"]["append_ms"]
        print(f"  append cost with witnesses vs without: {ratio:.2f}x")


if __name__ == "__main__":
    main()
