"""Several ``pars serve`` processes over one store: one log, one publisher.

Four servers (separate processes on separate ports, as on separate machines behind a
load balancer) share one database, PostgreSQL and then SQLite (one machine, WAL).
Clients, each its own user so no rate-count lock orders them, hammer all four with
audited searches; then the log verifies, every receipt's inclusion proof checks against
its own checkpoint, the indices are 0..n-1 once each, all four processes wrote entries,
and receipts sharing a checkpoint (one group-commit batch: one append, one signature)
come from one process, with batches of more than one entry in at least two processes.
Rate limits hold across the processes, a termination and a revocation are seen by
every process at its next request, a delivery booked through one process reaches a
feed subscriber connected to another, exactly one process holds the publisher's lock
and another takes it over when that one is killed, and ``pars serve --workers 2`` runs
two worker processes (PostgreSQL).

PostgreSQL cases skip without ``PARS_TEST_POSTGRES_URL`` (CI sets it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import rfc8785
import yaml
from typer.testing import CliRunner

from pars.audit import get_entry, inclusion_proof, leaf_hash, log_size, verify_checkpoint, verify_inclusion
from pars.audit.publisher import LEADER_APP, LEADER_KEY, Leadership
from pars.cli import app
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from tests.conftest import make_store_url
from tests.factories import arrest
from tests.processes import kill_group, started
from tests.publish_support import ThreadWitness, WitnessKeys
from tests.test_feed import Subscription
from tests.test_gate_fixtures import FIXTURES, graded

runner = CliRunner()
SERVE = [sys.executable, "-c", "from pars.cli import main; main()", "serve"]
SEARCH = {"purpose": "C", "case_number": "c-1", "justification": "j", "filters": {"district": "24"}}
#: The rate-limited agreement's allowance (requests per day, per user).
LIMIT = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _agreement(env: dict[str, str], tmp: Path, name: str, agreement_id: str, **changes: Any) -> None:
    doc = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    now = datetime.now(UTC).replace(microsecond=0)
    doc.update(id=agreement_id, term={"start": (now - timedelta(days=1)).isoformat(),
                                      "end": (now + timedelta(days=30)).isoformat()})  # fmt: skip
    doc.update(changes)
    path = tmp / f"{agreement_id}.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in doc.items() if v is not None}))
    _cli(env, "agreements", "apply", str(path))
    for party in ("courts", "police"):
        _cli(env, "agreements", "approve", agreement_id, "--as", party, "--key", str(tmp / "parties" / party))


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    stack: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    url: str
    env: dict[str, str]
    tmp: Path
    tokens: dict[str, str]
    servers: list[Server] = field(default_factory=list)

    def start(self, port: int | None = None, *extra: str) -> Server:
        """A ``pars serve`` process (stopped with the module, whatever happens)."""
        port = port or _free_port()
        log = self.tmp / f"serve-{port}-{len(self.servers)}.log"
        out: IO[bytes] = open(log, "wb")  # noqa: SIM115 (closed with the process)
        ctx = started([*SERVE, "--port", str(port), *extra], env={**os.environ, **self.env},
                      stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp)  # fmt: skip
        proc = ctx.__enter__()
        out.close()
        server = Server(port, proc, log, ctx)
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stack.__exit__(None, None, None)
        self.servers.remove(server)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, server.log.read_text()
        try:
            if httpx.get(server.base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"pars serve on {server.port} did not start: {server.log.read_text()}")


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("workers")
    urls = make_store_url(request.param, request, tmp)  # PostgreSQL: skips without PARS_TEST_POSTGRES_URL
    url = next(urls)
    env = {"PARS_DATABASE_URL": url, "PARS_KEY_DIR": str(tmp / "keys"), "PARS_CHECKPOINT_INTERVAL": "0.5"}
    c = Cluster(url, env, tmp, {})
    witness = None
    try:
        _cli(env, "init")
        # A real witness: whichever process publishes sends it the log's checkpoints.
        witness = ThreadWitness(
            WitnessKeys(tmp / "witness", "courts.example/w"), _cli(env, "audit", "key").strip()
        )
        env["PARS_WITNESSES"] = f"{witness.keys.vkey}={witness.start().url}"
        (tmp / "parties").mkdir()
        for party in ("courts", "police"):
            key = _cli(env, "parties", "keygen", party, "--out", str(tmp / "parties" / party)).strip()
            _cli(env, "parties", "add", party, "--key", key)
        _agreement(env, tmp, "ice-2017", "ice-2017", scope=None, search={"require": ["case_number"]})
        limited = {"require": ["case_number"], "rate_limit": {"requests": LIMIT, "per": "day"}}
        _agreement(env, tmp, "ice-2017", "ice-limited", scope=None, search=limited)
        _agreement(env, tmp, "ice-2017", "ice-ending", scope=None, search={"require": ["case_number"]})
        _agreement(env, tmp, "fbi-2017", "fbi-2017")
        store = Store(url)
        try:
            assert ingest_lines(store, [(n, json.dumps(arrest(n))) for n in range(1, 6)]).accepted == 5
        finally:
            store.dispose()
        for who, args in {
            **{f"ice{k}": ["--agreement", "ice-2017", "--user", f"agent{k}"] for k in range(4)},
            "limited": ["--agreement", "ice-limited", "--user", "agent8"],
            "ending": ["--agreement", "ice-ending", "--user", "agent9"],
            "revoked": ["--agreement", "ice-2017", "--user", "agent10"],
            "fbi": ["--agreement", "fbi-2017", "--user", "sa1"],
            "custodian": ["--role", "custodian", "--user", "clerk"],
        }.items():
            c.tokens[who] = _cli(env, "tokens", "issue", *args).strip()
        for _ in range(4):
            c.start()
        for s in c.servers:
            _ready(s)
        yield c
    finally:
        for s in list(c.servers):
            c.stop(s)
        if witness is not None:
            witness.stop()
        urls.close()  # type: ignore[attr-defined]  # drops the database


def _hammer(cluster: Cluster, seconds: float, per_server: int) -> list[tuple[int, int, dict[str, Any]]]:
    """``per_server`` clients on each server for ``seconds``: (port, status, body) of every answer."""
    got: list[tuple[int, int, dict[str, Any]]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(server: Server, k: int) -> None:
        # Users apart: their rate-count locks do not serialise the processes' batches; the log's lock must.
        with httpx.Client(base_url=server.base, timeout=30, headers=cluster.auth(f"ice{k}")) as http:
            while not stop.is_set():
                r = http.post("/v1/search", json=SEARCH)
                with lock:
                    got.append((server.port, r.status_code, r.json()))

    threads = [
        threading.Thread(target=client, args=(s, k)) for s in cluster.servers for k in range(per_server)
    ]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return got


@pytest.mark.slow
def test_four_processes_share_one_log(cluster: Cluster) -> None:
    answers = _hammer(cluster, seconds=4, per_server=4)
    assert answers and {status for _, status, _ in answers} == {200}, {s for _, s, _ in answers}
    receipts = [(port, body["receipt"]) for port, _, body in answers]
    # Entries from every process.
    assert {port for port, _ in receipts} == {s.port for s in cluster.servers}

    verify = runner.invoke(app, ["audit", "verify"], env=cluster.env)
    assert verify.exit_code == 0, verify.output

    key = _cli(cluster.env, "audit", "key").strip()
    indices = [int(r["leaf_index"]) for _, r in receipts]
    assert len(set(indices)) == len(indices)  # no index handed out twice
    by_checkpoint: dict[str, list[tuple[int, int]]] = defaultdict(list)
    opened: dict[str, tuple[int, bytes]] = {}
    store = Store(cluster.url)
    try:
        with store.read() as conn:
            n = log_size(conn)
            # The stored leaves are exactly 0..n-1: no gap, no duplicate.
            got = [row[0] for row in conn.exec_driver_sql("SELECT idx FROM audit_leaves ORDER BY idx")]
            assert got == list(range(n))
            for port, r in receipts:
                note = r["checkpoint"]
                if note not in opened:
                    _origin, size, root = verify_checkpoint(note, key)
                    opened[note] = (size, root)
                size, root = opened[note]
                index = int(r["leaf_index"])
                lh = leaf_hash(rfc8785.dumps(r["entry"]))
                assert lh.hex() == r["leaf_hash_hex"]
                assert get_entry(conn, index).leaf_hash == lh  # the log holds what the receipt says
                assert verify_inclusion(lh, index, size, inclusion_proof(conn, index, size), root)
                by_checkpoint[note].append((port, index))
    finally:
        store.dispose()
    assert max(indices) < n
    # One checkpoint per batch: its receipts came from one process (a batch is one
    # process's transaction) and are the batch's last entries.
    for note, members in by_checkpoint.items():
        size = opened[note][0]
        assert len({port for port, _ in members}) == 1, members
        assert all(size - 32 <= index < size for _, index in members)
    # Group commit: some batch carried more than one search.
    assert max(len(m) for m in by_checkpoint.values()) > 1
    # ... in more than one process.
    grouped = {m[0][0] for m in by_checkpoint.values() if len(m) > 1}
    assert len(grouped) >= 2, grouped


@pytest.mark.slow
def test_rate_limit_holds_across_processes(cluster: Cluster) -> None:
    """A partner hitting every process gets its limit once, not once per process."""
    statuses: list[int] = []
    lock = threading.Lock()

    def client(server: Server) -> None:
        with httpx.Client(base_url=server.base, timeout=30, headers=cluster.auth("limited")) as http:
            for _ in range(6):
                r = http.post("/v1/search", json=SEARCH)
                with lock:
                    statuses.append(r.status_code)

    threads = [threading.Thread(target=client, args=(s,)) for s in cluster.servers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(statuses) == 6 * 2 * len(cluster.servers)
    assert statuses.count(200) == LIMIT, sorted(statuses)
    assert statuses.count(429) == len(statuses) - LIMIT


@pytest.mark.slow
def test_termination_and_revocation_reach_every_process_at_once(cluster: Cluster) -> None:
    for s in cluster.servers:  # every process has served (and cached) the agreement
        for who in ("ending", "revoked"):
            assert (
                httpx.post(s.base + "/v1/search", json=SEARCH, headers=cluster.auth(who)).status_code == 200
            )
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    body = {"effective_at": ended.isoformat(), "reason": "order", "force_past": True}
    first = cluster.servers[0]
    t = httpx.post(
        first.base + "/v1/agreements/ice-ending/terminate", json=body, headers=cluster.auth("custodian")
    )
    assert t.status_code == 200, t.text
    listed = json.loads(_cli(cluster.env, "tokens", "list", "--json"))
    token_id = next(r["token_id"] for r in listed if r["user"] == "agent10")
    _cli(cluster.env, "tokens", "revoke", token_id)
    for s in cluster.servers:  # at once: no cache to expire first
        r = httpx.post(s.base + "/v1/search", json=SEARCH, headers=cluster.auth("ending"))
        assert r.status_code == 403 and r.json()["error"]["rule"] == "term.end", (s.port, r.text)
        assert "receipt" in r.json()  # refused, and logged
        r = httpx.post(s.base + "/v1/search", json=SEARCH, headers=cluster.auth("revoked"))
        assert r.status_code == 401, (s.port, r.text)


@pytest.mark.slow
def test_a_booking_through_one_process_reaches_a_subscriber_on_another(cluster: Cluster) -> None:
    sub, booker = cluster.servers[0], cluster.servers[1]
    stream = Subscription(sub.base + "/v1/feed", cluster.auth("fbi"))
    try:
        assert stream.status == 200
        opened = stream.next(timeout=10)
        assert opened is not None and opened["event"] == "open"
        ev = graded(77, "F1")
        headers = {**cluster.auth("custodian"), "Content-Type": "application/x-ndjson"}
        r = httpx.post(booker.base + "/v1/bookings", content=json.dumps(ev) + "\n", headers=headers)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        got = stream.next(timeout=10)
        assert got is not None and got["event"] == "arrests", got
        assert [rec["arrest_id"] for rec in got["data"]["results"]] == ["A-2018-000077"]
        assert got["data"]["receipt"]["entry"]["action"] == "feed"
    finally:
        stream.close()


def _publishers(url: str) -> list[int]:
    """Process ids holding the publisher's lock: on PostgreSQL the sessions holding it in this
    database (their ``application_name`` names the process), on SQLite the ``flock`` holders of
    ``<database>.publisher`` in /proc/locks."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///") + ".publisher")
        if not path.exists():
            return []
        inode = path.stat().st_ino
        holders = []
        for line in Path("/proc/locks").read_text().splitlines():
            f = line.split()
            if "->" not in f and f[1] == "FLOCK" and int(f[5].rsplit(":", 1)[1]) == inode:
                holders.append(int(f[4]))
        return holders
    store = Store(url)
    try:
        with store.read() as conn:
            names = [
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %(hi)s AND l.objid = %(lo)s "
                    "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())",
                    {"hi": LEADER_KEY >> 32, "lo": LEADER_KEY & 0xFFFFFFFF},
                )
            ]
    finally:
        store.dispose()
    pids = []
    for name in names:
        app_name, pid = name.rsplit(" ", 1)
        assert app_name == LEADER_APP, names
        pids.append(int(pid))
    return pids


