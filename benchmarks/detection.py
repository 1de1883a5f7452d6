"""Detection benchmark: recall and precision per simulated behaviour, as a table.

Run: ``.venv/bin/python benchmarks/detection.py [--seeds 11,29,47] [--arrests 2500] [--months 3]``

Per seed: a synthetic city (``pars.synth``), ICE's demo agreement, five ordinary
analysts, one user per kind of misuse and per evasion (issue 12: dilution,
scraping by search, disguised reasons, a forbidden filter behind a misspelling,
victim probes by surname), and four split accounts, all driven through the gate
(``pars.simulate``) on a simulated clock; then the oversight report.

Printed per behaviour: the finding kind that should name it, recall (seeds where
it was named with that kind), and precision of that kind over the run (findings
of the kind naming a misuser or, for the split accounts, the agency pooled from
them, among all findings of the kind naming anyone). Then the analysts' false
positives over (user, kind) pairs. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from pars.agreements.approval_note import SignerKey
from pars.agreements.document import parse_document
from pars.agreements.parties import add_party_key
from pars.agreements.service import apply_document, approval_note_for, approve
from pars.audit import AuditLog, init_log
from pars.clock import FixedClock, parse_instant
from pars.gate import Gate, admin_event_recorder
from pars.oversight.model import KINDS
from pars.oversight.report import build_report
from pars.simulate import ANALYSTS, EXPECTED, SPLIT, detection_world, simulate
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.migrate import upgrade
from pars.synth import generate


def one_run(folder: Path, seed: int, arrests: int, months: int) -> dict[str, Any]:
    store = Store(f"sqlite:///{folder / 'pars.db'}")
    key_dir = str(folder / "keys")
    clock = FixedClock(parse_instant("2017-08-25T09:00:00-04:00"))
    try:
        upgrade(store)
        init_log(store, key_dir)
        log = AuditLog.open(key_dir, clock=clock)
        events = generate(arrests=arrests, seed=seed, start=date(2017, 6, 1), days=180 + 30 * months)
        ingest_lines(store, ((n, json.dumps(e)) for n, e in enumerate(events, 1)), clock=clock)
        doc = parse_document((resources.files("pars.demo_data") / "ice-2017.yaml").read_text())
        rec = admin_event_recorder(log)
        apply_document(store, clock, doc, by="custodian", record_admin_event=rec)
        for role in ("courts", "police"):  # each party signs its approval with its own key
            signer = SignerKey.generate(role)
            add_party_key(store, clock, role, signer.verifier_key, by="bench", record_admin_event=rec)
            with store.read() as conn:
                note = approval_note_for(conn, doc.id, signer)
            approve(store, clock, doc.id, note, by=role, record_admin_event=rec)
        gate = Gate(store, log, clock)
        team, who, world = detection_world(store, gate, clock, rec, doc.id)
        start = parse_instant("2017-09-01T00:00:00-04:00")
        simulate(gate, who, team, world, start, start + timedelta(days=30 * months), clock, seed=seed)
        return build_report(store, hmac_key=log.keys.hmac_key, now=clock.now(), key_dir=key_dir)
    finally:
        store.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="11,29,47", help="comma-separated simulation seeds")
    ap.add_argument("--arrests", type=int, default=2500)
    ap.add_argument("--months", type=int, default=3)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    caught: dict[str, int] = defaultdict(int)
    named: dict[str, int] = defaultdict(int)
    right: dict[str, int] = defaultdict(int)
    false_pairs = 0
    t = time.perf_counter()
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            report = one_run(Path(tmp), seed, args.arrests, args.months)
        found = {(f["user"], f["kind"]) for f in report["findings"]}
        for b, kind in EXPECTED.items():
            caught[b] += (f"mis.{b}", kind) in found
        pooled = [
            f
            for f in report["findings"]
            if f["user"] is None
            and f["kind"] == "origin_targeting"
            and set(SPLIT) & set(f["statistic"].get("users", []))
        ]
        caught["split"] += bool(pooled)
        for f in report["findings"]:
            if f["user"] is None and f not in pooled:
                continue
            named[f["kind"]] += 1
            right[f["kind"]] += f["user"] is None or f["user"].startswith("mis.")
        false_pairs += sum(1 for u, _ in found if u in ANALYSTS)
        print(
            f"seed {seed}: {len(report['findings'])} findings ({time.perf_counter() - t:.0f} s)",
            file=sys.stderr,
        )
    print(f"{'behaviour':20} {'kind':24} {'recall':>8} {'precision of kind':>18}")
    for b, kind in [*EXPECTED.items(), ("split", "origin_targeting")]:
        precision = right[kind] / named[kind] if named[kind] else float("nan")
        print(f"{b:20} {kind:24} {caught[b] / len(seeds):>8.2f} {precision:>18.2f}")
    pairs = len(ANALYSTS) * len(KINDS) * len(seeds)
    print(
        f"analysts' false positives: {false_pairs} of {pairs} (user, kind) pairs ({false_pairs / pairs:.2%})"
    )


if __name__ == "__main__":
    main()
