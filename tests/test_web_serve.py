"""``pars tokens`` and ``pars serve`` as a user runs them: tokens shown once, and a
server killed with SIGKILL under load leaves a log that verifies and holds every
receipt a client received (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import rfc8785
import yaml
from typer.testing import CliRunner

from pars.audit import AuditLog, get_entry
from pars.cli import app
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from tests.factories import arrest
from tests.processes import kill_group, started
from tests.test_gate_fixtures import FIXTURES

runner = CliRunner()


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    e = {"PARS_DATABASE_URL": store_url, "PARS_KEY_DIR": str(tmp_path / "keys")}
    result = runner.invoke(app, ["init"], env=e)
    assert result.exit_code == 0, result.output
    ice = yaml.safe_load((FIXTURES / "ice-2017.yaml").read_text())
    now = datetime.now(UTC).replace(microsecond=0)
    ice["term"] = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(days=30)).isoformat(),
    }
    ice["scope"] = None
    ice["search"]["rate_limit"] = None
    path = tmp_path / "ice.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in ice.items() if v is not None}))
    keys = tmp_path / "parties"
    keys.mkdir()
    for party in ("courts", "police"):
        made = runner.invoke(app, ["parties", "keygen", party, "--out", str(keys / party)], env=e)
        assert made.exit_code == 0, made.output
        added = runner.invoke(app, ["parties", "add", party, "--key", made.stdout.strip()], env=e)
        assert added.exit_code == 0, added.output
    approve = ["agreements", "approve", "ice-2017", "--as"]
    for args in (["agreements", "apply", str(path)], [*approve, "courts", "--key", str(keys / "courts")],
                 [*approve, "police", "--key", str(keys / "police")]):  # fmt: skip
        result = runner.invoke(app, args, env=e)
        assert result.exit_code == 0, result.output
    store = Store(store_url)
    try:
        totals = ingest_lines(store, [(n, json.dumps(arrest(n))) for n in range(1, 6)])
    finally:
        store.dispose()
    assert totals.accepted == 5
    return e


def issue(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, ["tokens", "issue", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_tokens_issue_list_revoke(env: dict[str, str]) -> None:
    out = issue(env, "--agreement", "ice-2017", "--user", "agent7")
    token = out.strip()
    assert out == token + "\n" and token.startswith("pars_")  # the token alone on stdout
    custodian = issue(env, "--role", "custodian", "--user", "clerk").strip()
    listed = runner.invoke(app, ["tokens", "list", "--json"], env=env)
    rows = json.loads(listed.stdout)
    assert {(r["role"], r["user"], r["agreement_id"]) for r in rows} == {
        ("partner", "agent7", "ice-2017"),
        ("custodian", "clerk", None),
    }
    assert token not in listed.stdout and custodian not in listed.stdout
    bad = runner.invoke(app, ["tokens", "issue", "--user", "x"], env=env)
    assert bad.exit_code != 0
    token_id = next(r["token_id"] for r in rows if r["user"] == "agent7")
    assert runner.invoke(app, ["tokens", "revoke", token_id], env=env).exit_code == 0
    rows = json.loads(runner.invoke(app, ["tokens", "list", "--json"], env=env).stdout)
    assert next(r for r in rows if r["user"] == "agent7")["revoked"] is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``pars serve`` in its own process group, stopped (the whole group) however the test ends."""
    cmd = [sys.executable, "-c", "from pars.cli import main; main()", "serve", "--port", str(port)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with started(cmd, env={**os.environ, **env}, **quiet) as proc:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("pars serve did not start")
        yield proc


@pytest.mark.slow
def test_kill_9_under_load_then_restart(env: dict[str, str], store_url: str) -> None:
    token = issue(env, "--agreement", "ice-2017", "--user", "agent7").strip()
    port = _free_port()
    receipts: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop = threading.Event()
    body = {"purpose": "C", "case_number": "c-1", "justification": "j", "filters": {"district": "24"}}

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/search", json=body, headers={"Authorization": f"Bearer {token}"})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        receipts.append(r.json()["receipt"])

    threads = [threading.Thread(target=client) for _ in range(6)]
    with _serve(env, port) as server:
        for t in threads:
            t.start()
        time.sleep(1.5)
        kill_group(server, signal.SIGKILL)
        server.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert receipts, "no request was answered before the kill"
    with _serve(env, port):
        after = httpx.post(f"http://127.0.0.1:{port}/v1/search", json=body,
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)  # fmt: skip
        assert after.status_code == 200
    verify = runner.invoke(app, ["audit", "verify"], env=env)
    assert verify.exit_code == 0, verify.output
    store = Store(store_url)
    try:
        with store.read() as conn:
            for rec in receipts:
                stored = get_entry(conn, rec["leaf_index"])
                assert stored.document() == rec["entry"]
                # The receipt's hash is SHA-256(0x00 ‖ the stored bytes), which are the entry's RFC 8785 form.
                assert stored.entry == rfc8785.dumps(rec["entry"])
                assert hashlib.sha256(b"\x00" + stored.entry).hexdigest() == rec["leaf_hash_hex"]
    finally:
        store.dispose()


def test_cli_agreement_changes_are_in_the_audit_log(env: dict[str, str], store_url: str) -> None:
    from pars.audit import iter_entries

    store = Store(store_url)
    try:
        # Readers read up to the newest stored checkpoint: store the head's, as a publisher round does.
        with store.write() as conn:
            AuditLog.open(env["PARS_KEY_DIR"]).checkpoint_head(conn, force=True)
        actions = [e.document()["action"] for e in iter_entries(store, kind="admin")]
    finally:
        store.dispose()
    assert actions == ["party.add", "party.add", "apply", "approve", "approve", "activate"]


def test_serve_stops_on_sigterm_with_a_feed_stream_open(env: dict[str, str]) -> None:
    store_env = {**os.environ, **env}
    fbi = yaml.safe_load((FIXTURES / "fbi-2017.yaml").read_text())
    now = datetime.now(UTC).replace(microsecond=0)
    fbi["term"] = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(days=30)).isoformat(),
    }
    path = Path(env["PARS_KEY_DIR"]).parent / "fbi.yaml"
    path.write_text(yaml.safe_dump(fbi))
    keys = Path(env["PARS_KEY_DIR"]).parent / "parties"
    approve = ["agreements", "approve", "fbi-2017", "--as"]
    for args in (["agreements", "apply", str(path)], [*approve, "courts", "--key", str(keys / "courts")],
                 [*approve, "police", "--key", str(keys / "police")]):  # fmt: skip
        assert runner.invoke(app, args, env=env).exit_code == 0
    token = issue(env, "--agreement", "fbi-2017", "--user", "sa1").strip()
    port = _free_port()
    opened = threading.Event()

    def listen() -> None:
        try:
            with httpx.stream("GET", f"http://127.0.0.1:{port}/v1/feed", params={"purpose": "C"},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30) as r:  # fmt: skip
                for _ in r.iter_lines():
                    opened.set()
        except httpx.HTTPError:
            pass

    with _serve(store_env, port) as server:
        t = threading.Thread(target=listen, daemon=True)
        t.start()
        assert opened.wait(10)
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)  # the server alone, as an operator would
        server.wait(timeout=20)
        assert time.monotonic() - began < 15
