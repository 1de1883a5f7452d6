"""Readers trust only verified bytes (CONTRACT 5), on SQLite and PostgreSQL.

A custodian edits what is stored beside the entries: each derived column of
``audit_leaves`` (``kind``, ``user``, ``agreement_id``, ``time_utc``), the
``leaf_hash`` column, the entry bytes. For each, either ``verify`` fails naming
the index, or every reader — the oversight report, the transparency report,
replay's entry source and the console's explorer — gives byte for byte what it
gave before.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from pars.audit import AuditLog, LogMismatch, open_log, verify_log
from pars.audit.reader import iter_entries
from pars.cli.agreements import audit_entries
from pars.oversight.transparency import build_transparency
from pars.store.db import Store
from pars.store.schema.audit import audit_leaves
from tests.test_oversight_report import ARRESTS, NOW, append, everyday, ordinary, report, world

__all__ = ["world"]  # the fixture, shared with the report's tests


@pytest.fixture
def misused(world: tuple[Store, AuditLog, str]) -> tuple[Store, AuditLog, list[int]]:
    """Everyday reads by three analysts and agent7's forbidden filters and victim probes."""
    store, log, version = world
    docs = everyday()
    docs += [ordinary("agent7", n) for n in range(5, ARRESTS + 1, 5) if n != 10]
    docs += [
        {
            "user": "agent7",
            "decision": "deny",
            "status": 403,
            "rule": "search.forbid_filters.country_of_origin",
        }
    ] * 3
    docs += [
        {"user": "agent7", "filters": {"last_name": "ROE", "first_name": "ann "}, "case_number": "x"}
    ] * 2
    indices = append(store, log, version, docs)
    return store, log, indices


def agent7(store: Store) -> list[int]:
    with store.read() as conn:
        rows = conn.execute(select(audit_leaves.c.idx).where(audit_leaves.c.user == "agent7")).all()
    return sorted(int(r[0]) for r in rows)


def everything(store: Store, log: AuditLog) -> str:
    """What every reader says, as one text: a changed byte anywhere shows."""
    from pars.console.audit_views import explore, explore_newest, newest
    from pars.services.logreads import AuditReads

    class Svc:  # the console's services, as far as its log views use them
        def __init__(self) -> None:
            self.audit = AuditReads(store, log)

    svc: Any = Svc()
    window = {"since": datetime(2018, 1, 1, tzinfo=UTC), "until": datetime(2018, 8, 31, tzinfo=UTC)}
    filters = {"agreement_id": "ice-2017", "user": "agent7", **window}
    out = {
        "report": report(store, log),
        "report_window": report(store, log, start=window["since"], end=window["until"]),
        "transparency": build_transparency(
            store, now=NOW, **{"start": window["since"], "end": window["until"]}
        ),
        "replay": list(audit_entries(None, store, "ICE")),
        "explore": explore(svc, filters, 0),
        "explore_newest": explore_newest(svc, filters, None),
        "live": newest(svc, "ice-2017"),
        "iter": [
            e.index
            for e in iter_entries(
                store, kind="access", user="agent7", since=window["since"], until=window["until"]
            )
        ],
    }
    return json.dumps(out, sort_keys=True, default=str)


def tamper(store: Store, sql: str, **params: Any) -> int:
    with store.write() as conn:
        return int(conn.execute(text(sql), params).rowcount)


COLUMN_EDITS = {
    # The issue's own attack: agent7's requests relabelled as admin events.
    "kind": "UPDATE audit_leaves SET kind = 'admin' WHERE \"user\" = 'agent7'",
    "user": "UPDATE audit_leaves SET \"user\" = 'analyst0' WHERE \"user\" = 'agent7'",
    "agreement_id": "UPDATE audit_leaves SET agreement_id = 'fbi-2017' WHERE \"user\" = 'agent7'",
}


@pytest.mark.parametrize("column", [*COLUMN_EDITS, "time_utc"])
def test_a_derived_column_edited_changes_no_reader_by_a_byte(
    misused: tuple[Store, AuditLog, list[int]], column: str
) -> None:
    store, log, _ = misused
    before = everything(store, log)
    r = json.loads(before)["report"]
    assert {f["kind"] for f in r["findings"] if f["user"] == "agent7"} >= {
        "forbidden_filter",
        "protected_role_probe",
    }
    assert json.loads(before)["explore"][0], "the explorer finds agent7's entries"
    if column == "time_utc":
        # Every agent7 entry moved out of any window the readers are asked about.
        old = datetime(2010, 1, 1)
        with store.write() as conn:
            q = update(audit_leaves).where(audit_leaves.c.user == "agent7").values(time_utc=old)
            changed = conn.execute(q).rowcount
    else:
        changed = tamper(store, COLUMN_EDITS[column])
    assert changed == len(json.loads(before)["iter"]) > 0  # every agent7 row was edited
    assert verify_log(store, log.verifier_key).ok  # verify does not look at these columns...
    assert everything(store, log) == before  # ...and no reader does either


