"""``pars demo`` tells the whole story, and its claims hold up.

One run serves every test here (the story takes a while on a shared machine). Its last
chapter cuts the log's tail, so evidence is checked as an outsider would after it: from
the bundle and the kept checkpoint, with the public keys.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import pars.demo as demo_module
from pars.audit import inclusion_proof, leaf_hash, load_keys, root_at, verify_inclusion
from pars.audit.bundle import check_bundle
from pars.audit.note import verify_checkpoint
from pars.audit.proofs import get_entry
from pars.cli import app
from pars.clock import FixedClock, parse_instant
from pars.demo import MISUSER, Demo, run_demo
from pars.store.db import Store
from pars.web.app import create_app
from tests.test_gate_fixtures import TestClient

runner = CliRunner()
# The story runs once for the module; on a loaded shared machine it can take minutes.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[str], Path]:
    """One run of the story; the honest store is copied to ``before-cut.db`` just before the
    insider's chapter (a test's snapshot, through SQLite's backup API)."""
    said: list[str] = []
    folder = tmp_path_factory.mktemp("demo") / "demo"
    real_cut = demo_module.chapter_cut

    def snapshot_then_cut(demo: Demo, *args: Any) -> None:
        src, dst = demo.folder / "pars.db", demo.folder / "before-cut.db"
        with closing(sqlite3.connect(src)) as honest, closing(sqlite3.connect(dst)) as copy:
            honest.backup(copy)
        real_cut(demo, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo_module, "chapter_cut", snapshot_then_cut)
        facts = run_demo(Demo(folder, arrests=1500, seed=7, say=said.append))
    return facts, said, folder


def _env(folder: Path) -> dict[str, str]:
    return {"PARS_DATABASE_URL": f"sqlite:///{folder / 'pars.db'}", "PARS_KEY_DIR": str(folder / "keys")}


def test_demo_names_the_misusing_user_with_provable_evidence(
    story: tuple[dict[str, Any], list[str], Path],
) -> None:
    facts, said, folder = story
    assert facts["verified"] is True
    assert facts["termination_rule"] == "term.end"
    assert facts["fbi_after"] == 200
    assert MISUSER in facts["flagged_users"]
    assert facts["replay_changed"] > 0
    report = json.loads(Path(facts["report"]).read_text())
    mine = {f["kind"]: f for f in report["findings"] if f["user"] == MISUSER}
    assert {"origin_targeting", "purpose_mismatch"} <= set(mine)
    normal = {f["user"] for f in report["findings"] if f["kind"] in ("origin_targeting", "purpose_mismatch")}
    assert normal <= {MISUSER, None}, "a normal analyst was flagged"
    vkey = load_keys(str(folder / "keys")).verifier_key
    # The report proves against the checkpoint both witnesses cosigned (the whole honest log).
    _, size, root = verify_checkpoint(report["log"]["checkpoint"], vkey)
    assert size == report["log"]["size"] == facts["cosigned_size"] == facts["log_size"]
    # The honest store, as it was before the insider's cut.
    store = Store(f"sqlite:///{folder / 'before-cut.db'}")
    try:
        with store.read() as conn:
            assert root_at(conn, size) == root and root.hex() == report["log"]["root_hex"]
            for index in mine["origin_targeting"]["evidence"][:10]:
                entry = get_entry(conn, index)
                assert json.loads(entry.entry)["user"] == MISUSER
                proof = inclusion_proof(conn, index, size)
                assert verify_inclusion(leaf_hash(entry.entry), index, size, proof, root)
        # Entry times never go backwards: ICE's termination is logged when it was ordered,
        # among the requests of that day, with the second it takes effect in its detail.
        with store.read() as conn:
            docs = [
                json.loads(bytes(r[0]))
                for r in conn.execute(text("SELECT entry FROM audit_leaves ORDER BY idx"))
            ]
        times = [d["time"] for d in docs]
        assert times == sorted(times)
        [ended] = [d for d in docs if d["action"] == "terminate"]
        assert ended["time"] == "2018-08-15T14:00:00+00:00" and "2018-08-31T23:59:59-04:00" in json.dumps(
            ended
        )
        assert docs.index(ended) == facts["termination_logged_index"]
    finally:
        store.dispose()
    # The cut (last chapter) kept every entry below its index: those still prove in the store.
    k = facts["cut_index"]
    store = Store(f"sqlite:///{folder / 'pars.db'}")
    try:
        with store.read() as conn:
            cut_root = root_at(conn, k)
            for index in [i for i in mine["origin_targeting"]["evidence"] if i < k][:10]:
                entry = get_entry(conn, index)
                proof = inclusion_proof(conn, index, k)
                assert verify_inclusion(leaf_hash(entry.entry), index, k, proof, cut_root)
    finally:
        store.dispose()
    assert any(line.startswith("4. ICE terminated") for line in said)


