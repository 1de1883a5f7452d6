"""``pars ingest`` as a user runs it: report shape, stdin, exit codes, kill -9 and rerun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.queries import load_records
from pars.store.schema import arrests, events
from tests.factories import arrest, follow, many
from tests.processes import group_gone, kill_group, started

PARS = str(Path(sys.executable).with_name("pars"))


def pars(*args: str, url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARS_DATABASE_URL": url}
    return subprocess.run([PARS, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300)


def test_json_report_matches_the_contract(store_url: str, tmp_path: Path) -> None:
    f = tmp_path / "b.jsonl"
    f.write_text(
        "\n".join(
            [
                json.dumps(arrest(1)),
                "",
                json.dumps(arrest(1)),
                json.dumps(arrest(2, arrested_at="yesterday")),
                json.dumps(follow("charging", 1, "c-1", decision="approved")),
            ]
        )
        + "\n"
    )
    out = pars("ingest", "--json", str(f), url=store_url)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert {k: report[k] for k in ("accepted", "rejected", "duplicates")} == {
        "accepted": 2,
        "rejected": 1,
        "duplicates": 1,
    }
    assert report["results"] == [
        {"line": 1, "event_id": "e-1", "status": "accepted"},
        {"line": 3, "event_id": "e-1", "status": "duplicate"},
        {
            "line": 4,
            "event_id": "e-2",
            "status": "rejected",
            "reason": "arrest.arrested_at: not an ISO 8601 time with an offset",
        },
        {"line": 5, "event_id": "c-1", "status": "accepted"},
    ]


def test_plain_output_stdin_and_several_files(store_url: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps(arrest(1)) + "\n")
    b.write_text(json.dumps(follow("release", 9, "r-9", released_at="2018-06-02T01:00:00-04:00")) + "\n")
    out = pars("ingest", str(a), str(b), url=store_url)
    assert out.returncode == 1
    assert f"rejected {b}:1 (r-9): arrest_id: unknown arrest A-2018-000009" in out.stdout
    assert "accepted 1, rejected 1, duplicates 0" in out.stdout
    again = pars("ingest", "-", "--json", url=store_url, stdin=a.read_text())
    assert again.returncode == 0
    assert json.loads(again.stdout)["duplicates"] == 1


def test_errors_a_user_can_act_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    missing = pars("ingest", str(tmp_path / "nope.jsonl"), url=url)
    assert missing.returncode == 2
    assert "nope.jsonl: no such file" in missing.stderr
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps(arrest(1)) + "\n")
    uninit = pars("ingest", str(f), url=url)
    assert uninit.returncode == 2
    assert "not initialised; run `pars init`" in uninit.stderr
    assert "Traceback" not in uninit.stderr


def _state(store: Store) -> tuple[int, int, str]:
    with store.read() as conn:
        n_events = conn.scalar(select(func.count()).select_from(events)) or 0
        ids = list(conn.scalars(select(arrests.c.arrest_id).order_by(arrests.c.arrest_id)))
        recs = load_records(conn, ids)
    return n_events, len(ids), json.dumps([recs[i] for i in ids], sort_keys=True, default=str)


def test_kill_9_mid_file_loses_nothing_reported_and_a_rerun_finishes(store_url: str, tmp_path: Path) -> None:
    data = many(30_000)
    f = tmp_path / "big.jsonl"
    f.write_text("\n".join(data) + "\n")
    env = {**os.environ, "PARS_DATABASE_URL": store_url}
    cmd = [PARS, "ingest", "--json", "--batch-size", "500", str(f)]
    with started(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        reported: list[str] = []
        deadline = time.monotonic() + 120
        while len(reported) < 3000 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            line = line.strip().rstrip(",")
            if line.startswith('{"line"'):
                reported.append(json.loads(line)["event_id"])
        kill_group(proc)  # the command and its ingest workers at once, as a crash would
        proc.wait()
    assert group_gone(proc), "a worker of the killed `pars ingest` outlived it"
    assert len(reported) >= 3000, "the ingest finished before it could be killed"

    store = Store(store_url)
    try:
        with store.read() as conn:
            stored = set(conn.scalars(select(events.c.event_id)))
        assert set(reported) <= stored
        assert len(stored) < len(data), "the kill came too late to test anything"

        rerun = subprocess.run([PARS, "ingest", "--json", str(f)], env=env, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        report = json.loads(rerun.stdout)
        assert report["rejected"] == 0
        assert report["accepted"] + report["duplicates"] == len(data)
        assert report["duplicates"] == len(stored)
        got = _state(store)
    finally:
        store.dispose()

    reference = Store(f"sqlite:///{tmp_path / 'ref.db'}")
    from pars.store.migrate import upgrade

    upgrade(reference)
    ingest_lines(reference, list(enumerate(data, 1)))
    assert got == _state(reference)
    reference.dispose()


def test_help_is_true() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run([PARS, "ingest", "--help"], capture_output=True, text=True, env=env)
    assert "'-' reads stdin" in out.stdout
    assert "--json" in out.stdout