def test_an_edited_leaf_hash_column_fails_verify_at_its_index_and_changes_no_reader(
    misused: tuple[Store, AuditLog, list[int]],
) -> None:
    store, log, _ = misused
    before = everything(store, log)
    i = agent7(store)[3]
    tamper(store, "UPDATE audit_leaves SET leaf_hash = :h WHERE idx = :i", h=sha256(b"other").digest(), i=i)
    result = verify_log(store, log.verifier_key)
    assert not result.ok and result.problem is not None
    assert (result.problem.index, result.problem.kind) == (i, "entry")
    # Readers check bytes against the tree the checkpoint signs, never against this column;
    # the report, which verifies in its own snapshot, says the log failed and where.
    r = report(store, log)
    assert r["log"]["verified"] is False and r["log"]["problem"]["index"] == i
    b = json.loads(before)
    assert json.loads(everything(store, log))["transparency"] == b["transparency"]
    assert json.loads(everything(store, log))["explore"] == b["explore"]


@pytest.mark.parametrize("rehash", [False, True], ids=["bytes", "bytes and leaf hash"])
def test_edited_entry_bytes_fail_verify_and_every_reader_at_their_index(
    misused: tuple[Store, AuditLog, list[int]], rehash: bool
) -> None:
    store, log, _ = misused
    i = agent7(store)[2]
    with store.read() as conn:
        body = bytes(conn.execute(select(audit_leaves.c.entry).where(audit_leaves.c.idx == i)).scalar_one())
    forged = body.replace(b'"agent7"', b'"agentX"')
    assert forged != body
    with store.write() as conn:
        values: dict[str, Any] = {"entry": forged}
        if rehash:
            values["leaf_hash"] = sha256(b"\x00" + forged).digest()
        conn.execute(update(audit_leaves).where(audit_leaves.c.idx == i).values(**values))
    result = verify_log(store, log.verifier_key)
    assert not result.ok and result.problem is not None and result.problem.index == i
    assert result.problem.kind == ("subtree" if rehash else "entry")
    # A reader that does not verify first still never reads the forged bytes as an entry.
    for read in (
        lambda: build_transparency(store, now=NOW),
        lambda: list(audit_entries(None, store, "ICE")),
        lambda: list(iter_entries(store, user="agentX")),
    ):
        with pytest.raises(LogMismatch) as caught:
            read()
        assert caught.value.index == i
    # The report verifies first and reads only what verified: nothing past a good checkpoint.
    r = report(store, log)
    assert r["log"]["verified"] is False and r["log"]["problem"]["index"] == i
    assert r["log"]["size"] <= i and all(e < r["log"]["size"] for f in r["findings"] for e in f["evidence"])


def test_a_reader_never_reads_past_its_checkpoint(misused: tuple[Store, AuditLog, list[int]]) -> None:
    """Rows appended behind the log's back (no checkpoint covers them) are not entries."""
    store, log, indices = misused
    size = indices[-1] + 1  # the agreement's apply is entry 0
    forged = b'{"kind":"access","user":"agent7"}'
    with store.write() as conn:
        conn.execute(
            audit_leaves.insert().values(
                idx=size,
                entry=forged,
                leaf_hash=sha256(b"\x00" + forged).digest(),
                time_utc=datetime(2018, 3, 1),
                kind="access",
                agreement_id="ice-2017",
                user="agent7",
            )
        )
    with open_log(store, log.verifier_key) as view:
        assert view.size == size
        assert [i for i, _ in view.entries()][-1] == size - 1
    assert not verify_log(store, log.verifier_key).ok


