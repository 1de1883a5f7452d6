"""Ingestion throughput and memory against the fastest raw insert, side by side.

    .venv/bin/python benchmarks/ingest.py [--events 200000] [--postgres URL]

For each database, in one run: ``pars ingest`` of N synthetic events (validation,
identity, all tables, batched transactions, as a user runs it) against the same
JSON lines inserted raw into a one-table store (id, json) by the fastest bulk path
the database offers (one-transaction ``executemany`` on SQLite, ``COPY`` on
PostgreSQL). The raw insert is timed two ways:

- ``insert``: the rows (id, line) already built in memory, only the insert timed;
- ``file``:  reading the same file, taking each line's id (orjson) and inserting,
  which is the work ``pars ingest`` is timed on (it too starts from the file).

A third figure bounds what any implementation of this store could reach: ``store
rows``, the rows ``pars ingest`` wrote for the N events (events, persons, arrests,
parties, charges, state), read back and bulk-inserted by the same fastest path into
a fresh PARS schema in one transaction: no validation, no Python logic, only the
database writing the normalised, indexed store.

Peak memory is the highest sum of RSS over the ``pars ingest`` process and its
validating workers, for N/2 and N events (the batches reach full size well before
N/2): it must not grow with the file.
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

import orjson
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


def _rows(path: Path) -> list[tuple[str, str]]:
    with path.open() as f:
        return [(orjson.loads(line)["event_id"], line) for line in f]


def raw_sqlite(path: Path, db: Path) -> tuple[float, float]:
    """(events/s inserting prepared rows, events/s from the file)."""
    rates = []
    for from_file in (False, True):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE raw (id TEXT PRIMARY KEY, json TEXT NOT NULL)")
        rows = None if from_file else _rows(path)
        t = time.perf_counter()
        if rows is None:
            rows = _rows(path)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw VALUES (?, ?)", rows)
        conn.execute("COMMIT")
        rates.append(len(rows) / (time.perf_counter() - t))
        conn.close()
    return rates[0], rates[1]


def raw_postgres(path: Path, url: str) -> tuple[float, float]:
    """(events/s copying prepared rows, events/s from the file)."""
    rates = []
    with psycopg.connect(url) as conn:
        for from_file in (False, True):
            conn.execute("DROP TABLE IF EXISTS raw_events")
            conn.execute("CREATE TABLE raw_events (id TEXT PRIMARY KEY, json TEXT NOT NULL)")
            conn.commit()
            rows = None if from_file else _rows(path)
            t = time.perf_counter()
            if rows is None:
                rows = _rows(path)
            with conn.cursor() as cur, cur.copy("COPY raw_events (id, json) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            rates.append(len(rows) / (time.perf_counter() - t))
    return rates[0], rates[1]


def pars_ingest(path: Path, url: str, events: int) -> tuple[float, float, int]:
    """(events/s wall clock incl. start-up, events/s excluding start-up, peak RSS in KiB)."""
    env = {**os.environ, "PARS_DATABASE_URL": url}
    subprocess.run([PARS, "init"], env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([PARS, "--help"], env=env, check=True, capture_output=True)
    boot = time.perf_counter() - t0
    t = time.perf_counter()
    proc = subprocess.Popen(
        [PARS, "ingest", str(path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # ru_maxrss would count the pre-exec copy of this (large) process; the RSS of
    # the exec'd image and its workers, sampled, is the honest figure.
    peak_kib = 0
    while proc.poll() is None:
        peak_kib = max(peak_kib, _tree_rss_kib(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - t
    status = proc.returncode
    if status not in (0, 1):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"pars ingest failed ({status}): {err[-2000:]}")
    return events / elapsed, events / max(elapsed - boot, 1e-9), peak_kib


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_rss_kib(pid: int) -> int:
    """RSS of ``pid`` and its direct children (the validating workers)."""
    total = _status_kib(pid, "VmRSS")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += _status_kib(int(stat.parent.name), "VmRSS")
    return total


#: The record tables in foreign-key order, as ``pars ingest`` fills them.
STORE_TABLES = (
    "events",
    "persons",
    "arrests",
    "parties",
    "charges",
    "charging",
    "arraignments",
    "custody",
    "dispositions",
    "expungements",
)


def store_rows_sqlite(src: Path, dst: Path, events: int) -> float:
    """Events/s for bulk-inserting the rows PARS wrote into a fresh PARS schema."""
    subprocess.run(
        [PARS, "init"],
        env={**os.environ, "PARS_DATABASE_URL": f"sqlite:///{dst}"},
        check=True,
        capture_output=True,
    )
    source = sqlite3.connect(src)
    tables = []
    for table in STORE_TABLES:
        cur = source.execute(f"SELECT * FROM {table}")
        cols = [d[0] for d in cur.description]
        tables.append((table, cols, cur.fetchall()))
    source.close()
    conn = sqlite3.connect(dst, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    t = time.perf_counter()
    conn.execute("BEGIN")
    for table, cols, rows in tables:
        marks = ", ".join("?" for _ in cols)
        conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return events / elapsed


def store_rows_postgres(src_url: str, dst_url: str, events: int) -> float:
    subprocess.run(
        [PARS, "init"], env={**os.environ, "PARS_DATABASE_URL": dst_url}, check=True, capture_output=True
    )
    tables = []
    with psycopg.connect(src_url) as source:
        for table in STORE_TABLES:
            cur = source.execute(f"SELECT * FROM {table}")
            cols = [d.name for d in cur.description or ()]
            tables.append((table, cols, cur.fetchall()))
    with psycopg.connect(dst_url) as conn:
        t = time.perf_counter()
        with conn.cursor() as cur:
            for table, cols, rows in tables:
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t
    return events / elapsed


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
        full, half = tmp / "events.jsonl", tmp / "half.jsonl"
        t = time.perf_counter()
        write_events(full, args.events)
        head(full, half, args.events // 2)
        print(
            f"synthesised {args.events} events in {time.perf_counter() - t:.1f}s "
            f"({full.stat().st_size / 1e6:.0f} MB)"
        )
        print(
            f"{'database':<11} {'raw insert':>11} {'raw file':>9} {'store rows':>10} {'pars':>7} "
            f"{'ratio insert':>12} {'ratio file':>10} {'store rows':>10} {'(excl. start-up)':>16} "
            f"{'RSS N/2':>8} {'RSS N':>7}"
        )
        backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
        for backend in backends:
            cleanup: list[str] = []
            if backend == "sqlite":
                raw, raw_file = raw_sqlite(full, tmp / "raw.db")
                urls = [
                    f"sqlite:///{tmp / 'q.db'}",
                    f"sqlite:///{tmp / 'full.db'}",
                    f"sqlite:///{tmp / 'rows.db'}",
                ]
            else:
                name, url = create_pg_db(args.postgres)
                cleanup.append(name)
                raw, raw_file = raw_postgres(full, url)
                urls = []
                for _ in range(3):
                    name, url = create_pg_db(args.postgres)
                    cleanup.append(name)
                    urls.append(url)
            try:
                _, _, rss_half = pars_ingest(half, urls[0], args.events // 2)
                rate, rate_net, rss_full = pars_ingest(full, urls[1], args.events)
                if backend == "sqlite":
                    floor = store_rows_sqlite(tmp / "full.db", tmp / "rows.db", args.events)
                else:
                    floor = store_rows_postgres(urls[1], urls[2], args.events)
            finally:
                for name in cleanup:
                    drop_pg_db(args.postgres, name)
            print(
                f"{backend:<11} {raw:>11,.0f} {raw_file:>9,.0f} {floor:>10,.0f} {rate:>7,.0f} "
                f"{rate / raw:>11.3f}x {rate / raw_file:>9.3f}x {floor / raw:>9.3f}x "
                f"{rate_net / raw:>7.3f}x/{rate_net / raw_file:.3f}x "
                f"{rss_half / 1024:>6.0f}MB {rss_full / 1024:>5.0f}MB"
            )
        print(
            "pars = events/s of the whole `pars ingest` process, start-up included; "
            "(excl. start-up) = against insert/file;\n"
            "store rows = the rows pars wrote, bulk-inserted with no logic (its ratio is against "
            "raw insert): the most any ingest into this store could reach"
        )
        print("goal: ratio >= 0.25x on both databases; RSS for N about the same as for N/2")


if __name__ == "__main__":
    main()
