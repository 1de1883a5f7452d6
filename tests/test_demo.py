"""``pars demo`` tells the whole story, and its claims hold up."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from pars.audit import inclusion_proof, leaf_hash, load_keys, root_at, verify_inclusion
from pars.audit.log import get_entry
from pars.demo import MISUSER, Demo, run_demo
from pars.store.db import Store


def test_demo_names_the_misusing_user_with_provable_evidence(tmp_path: Path) -> None:
    said: list[str] = []
    facts = run_demo(Demo(tmp_path / "demo", arrests=1500, seed=7, say=said.append))
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
    store = Store(f"sqlite:///{tmp_path / 'demo' / 'pars.db'}")
    try:
        with store.read() as conn:
            size = report["log"]["size"]
            root = root_at(conn, size)
            assert root.hex() == report["log"]["root_hex"]
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
    finally:
        store.dispose()
    assert load_keys(str(tmp_path / "demo" / "keys")).verifier_key
    assert any(line.startswith("4. ICE terminated") for line in said)