def test_the_report_reads_no_entry_past_its_published_checkpoint(
    misused: tuple[Store, AuditLog, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With witnesses lagging, the report stops at the published size and names that checkpoint."""
    from pars.audit import reader
    from pars.audit.proofs import stored_checkpoint

    store, log, indices = misused
    published = indices[-1] + 1  # the agreement's apply is entry 0
    later = datetime(2018, 3, 2, tzinfo=UTC)
    append(store, log, "v", [{**ordinary("agent7", 5), "time": later}] * 30)  # newer, not yet published
    monkeypatch.setattr(reader, "published_checkpoint", lambda conn: stored_checkpoint(conn, published))
    r = report(store, log)
    assert r["log"]["verified"] is True
    assert r["log"]["size"] == published
    assert r["log"]["checkpoint"].split("\n")[1] == str(published)
    assert sum(a["requests"] for a in r["agreements"]) == len(indices)
    assert all(e < published for f in r["findings"] for e in f["evidence"])


def test_times_in_a_window_are_read_from_the_bytes(misused: tuple[Store, AuditLog, list[int]]) -> None:
    store, _, indices = misused
    t0 = datetime(2018, 3, 1, 14, tzinfo=UTC)
    got = [
        e.index
        for e in iter_entries(store, since=t0 + timedelta(minutes=10), until=t0 + timedelta(minutes=12))
    ]
    assert got == [indices[10], indices[11], indices[12]]


def test_a_forged_entry_with_its_tile_rewritten_is_caught_by_the_signed_root(
    misused: tuple[Store, AuditLog, list[int]],
) -> None:
    """Bytes, leaf hash and the level-0 tile all rewritten to agree: only the signed root disagrees."""
    from pars.audit.tiles import TILE_WIDTH

    store, log, _ = misused
    i = agent7(store)[1]
    with store.read() as conn:
        body = bytes(conn.execute(select(audit_leaves.c.entry).where(audit_leaves.c.idx == i)).scalar_one())
        tile = bytes(
            conn.execute(
                text("SELECT hashes FROM audit_tiles WHERE level = 0 AND idx = :t"), {"t": i // TILE_WIDTH}
            ).scalar_one()
        )
    forged = body.replace(b'"agent7"', b'"agentX"')
    leaf = sha256(b"\x00" + forged).digest()
    pos = (i % TILE_WIDTH) * 32
    with store.write() as conn:
        conn.execute(update(audit_leaves).where(audit_leaves.c.idx == i).values(entry=forged, leaf_hash=leaf))
        conn.execute(
            text("UPDATE audit_tiles SET hashes = :h WHERE level = 0 AND idx = :t"),
            {"h": tile[:pos] + leaf + tile[pos + 32 :], "t": i // TILE_WIDTH},
        )
    result = verify_log(store, log.verifier_key)
    assert not result.ok and result.problem is not None and result.problem.index <= i
    with pytest.raises(LogMismatch, match="signed root") as caught:
        list(iter_entries(store, user="agentX"))
    assert caught.value.index == i // TILE_WIDTH * TILE_WIDTH


def test_report_bundles_one_per_finding(
    misused: tuple[Store, AuditLog, list[int]], store_url: str, tmp_path: Path
) -> None:
    """``pars oversight report --bundles DIR``: each finding's evidence, checkable offline."""
    from typer.testing import CliRunner

    from pars.audit.bundle import check_bundle
    from pars.cli import app

    _, log, _ = misused
    env = {"PARS_DATABASE_URL": store_url, "PARS_KEY_DIR": str(tmp_path / "keys")}
    folder, out = tmp_path / "bundles", tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["oversight", "report", "--out", str(out), "--bundles", str(folder)], env=env
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    findings = report["findings"]
    files = sorted(folder.iterdir())
    assert {f["user"] for f in findings} >= {"agent7"} and len(files) == len(findings)
    for n, (f, path) in enumerate(zip(findings, files, strict=True), start=1):
        assert path.name.startswith(f"finding-{n:02d}-{f['kind']}-")
        checked = check_bundle(path.read_text(), log.verifier_key)
        assert [c.index for c in checked] == sorted(set(f["evidence"]))
        assert {c.size for c in checked} == {report["log"]["size"]}
        assert json.loads(path.read_text())["checkpoint"] == report["log"]["checkpoint"]


def test_texts_are_read_for_exactly_the_entries_asked(misused: tuple[Store, AuditLog, list[int]]) -> None:
    """``load_texts`` reads a dense set of indices as one range of the key and a sparse one by
    lists: either way, every text of each entry asked and none of an entry not asked."""
    from pars.audit.text_store import load_texts

    store, _, _ = misused
    with store.read() as conn:
        stored: dict[int, dict[str, tuple[str, bytes]]] = {}
        for idx, key, txt, salt in conn.execute(text("SELECT idx, key, text, salt FROM audit_texts")):
            stored.setdefault(int(idx), {})[str(key)] = (str(txt), bytes(salt))
        have = sorted(stored)
        assert len(have) > 10 and any(len(t) > 1 for t in stored.values())
        cases = {
            "dense": have,
            "all but one (one range, the row between dropped)": have[:5] + have[6:],
            "sparse (lists)": have[::5],
            "both ends": [have[0], have[-1]],
            "past the log": [have[-1] + 1000],
        }
        for name, asked in cases.items():
            got = load_texts(conn, asked)
            opened = {i: {k: (t.text, t.salt) for k, t in d.items()} for i, d in got.items()}
            assert opened == {i: stored[i] for i in asked if i in stored}, name