def _leader(cluster: Cluster, timeout: float = 10) -> Server:
    deadline = time.monotonic() + timeout
    while True:
        holders = _publishers(cluster.url)
        pids = {s.proc.pid: s for s in cluster.servers}
        if holders:
            assert len(holders) == 1 and holders[0] in pids, (holders, list(pids))  # never two
            return pids[holders[0]]
        assert time.monotonic() < deadline, "no process holds the publisher's lock"
        time.sleep(0.1)


def _published(cluster: Cluster) -> tuple[int, int | None, int | None, str | None]:
    """(log size, newest published size, the witness's cosigned size, its refusal)."""
    store = Store(cluster.url)
    try:
        with store.read() as conn:
            size = log_size(conn)
            published = conn.exec_driver_sql("SELECT max(size) FROM audit_published").scalar()
            row = conn.exec_driver_sql("SELECT cosigned_size, refusal FROM audit_witnesses").first()
    finally:
        store.dispose()
    return size, published, None if row is None else row[0], None if row is None else row[1]


def _wait_published(cluster: Cluster, timeout: float = 20) -> int:
    """Wait until the witness cosigned the log's head and it is published; returns that size."""
    deadline = time.monotonic() + timeout
    while True:
        size, published, cosigned, refusal = _published(cluster)
        assert refusal is None, refusal  # never a fork, a cut or a conflict it could not resolve
        if published == size and cosigned == size:
            return size
        assert time.monotonic() < deadline, (size, published, cosigned)
        time.sleep(0.2)


