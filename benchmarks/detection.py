"""Detection benchmark: recall and precision per simulated behaviour, as a table.

Run: ``.venv/bin/python benchmarks/detection.py [--seeds 11,29,47] [--arrests 2500] [--months 3]``

Per seed: a synthetic city (``pars.synth``), ICE's demo agreement, five ordinary
analysts, one user per kind of misuse and per evasion (issue 12: dilution,
scraping by search, disguised reasons, a forbidden filter behind a misspelling,
victim probes by surname), and four split accounts, all driven through the gate
(``pars.simulate``) on a simulated clock; then the oversight report. And a second
city per seed, its bookings arriving day by day, ICE's terms with the feed on: two
analysts, a subscriber following the feed and one replaying it with
``Last-Event-ID: 0`` at every sitting (``run_feed``), through the gate's feed path
for ``--feed-days`` days; then its report.

Printed per behaviour: the finding kind that should name it, recall (seeds where
it was named with that kind), and precision of that kind over the run (findings
of the kind naming a misuser or, for the split accounts, the agency pooled from
them, among all findings of the kind naming anyone). Then the analysts' false
positives over (user, kind) pairs. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from pars.clock import parse_instant
from pars.oversight.model import KINDS
from pars.simulate import (
    ANALYSTS,
    EXPECTED,
    FEED_HONEST,
    FEED_TERMS,
    SPLIT,
    detection_world,
    run_feed,
    simulate,
)
from pars.simulate.city import city


def one_run(folder: Path, seed: int, arrests: int, months: int) -> dict[str, Any]:
    with city(folder, seed=seed, arrests=arrests, days=180 + 30 * months) as c:
        team, who, world = detection_world(c.store, c.gate, c.clock, c.record, c.doc.id)
        start = parse_instant("2017-09-01T00:00:00-04:00")
        simulate(c.gate, who, team, world, start, start + timedelta(days=30 * months), c.clock, seed=seed)
        return c.report()


def feed_run(folder: Path, seed: int, arrests: int, days: int) -> dict[str, Any]:
    start = parse_instant("2017-09-01T00:00:00-04:00")
    with city(
        folder,
        seed=seed,
        arrests=arrests,
        days=92 + days,
        agreement=FEED_TERMS,
        ingest_first=lambda e: parse_instant(e["at"]) < start,
    ) as c:
        run_feed(c, seed, start, start + timedelta(days=days))
        return c.report()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="11,29,47", help="comma-separated simulation seeds")
    ap.add_argument("--arrests", type=int, default=2500)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--feed-arrests", type=int, default=4000, help="arrests in the feed city")
    ap.add_argument("--feed-days", type=int, default=75, help="days the feed city is simulated")
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
        with tempfile.TemporaryDirectory() as tmp:
            fed = feed_run(Path(tmp), seed, args.feed_arrests, args.feed_days)
        found = {(f["user"], f["kind"]) for f in fed["findings"]}
        caught["feed_replay"] += ("mis.feed_replay", "bulk_access") in found
        for f in fed["findings"]:
            if f["user"] is not None:
                named[f["kind"]] += 1
                right[f["kind"]] += f["user"].startswith("mis.")
        false_pairs += sum(1 for u, _ in found if u in FEED_HONEST)
        print(
            f"seed {seed}: {len(report['findings'])} findings ({time.perf_counter() - t:.0f} s)",
            file=sys.stderr,
        )
    print(f"{'behaviour':20} {'kind':24} {'recall':>8} {'precision of kind':>18}")
    for b, kind in [*EXPECTED.items(), ("split", "origin_targeting"), ("feed_replay", "bulk_access")]:
        precision = right[kind] / named[kind] if named[kind] else float("nan")
        print(f"{b:20} {kind:24} {caught[b] / len(seeds):>8.2f} {precision:>18.2f}")
    pairs = (len(ANALYSTS) + len(FEED_HONEST)) * len(KINDS) * len(seeds)
    print(
        f"honest users' false positives (analysts and the feed follower): {false_pairs} of {pairs} "
        f"(user, kind) pairs ({false_pairs / pairs:.2%})"
    )


if __name__ == "__main__":
    main()
