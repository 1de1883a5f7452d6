"""Publishing to witnesses (CONTRACT 9.2), on SQLite and PostgreSQL, against real witnesses:
``pars witness serve`` in a subprocess or the witness app on uvicorn in a thread.

The custodian holds the database and the log key, so the attacks here (rewriting
the log, cutting it, forgetting what a witness cosigned, a tampered cosignature)
are done with valid signatures and direct writes to storage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from pars.audit import AuditLog, init_log
from pars.audit.cosignature import require_quorum
from pars.audit.merkle import EMPTY_ROOT
from pars.audit.publish import alarms, latest_published, status, witness_config
from pars.audit.publisher import Publisher, start
from pars.clock import FixedClock
from pars.errors import ConfigError
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_leaves, audit_tiles
from pars.store.schema.publish import audit_cosignatures, audit_published, audit_witnesses
from pars.witness.client import add_checkpoint, classify, request_body
from tests.publish_support import ThreadWitness, WitnessKeys, free_port, silent_listener, witness_process
from tests.test_audit_log import T0, make_entries

COURTS = "witness.example/courts"
CIVIC = "witness.example/civic"


@pytest.fixture
def keydir(tmp_path: Path) -> str:
    return str(tmp_path / "keys")


@pytest.fixture
def log(store: Store, keydir: str) -> AuditLog:
    init_log(store, keydir)
    return AuditLog.open(keydir, clock=FixedClock(T0), checkpoint_interval=0)


@pytest.fixture
def courts(tmp_path: Path) -> WitnessKeys:
    return WitnessKeys(tmp_path / "w", COURTS)


@pytest.fixture
def civic(tmp_path: Path) -> WitnessKeys:
    return WitnessKeys(tmp_path / "w", CIVIC)


@pytest.fixture
def courts_up(courts: WitnessKeys, log: AuditLog) -> Iterator[ThreadWitness]:
    w = ThreadWitness(courts, log.verifier_key).start()
    try:
        yield w
    finally:
        w.stop()


def grow(store: Store, log: AuditLog, n: int) -> int:
    with store.read() as conn:
        have = int(conn.execute(select(audit_head.c.size)).scalar_one())
    with store.write() as conn:
        log.append(conn, make_entries(log, n, have))
    return have + n


def publisher(
    store: Store, log: AuditLog, pairs: list[tuple[WitnessKeys, str]], quorum: int, **kw: Any
) -> Publisher:
    config = witness_config(",".join(f"{k.vkey}={url}" for k, url in pairs), str(quorum))
    return Publisher(store, log, config, clock=log.clock, timeout=kw.pop("timeout", 3.0), **kw)


def published(store: Store, p: Publisher) -> int:
    with store.read() as conn:
        cp = latest_published(conn, p.config)
    return 0 if cp is None else cp.size


def outcome(result: Any, name: str) -> str:
    status: str = next(o.status for o in result.outcomes if o.witness == name)
    return status


def test_quorum_two_with_one_witness_down_stalls_then_catches_up(
    store: Store, log: AuditLog, courts: WitnessKeys, civic: WitnessKeys
) -> None:
    pc, pv = free_port(), free_port()
    urls = [(courts, f"http://127.0.0.1:{pc}"), (civic, f"http://127.0.0.1:{pv}")]
    p = publisher(store, log, urls, 2)
    with witness_process(courts, log.verifier_key, pc):
        with witness_process(civic, log.verifier_key, pv):
            grow(store, log, 5)
            assert p.round().newly_published
            assert published(store, p) == 5
        # civic is down (killed -9): appends go on, publishing stalls at 5
        started = time.monotonic()
        grow(store, log, 3)
        grow(store, log, 2)
        assert time.monotonic() - started < 5
        result = p.round()
        assert (outcome(result, COURTS), outcome(result, CIVIC)) == ("cosigned", "unreachable")
        assert result.checkpoint_size == 10 and published(store, p) == 5
        with store.read() as conn:
            st = status(conn, p.config)
        assert (st["size"], st["published_size"], st["alarm"]) == (10, 5, False)
        by = {w["name"]: w for w in st["witnesses"]}
        assert (by[COURTS]["cosigned_size"], by[COURTS]["lag"]) == (10, 0)
        assert (by[CIVIC]["cosigned_size"], by[CIVIC]["lag"]) == (5, 5)
        assert "unreachable" in by[CIVIC]["last_error"]
        # civic comes back (same state file): it is caught up from 5 with a proof to 10
        with witness_process(civic, log.verifier_key, pv):
            result = p.round()
    assert outcome(result, CIVIC) == "cosigned" and outcome(result, COURTS) == "current"
    assert result.newly_published and published(store, p) == 10
    with store.read() as conn:
        cp = latest_published(conn, p.config)
        assert cp is not None and not alarms(conn)
    valid = require_quorum(cp.note, log.verifier_key, [courts.vkey, civic.vkey], 2)
    assert set(valid) == {COURTS, CIVIC}


def test_a_witness_answering_409_gets_the_retry_from_its_size(
    store: Store, log: AuditLog, courts: WitnessKeys, courts_up: ThreadWitness
) -> None:
    sent: list[int] = []

    def spy(url: str, old: int, proof: list[bytes], note: str, **kw: Any) -> Any:
        sent.append(old)
        return add_checkpoint(url, old, proof, note, **kw)

    p = publisher(store, log, [(courts, courts_up.url)], 1, send=spy)
    grow(store, log, 5)
    p.round()
    # The custodian's database forgets what the witness cosigned (or another process
    # published meanwhile): the witness names its size and is asked again from there.
    with store.write() as conn:
        conn.execute(delete(audit_witnesses))
    grow(store, log, 4)
    sent.clear()
    result = p.round()
    assert sent == [0, 5]
    assert outcome(result, COURTS) == "cosigned" and published(store, p) == 9


def _tampering_send(url: str, old: int, proof: list[bytes], note: str, **kw: Any) -> Any:
    """The real witness over HTTP, with one bit of its cosignature flipped on the way back."""
    r = httpx.post(f"{url}/add-checkpoint", content=request_body(old, proof, note), timeout=kw["timeout"])
    body = r.content
    if r.status_code == 200:
        b64 = body.rstrip(b"\n").rsplit(b" ", 1)[1]
        i = len(b64) - 10  # inside the Ed25519 signature
        body = body.replace(b64, b64[:i] + (b"A" if b64[i : i + 1] != b"A" else b"B") + b64[i + 1 :])
    return classify(r.status_code, r.headers.get("content-type", ""), body, note, kw.get("witness_key"))


def test_a_bad_cosignature_is_not_counted(
    store: Store, log: AuditLog, courts: WitnessKeys, courts_up: ThreadWitness, tmp_path: Path
) -> None:
    grow(store, log, 5)
    p = publisher(store, log, [(courts, courts_up.url)], 1, send=_tampering_send)
    result = p.round()
    assert outcome(result, COURTS) == "error"
    assert "cosignature" in result.outcomes[0].message
    # The same name with another key: its (valid) cosignature is not by the configured key.
    impostor = WitnessKeys(tmp_path / "other", COURTS)
    q = publisher(store, log, [(impostor, courts_up.url)], 1)
    assert outcome(q.round(), COURTS) == "error"
    with store.read() as conn:
        assert conn.execute(select(audit_cosignatures)).all() == []
        assert conn.execute(select(audit_published)).all() == []
        assert latest_published(conn, p.config) is None
        assert not alarms(conn)


def _rewrite(store: Store, keydir: str, n: int) -> AuditLog:
    """The custodian throws the log away and writes another history with the same key."""
    with store.write() as conn:
        for table in (audit_leaves, audit_tiles, audit_checkpoints):
            conn.execute(delete(table))
        conn.execute(update(audit_head).values(size=0, root=EMPTY_ROOT))
    log = AuditLog.open(keydir, clock=FixedClock(T0), checkpoint_interval=0)
    with store.write() as conn:
        log.append(conn, make_entries(log, n, 1000))  # other entries: another tree
    return log


def test_a_forked_log_is_refused_and_raises_the_alarm(
    store: Store, log: AuditLog, keydir: str, courts: WitnessKeys, courts_up: ThreadWitness
) -> None:
    grow(store, log, 5)
    assert outcome(publisher(store, log, [(courts, courts_up.url)], 1).round(), COURTS) == "cosigned"
    forked = _rewrite(store, keydir, 7)
    p = publisher(store, forked, [(courts, courts_up.url)], 1)
    result = p.round()
    assert outcome(result, COURTS) == "refused"
    assert "forked" in result.outcomes[0].message
    with store.read() as conn:
        found = alarms(conn)
        st = status(conn, p.config)
    assert [a.witness for a in found] == [COURTS] and "422" in found[0].reason
    assert st["alarm"] and st["witnesses"][0]["refusal"]
    with store.read() as conn:  # the forked checkpoint is never published
        assert conn.execute(select(audit_published.c.size).where(audit_published.c.size == 7)).first() is None


def test_a_cut_log_is_refused_even_when_the_database_forgot_the_witness(
    store: Store, log: AuditLog, keydir: str, courts: WitnessKeys, courts_up: ThreadWitness
) -> None:
    grow(store, log, 10)
    publisher(store, log, [(courts, courts_up.url)], 1).round()
    cut = _rewrite(store, keydir, 4)
    with store.write() as conn:
        conn.execute(delete(audit_witnesses))  # hide what the witness had cosigned
    result = publisher(store, cut, [(courts, courts_up.url)], 1).round()
    assert outcome(result, COURTS) == "refused"
    assert "cosigned size 10" in result.outcomes[0].message and "cut" in result.outcomes[0].message
    with store.read() as conn:
        assert [a.witness for a in alarms(conn)] == [COURTS]


def test_an_alarm_clears_only_when_the_witness_cosigns_again(
    store: Store, log: AuditLog, courts: WitnessKeys, courts_up: ThreadWitness
) -> None:
    p = publisher(store, log, [(courts, courts_up.url)], 1)
    grow(store, log, 3)
    p.round()
    with store.write() as conn:
        conn.execute(update(audit_witnesses).values(refusing_since=T0.replace(tzinfo=None), refusal="422"))
    grow(store, log, 1)
    with store.read() as conn:
        assert alarms(conn)
    assert outcome(p.round(), COURTS) == "cosigned"
    with store.read() as conn:
        assert not alarms(conn)


def test_with_no_witnesses_every_stored_checkpoint_is_published(store: Store, log: AuditLog) -> None:
    grow(store, log, 3)
    p = Publisher(store, log, witness_config("", ""))
    assert p.round().published_size == 3
    with store.read() as conn:
        cp = latest_published(conn, p.config)
    assert cp is not None and cp.size == 3 and cp.note.count("\u2014") == 1


def test_a_round_stores_a_quiet_heads_checkpoint_first(
    store: Store, keydir: str, courts: WitnessKeys, courts_up: ThreadWitness
) -> None:
    init_log(store, keydir)
    clock = FixedClock(T0)
    log = AuditLog.open(keydir, clock=clock, checkpoint_interval=1)
    grow(store, log, 2)
    grow(store, log, 2)  # not stored: same instant
    p = publisher(store, log, [(courts, courts_up.url)], 1)
    assert p.round().checkpoint_size == 2
    clock.advance(timedelta(seconds=1))
    result = p.round()
    assert result.checkpoint_size == 4 and result.published_size == 4


def test_appends_never_wait_for_a_hanging_witness(
    store: Store, log: AuditLog, courts: WitnessKeys, civic: WitnessKeys, courts_up: ThreadWitness
) -> None:
    with silent_listener() as hanging:
        p = publisher(store, log, [(courts, courts_up.url), (civic, hanging)], 2, timeout=2.0)
        grow(store, log, 1)  # a checkpoint to send, so the first round hangs on civic
        thread, stop = start(p, 0.05)
        try:
            time.sleep(0.3)  # a round is now waiting on the hanging witness
            for _ in range(5):
                t = time.monotonic()
                grow(store, log, 1)
                assert time.monotonic() - t < 1.0
        finally:
            stop.set()
            thread.join(timeout=15)
    assert not thread.is_alive()
    with store.read() as conn:
        assert latest_published(conn, p.config) is None  # stalled: civic never answered
        row = conn.execute(select(audit_witnesses).where(audit_witnesses.c.name == CIVIC)).one()
    assert "unreachable" in (row.last_error or "")


@pytest.mark.parametrize(
    ("witnesses", "quorum", "message"),
    [
        ("nonsense", "", "item 1 is not VERIFIER_KEY=URL"),
        ("{k}=ftp://x", "", "item 1 is not VERIFIER_KEY=URL"),
        ("{k}=http://a,{k}=http://b", "", "listed twice"),
        ("{k}=http://a", "2", "PARS_WITNESS_QUORUM"),
        ("{k}=http://a", "0", "PARS_WITNESS_QUORUM"),
        ("", "1", "lists no witness"),
        ("{log}=http://a", "", "type 0x04"),
    ],
)
def test_bad_witness_configuration_is_refused(
    courts: WitnessKeys, log: AuditLog, witnesses: str, quorum: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        witness_config(witnesses.format(k=courts.vkey, log=log.verifier_key), quorum)


def test_witness_configuration_from_the_environment(
    courts: WitnessKeys, civic: WitnessKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PARS_WITNESSES", f"{courts.vkey}=http://127.0.0.1:1/, {civic.vkey}=https://w.example/x"
    )
    monkeypatch.delenv("PARS_WITNESS_QUORUM", raising=False)
    config = witness_config()
    assert [(w.name, w.url) for w in config.witnesses] == [
        (COURTS, "http://127.0.0.1:1"),
        (CIVIC, "https://w.example/x"),
    ]
    assert config.quorum == 2


def test_status_and_publish_commands_raise_the_alarm(
    store: Store, log: AuditLog, keydir: str, courts: WitnessKeys, courts_up: ThreadWitness
) -> None:
    from pars.cli import app

    env = {
        "PARS_DATABASE_URL": store.url,
        "PARS_KEY_DIR": keydir,
        "PARS_WITNESSES": f"{courts.vkey}={courts_up.url}",
        "PARS_CHECKPOINT_INTERVAL": "0",
    }
    runner = CliRunner()
    grow(store, log, 4)
    ok = runner.invoke(app, ["audit", "publish"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "published: 4" in ok.stdout
    st = runner.invoke(app, ["audit", "status"], env=env)
    assert st.exit_code == 0 and "published 4" in st.stdout and f"{COURTS}: cosigned 4, ok" in st.stdout
    _rewrite(store, keydir, 6)
    bad = runner.invoke(app, ["audit", "publish", "--json"], env=env)
    assert bad.exit_code == 3
    st = runner.invoke(app, ["audit", "status"], env=env)
    assert st.exit_code == 3 and "ALARM" in st.stderr and COURTS in st.stderr
    js = runner.invoke(app, ["audit", "status", "--json"], env=env)
    assert js.exit_code == 3 and '"alarm": true' in js.stdout


def test_pars_serve_publishes_in_the_background(
    store: Store,
    log: AuditLog,
    courts: WitnessKeys,
    courts_up: ThreadWitness,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import anyio

    from pars.web.app import create_app

    monkeypatch.setenv("PARS_WITNESSES", f"{courts.vkey}={courts_up.url}")
    app = create_app(store, log.clock, audit_log=log, publish=True)
    grow(store, log, 6)

    async def serve_a_while() -> int:
        async with app.router.lifespan_context(app):
            for _ in range(100):
                await anyio.sleep(0.1)
                with store.read() as conn:
                    cp = latest_published(conn, app.state.witnesses)
                if cp is not None:
                    return cp.size
        return 0

    assert anyio.run(serve_a_while) == 6
    monkeypatch.setenv("PARS_WITNESSES", "not a witness")
    with pytest.raises(ConfigError, match="PARS_WITNESSES"):
        create_app(store, log.clock, audit_log=log, publish=True)
