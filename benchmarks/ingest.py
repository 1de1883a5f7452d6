"""Ingestion throughput and memory against the fastest raw insert, side by side.

    .venv/bin/python benchmarks/ingest.py [--events 200000] [--postgres URL]

For each database, in one run: ``pars ingest`` of N synthetic events (validation,
identity, all tables, batched transactions) against the same JSON lines inserted
raw into a one-table store (id, json) by the fastest bulk path the database offers
(one-transaction ``executemany`` on SQLite, ``COPY`` on PostgreSQL). Peak memory is
the child process's RSS high-water mark (VmHWM) for N/4 and N events: it must not grow with the file.
Goal: ingest >= 0.25x the raw insert on both databases.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg

from pars.synth import generate

ROOT = Path(__file__).resolve().parents[1]
PARS = str(Path(sys.executable).with_name("pars"))


def write_events(path: Path, count: int, seed: int = 7) -> None:
    with path.open("w") as f:
        stream = generate(arrests=count, seed=seed, start=date(2017, 9, 1), days=365)
        for n, ev in enumerate(stream, 1):
            f.write(json.dumps(ev, ensure_ascii=False) + "\n")
            if n == count:
                return


def head(src: Path, dst: Path, count: int) -> None:
    with src.open() as f, dst.open("w") as out:
        for i, line in enumerate(f):
            if i == count:
                break
            out.write(line)


def raw_sqlite(path: Path, db: Path) -> float:
    rows = [(json.loads(line)["event_id"], line) for line in path.open()]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE raw (id TEXT PRIMARY KEY, json TEXT NOT NULL)")
    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO raw VALUES (?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return len(rows) / elapsed


def raw_postgres(path: Path, url: str) -> float:
    rows = [(json.loads(line)["event_id"], line) for line in path.open()]
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE raw_events (id TEXT PRIMARY KEY, json TEXT NOT NULL)")
        conn.commit()
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY raw_events (id, json) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t
    return len(rows) / elapsed


def pars_ingest(path: Path, url: str, events: int) -> tuple[float, float, int]:
    """(events/s wall clock incl. start-up, events/s excluding start-up, peak RSS in KiB)."""
    env = {**os.environ, "PARS_DATABASE_URL": url}
    subprocess.run([PARS, "init"], env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    startup = subprocess.run([PARS, "--help"], env=env, check=True, capture_output=True)
    boot = time.perf_counter() - t0
    del startup
    t = time.perf_counter()
    proc = subprocess.Popen(
        [PARS, "ingest", str(path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # ru_maxrss would count the pre-exec copy of this (large) process; the
    # kernel's high-water mark of the exec'd image is the honest figure.
    peak_kib = 0
    while proc.poll() is None:
        peak_kib = max(peak_kib, _hwm_kib(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - t
    status = proc.returncode
    if status not in (0, 1):
        err = proc.stderr.read().decode() if proc.stderr else ""
        out = ""
        raise SystemExit(f"pars ingest failed ({status}): {out[-2000:]} {err[-2000:]}")
    return events / elapsed, events / max(elapsed - boot, 1e-9), peak_kib


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def create_pg_db(admin: str) -> tuple[str, str]:
    name = f"pars_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    return name, f"{base}/{name}"


def drop_pg_db(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument(
        "--postgres",
        default=os.environ.get("PARS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="admin URL; a database is created and dropped for each measurement ('' to skip)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        full, quarter = tmp / "events.jsonl", tmp / "quarter.jsonl"
        t = time.perf_counter()
        write_events(full, args.events)
        head(full, quarter, args.events // 4)
        print(
            f"synthesised {args.events} events in {time.perf_counter() - t:.1f}s "
            f"({full.stat().st_size / 1e6:.0f} MB)"
        )
        print(
            f"{'database':<11} {'raw ev/s':>10} {'pars ev/s':>10} {'ratio':>6} "
            f"{'(excl. start-up)':>17} {'RSS N/4':>9} {'RSS N':>9}"
        )
        backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
        for backend in backends:
            cleanup: list[str] = []
            if backend == "sqlite":
                raw = raw_sqlite(full, tmp / "raw.db")
                urls = [f"sqlite:///{tmp / 'q.db'}", f"sqlite:///{tmp / 'full.db'}"]
            else:
                name, url = create_pg_db(args.postgres)
                cleanup.append(name)
                raw = raw_postgres(full, url)
                urls = []
                for _ in range(2):
                    name, url = create_pg_db(args.postgres)
                    cleanup.append(name)
                    urls.append(url)
            try:
                _, _, rss_q = pars_ingest(quarter, urls[0], args.events // 4)
                rate, rate_net, rss_full = pars_ingest(full, urls[1], args.events)
            finally:
                for name in cleanup:
                    drop_pg_db(args.postgres, name)
            print(
                f"{backend:<11} {raw:>10,.0f} {rate:>10,.0f} {rate / raw:>5.2f}x "
                f"{rate_net / raw:>16.2f}x {rss_q / 1024:>7.0f}MB {rss_full / 1024:>7.0f}MB"
            )
        print("goal: ratio >= 0.25x on both databases; RSS for N about the same as for N/4")


if __name__ == "__main__":
    main()