@pytest.mark.slow
def test_one_publisher_and_a_takeover_when_it_dies(cluster: Cluster) -> None:
    leader = _leader(cluster)
    assert "now publishes" in leader.log.read_text()
    before = _wait_published(cluster)
    kill_group(leader.proc, signal.SIGKILL)  # a crash: no chance to hand over
    leader.proc.wait(timeout=10)
    cluster.stop(leader)
    successor = _leader(cluster)
    assert successor is not leader
    # The new leader stores the head's checkpoint and the witness cosigns it, from the new process.
    r = httpx.post(successor.base + "/v1/search", json=SEARCH, headers=cluster.auth("ice0"))
    assert r.status_code == 200
    assert _wait_published(cluster) > before
    _ready(cluster.start(leader.port))  # the cluster whole again for any test after this one


def _spawned(pid: int) -> list[int]:
    """Worker processes (``multiprocessing`` spawns, not its resource tracker) of ``pid``."""
    kids = [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    out = []
    for kid in kids:
        try:
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                out.append(kid)
        except OSError:
            continue  # gone meanwhile
    return out


@pytest.mark.slow
def test_serve_workers_runs_worker_processes(cluster: Cluster) -> None:
    if cluster.url.startswith("sqlite"):
        pytest.skip(
            "the same paths as four processes on SQLite (above); uvicorn's workers once, on PostgreSQL"
        )
    server = cluster.start(None, "--workers", "2")
    try:
        _ready(server)
        deadline = time.monotonic() + 30
        while True:  # uvicorn's supervisor and its two workers
            workers = _spawned(server.proc.pid)
            if len(workers) == 2:
                break
            assert time.monotonic() < deadline, workers
            time.sleep(0.2)
        with httpx.Client(base_url=server.base, headers=cluster.auth("ice0"), timeout=30) as http:
            statuses = [http.post("/v1/search", json=SEARCH).status_code for _ in range(8)]
        assert statuses == [200] * 8
        assert len(_publishers(cluster.url)) == 1  # five processes now, still one publisher
    finally:
        cluster.stop(server)
    verify = runner.invoke(app, ["audit", "verify"], env=cluster.env)
    assert verify.exit_code == 0, verify.output


def test_one_leadership_at_a_time(store: Store) -> None:
    """The publisher's lock: one holder; free again when it is released (or its holder dies)."""
    a, b = Leadership(store), Leadership(store)
    try:
        assert a.held() and a.held()  # held, and still held at the next round
        assert not b.held() and not b.leading
        a.release()
        assert b.held() and not a.held()
    finally:
        a.release()
        b.release()


def test_a_lost_connection_loses_the_lead(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("a PostgreSQL session's lock; SQLite's flock goes only with the process")
    a, b = Leadership(store), Leadership(store)
    try:
        assert a.held()
        with store.read() as conn:  # the database drops a's session (a restart, a network cut)
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "  # waits until it is gone
                "WHERE application_name = %(n)s",
                {"n": f"{LEADER_APP} {os.getpid()}"},
            )
        assert b.held()  # the lock went with the session
        assert not a.held()  # and a notices at its next round
        assert not a.held()  # reconnected, but b leads
    finally:
        a.release()
        b.release()


def test_serve_refuses_another_log_key(store_url: str, tmp_path: Path) -> None:
    """A process given a different key directory (a machine set up apart) stops before it listens."""
    from pars.audit import create_keys

    _cli({"PARS_DATABASE_URL": store_url, "PARS_KEY_DIR": str(tmp_path / "keys")}, "init")
    create_keys(tmp_path / "other")
    env = {"PARS_DATABASE_URL": store_url, "PARS_KEY_DIR": str(tmp_path / "other")}
    cmd = [*SERVE, "--port", str(_free_port())]
    with started(cmd, env={**os.environ, **env}, stderr=subprocess.PIPE, cwd=tmp_path) as proc:
        _out, err = proc.communicate(timeout=60)  # a server that started would still be running: fails here
    assert proc.returncode == 2  # a configuration error (pars.errors.ConfigError)
    assert b"not this log's" in err and b"log-signing.key" in err, err


def test_audit_publish_sends_nothing_while_a_server_publishes(store: Store, tmp_path: Path) -> None:
    env = {"PARS_DATABASE_URL": store.url, "PARS_KEY_DIR": str(tmp_path / "keys"), "PARS_WITNESSES": ""}
    _cli(env, "init")
    server = Leadership(store)  # what a running pars serve holds
    try:
        assert server.held()
        busy = runner.invoke(app, ["audit", "publish", "--json"], env=env)
        assert busy.exit_code == 0 and "another process" in json.loads(busy.stdout)["skipped"]
    finally:
        server.release()
    alone = runner.invoke(app, ["audit", "publish", "--json"], env=env)
    assert alone.exit_code == 0 and "skipped" not in json.loads(alone.stdout), alone.output
