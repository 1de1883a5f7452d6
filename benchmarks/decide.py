"""decide() against Cedar on the same agreements and the same 100,000 requests.

Prints µs per decision for each, the ratio, and the number of disagreements on
allow/deny (must be 0). Cedar gets pre-parsed policies and entities and one
``is_authorized_batch`` call per agreement; request building is outside both
timings. Run: ``.venv/bin/python benchmarks/decide.py [N]``.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import cedarpy

from pars.agreements.cedar import cedar_request, to_cedar
from pars.agreements.decide import AgreementVersion, decide
from pars.agreements.document import parse_document
from pars.agreements.request import Request
from pars.records.fields import FILTERS

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "agreements"
NAMES = sorted(FILTERS)
JUNK = ["SSN", "person.ssn", "*", "Last_Name", "ssn*"]


def load() -> list[AgreementVersion]:
    out = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        doc = parse_document(path.read_text())
        out.append(AgreementVersion(doc.id, 1, doc.version_hash(), doc, approved=True))
    return out


def make_requests(
    versions: list[AgreementVersion], n: int, seed: int = 7
) -> list[tuple[int, Request, datetime, int]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        i = rng.randrange(len(versions))
        term = versions[i].document.term
        span = (term.end - term.start).total_seconds()
        now = term.start + timedelta(seconds=rng.uniform(-0.05 * span, 1.05 * span))
        action = rng.choice(["search"] * 8 + ["read", "feed"])
        data: dict[str, object] = {"action": action, "purpose": rng.choice("CCCCJX")}
        if action != "feed":
            if rng.random() < 0.9:
                data["case_number"] = "CN-1"
            if rng.random() < 0.9:
                data["justification"] = "why"
        if action == "read":
            data["arrest_id"] = "A-1"
        if action == "search":
            pool = NAMES * 3 + JUNK
            data["filters"] = {rng.choice(pool): "x" for _ in range(rng.randint(0, 3))}
            data["sort"] = [rng.choice(["", "-"]) + rng.choice(pool) for _ in range(rng.randint(0, 1))]
            data["limit"] = rng.choice([None, 10, 1000])
        cases.append((i, Request.parse(data), now, rng.choice([0, 0, 0, 10, 499, 500, 5000])))
    return cases


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    versions = load()
    cases = make_requests(versions, n)
    policies = [cedarpy.PolicySet.from_str(to_cedar(v)) for v in versions]
    entities = cedarpy.Entities.from_json_str("[]")
    by_version: list[list[int]] = [[] for _ in versions]
    for k, (i, *_rest) in enumerate(cases):
        by_version[i].append(k)
    cedar_batches = [
        [cedar_request(versions[i], cases[k][1], cases[k][2], requests_in_window=cases[k][3]) for k in ks]
        for i, ks in enumerate(by_version)
    ]

    for v in versions:  # compile each version's clauses once, as the gate would
        _ = v.rules
    t0 = time.perf_counter()
    ours = [decide(versions[i], r, now, requests_in_window=w) for i, r, now, w in cases]
    t_decide = time.perf_counter() - t0

    theirs: list[bool] = [False] * n
    t0 = time.perf_counter()
    for i, ks in enumerate(by_version):
        results = cedarpy.is_authorized_batch(cedar_batches[i], policies[i], entities)
        for k, res in zip(ks, results, strict=True):
            theirs[k] = res.allowed
    t_cedar = time.perf_counter() - t0

    disagreements = sum(1 for d, c in zip(ours, theirs, strict=True) if d.allowed != c)
    allowed = sum(1 for d in ours if d.allowed)
    us_decide = t_decide / n * 1e6
    us_cedar = t_cedar / n * 1e6
    print(f"agreements:     {', '.join(v.agreement_id for v in versions)}")
    print(f"requests:       {n} ({allowed} allowed, {n - allowed} denied)")
    print(f"decide():       {us_decide:.3f} µs/decision")
    print(f"cedarpy batch:  {us_cedar:.3f} µs/decision")
    print(f"ratio:          decide() is {us_cedar / us_decide:.1f}x faster")
    print(f"disagreements:  {disagreements}")
    if disagreements:
        sys.exit(1)


if __name__ == "__main__":
    main()
