"""``pars witness serve`` as a real process: kill -9 never makes it cosign two trees of one size.

Each server runs in its own process group and is killed by group in a ``finally``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from hashlib import sha256
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pars.audit.cosignature import verify_cosignature
from pars.cli import app
from pars.witness.client import Conflict, Cosigned, Refused, Unreachable, add_checkpoint
from tests.c2sp_support import MemoryLog

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(key: Path, log: MemoryLog, state: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pars.cli import main; main()", "witness", "serve",
         "--key", str(key), "--log", log.vkey, "--state", str(state), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        probe = f"http://127.0.0.1:{port}/{sha256(log.origin.encode()).hexdigest()}/checkpoint"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(probe, timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read() if proc.stderr else b""
                    raise AssertionError(f"witness did not start: {err!r}") from None
                time.sleep(0.05)
        yield proc
    finally:
        kill(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()


@pytest.fixture
def witness_key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "witness.key"
    result = runner.invoke(app, ["witness", "keygen", "witness.example/courts", "--out", str(path)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vkey = result.stdout.strip()
    assert vkey.startswith("witness.example/courts+") and "+B" in vkey  # type 0x04 key material
    return path, vkey


def test_keygen_never_overwrites(witness_key: tuple[Path, str]) -> None:
    path, _ = witness_key
    before = path.read_bytes()
    result = runner.invoke(app, ["witness", "keygen", "witness.example/courts", "--out", str(path)])
    assert result.exit_code != 0 and "never overwritten" in str(result.exception)
    assert path.read_bytes() == before
    bad = runner.invoke(app, ["witness", "keygen", "bad name", "--out", str(path.with_name("x"))])
    assert bad.exit_code != 0 and "NAME" in str(bad.exception)


@pytest.mark.slow
def test_kill_9_then_restart_refuses_a_conflicting_tree(
    tmp_path: Path, witness_key: tuple[Path, str]
) -> None:
    key, vkey = witness_key
    log = MemoryLog().grow(300)
    fork = MemoryLog(log.origin, log.key).grow(300, tag=b"rewritten")  # the custodian re-signs history
    state = tmp_path / "state.json"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(key, log, state, port) as proc:
        answer = add_checkpoint(url, 0, [], log.checkpoint(7), timeout=5, witness_key=vkey)
        assert isinstance(answer, Cosigned)
        assert verify_cosignature(log.checkpoint(7) + answer.lines[0], vkey) > 0
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert isinstance(add_checkpoint(url, 7, [], log.checkpoint(7), timeout=1), Unreachable)
    with serving(key, log, state, port):
        # Same size, another root: refused; asking from 0 is told the cosigned size.
        refused = add_checkpoint(url, 7, [], fork.checkpoint(7), timeout=5)
        assert isinstance(refused, Refused) and refused.status == 422
        assert add_checkpoint(url, 0, [], fork.checkpoint(7), timeout=5) == Conflict(7)
        forked = add_checkpoint(url, 7, fork.consistency(7, 256), fork.checkpoint(256), timeout=5)
        assert isinstance(forked, Refused) and forked.status == 422
        # The honest log goes on.
        grown = add_checkpoint(
            url, 7, log.consistency(7, 256), log.checkpoint(256), timeout=5, witness_key=vkey
        )
        assert isinstance(grown, Cosigned)
        # A second witness on the same state file refuses to start.
        second = subprocess.run(
            [sys.executable, "-c", "from pars.cli import main; main()", "witness", "serve",
             "--key", str(key), "--log", log.vkey, "--state", str(state), "--port", str(_free_port())],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode != 0 and b"another witness" in second.stderr


@pytest.mark.slow
def test_hammered_with_forks_and_killed_mid_flight(tmp_path: Path, witness_key: tuple[Path, str]) -> None:
    """Four forks race, the witness is kill -9'd mid-flight and restarted: one fork only is ever cosigned."""
    key, vkey = witness_key
    honest = MemoryLog().grow(400)
    forks = [MemoryLog(honest.origin, honest.key).grow(400, tag=b"fork%d" % i) for i in range(4)]
    state = tmp_path / "state.json"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cosigned: dict[int, set[bytes]] = {}  # size -> roots cosigned at that size
    winners: set[int] = set()
    lock = threading.Lock()

    def hammer(fork_id: int, stop: threading.Event) -> None:
        f = forks[fork_id]
        old, size = 0, 1
        with httpx.Client(timeout=5) as c:
            while not stop.is_set() and size <= 400:
                proof = f.consistency(old, size)
                a = add_checkpoint(url, old, proof, f.checkpoint(size), timeout=5, client=c)
                if isinstance(a, Cosigned):
                    assert verify_cosignature(f.checkpoint(size) + a.lines[0], vkey)
                    with lock:
                        cosigned.setdefault(size, set()).add(f.root(size))
                        winners.add(fork_id)
                    old, size = size, size + 7
                elif isinstance(a, Conflict):
                    old = a.size if a.size <= size else 0
                    size = max(size, a.size)
                elif isinstance(a, Unreachable):
                    time.sleep(0.02)
                else:
                    size += 13  # refused (a fork): try further on, still a fork

    for round_ in range(2):
        stop = threading.Event()
        with serving(key, honest, state, port) as proc:
            threads = [threading.Thread(target=hammer, args=(i, stop)) for i in range(4) for _ in range(2)]
            for t in threads:
                t.start()
            time.sleep(1.0 if round_ == 0 else 0.5)
            os.killpg(proc.pid, signal.SIGKILL)  # mid-flight
            proc.wait(timeout=10)
            stop.set()
            for t in threads:
                t.join(timeout=30)
    assert len(cosigned) >= 3, cosigned  # the race made progress before and after the kill
    assert len(winners) == 1, winners
    assert all(len(roots) == 1 for roots in cosigned.values()), cosigned
    saved = json.loads(state.read_text())["logs"][honest.origin]
    winner = forks[winners.pop()]
    assert base64.b64decode(saved["root"]) == winner.root(saved["size"])
    # And after the last restart a different tree of the saved size is still refused.
    with serving(key, honest, state, port):
        loser = MemoryLog(honest.origin, honest.key).grow(400, tag=b"late")
        refused = add_checkpoint(url, saved["size"], [], loser.checkpoint(saved["size"]), timeout=5)
        assert isinstance(refused, Refused) and refused.status == 422