def test_two_witnesses_cosign_and_the_evidence_checks_offline(
    story: tuple[dict[str, Any], list[str], Path],
) -> None:
    facts, said, folder = story
    assert facts["cosigned_by"] == ["courts.city.example/witness", "civicwatch.example/witness"]
    assert any(line.startswith(f"   Checkpoint {facts['cosigned_size']:,} cosigned by") for line in said)
    public = {p.stem: p.read_text().strip() for p in (folder / "public").glob("*.vkey")}
    assert set(public) == {"log", "courts", "civic"}
    bundle = Path(facts["bundle"]).read_bytes()
    # Only the bundle and the public keys: both cosignatures required.
    checked = check_bundle(bundle, public["log"], witness_keys=[public["courts"], public["civic"]], quorum=2)
    assert [c.index for c in checked] == facts["bundle_checked"]
    report = json.loads(Path(facts["report"]).read_text())
    origin = next(f for f in report["findings"] if f["user"] == MISUSER and f["kind"] == "origin_targeting")
    assert facts["bundle_checked"] == sorted(origin["evidence"])[:5]
    for c, item in zip(checked, json.loads(bundle)["entries"], strict=True):
        entry = base64.b64decode(item["entry_b64"])
        assert leaf_hash(entry) == c.leaf_hash and json.loads(entry)["user"] == MISUSER
    # The same through the command the demo prints, in a store-less working directory.
    result = runner.invoke(
        app,
        ["audit", "check-bundle", facts["bundle"], "--key", public["log"],
         "--witness", public["courts"], "--witness", public["civic"], "--json"],
        env={"PARS_DATABASE_URL": "sqlite:////nonexistent/none.db"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["cosigned_by"] == sorted(facts["cosigned_by"])
    # A bundle tampered in one entry's bytes does not check.
    doc = json.loads(bundle)
    doc["entries"][0]["entry_b64"] = doc["entries"][1]["entry_b64"]
    with pytest.raises(ValueError, match=str(doc["entries"][0]["index"])):
        check_bundle(json.dumps(doc), public["log"], witness_keys=[public["courts"], public["civic"]])


def test_the_insiders_cut_is_refused_named_and_shown(story: tuple[dict[str, Any], list[str], Path]) -> None:
    facts, said, folder = story
    k, size = facts["cut_index"], facts["cosigned_size"]
    # The cut takes ICE's termination order (logged 2018-08-15) and everything after it.
    assert k == facts["termination_logged_index"] < facts["termination_index"] < size
    assert facts["cut_removed"] == size - k
    assert facts["verified_after_cut"] is True  # the attack: verify alone passes
    assert set(facts["refusals"]) == set(facts["cosigned_by"])
    assert all(f"cosigned size {size}" in m and "cut" in m for m in facts["refusals"].values())
    assert facts["kept_named"] == {"kind": "cut", "index": k}
    assert facts["alarm"] is True
    # The commands, as a user types them on the demo's folder.
    env = _env(folder)
    plain = runner.invoke(app, ["audit", "verify"], env=env)
    assert plain.exit_code == 0 and f"log verified: {k} entries" in plain.output
    public = {p.stem: p.read_text().strip() for p in (folder / "public").glob("*.vkey")}
    kept = runner.invoke(
        app,
        ["audit", "verify", "--checkpoint", facts["kept"], "--witness", public["courts"],
         "--witness", public["civic"], "--quorum", "2"],
        env=env,
    )  # fmt: skip
    assert kept.exit_code == 1
    assert f"at index {k} (cut)" in kept.output and f"the first missing index is {k}" in kept.output
    status = runner.invoke(app, ["audit", "status", "--json"], env=env)
    assert status.exit_code == 3 and json.loads(status.output)["alarm"] is True, status.output
    # What pars demo --serve shows: the red banner, on the sign-in page already.
    store = Store(env["PARS_DATABASE_URL"])
    try:
        clock = FixedClock(parse_instant("2018-09-01T00:00:05-04:00"))
        client = TestClient(create_app(store, clock, env["PARS_KEY_DIR"]))
        try:
            page = client.get("/console/signin").text
        finally:
            client.close()
        assert 'class="alarm" role="alert"' in page
        for name in facts["cosigned_by"]:
            assert f"{name} refuses since" in page
    finally:
        store.dispose()
    assert any(line.startswith("8. Insider") for line in said)


def test_the_witness_processes_are_stopped(story: tuple[dict[str, Any], list[str], Path]) -> None:
    facts, _, _ = story
    assert len(facts["witness_pids"]) == 2
    for pid in facts["witness_pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
