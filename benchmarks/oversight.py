"""Oversight benchmark: the report's time over 10^5 and 10^6 audit entries (goal: linear, <= 60 s at 10^6).

Run: ``.venv/bin/python benchmarks/oversight.py [--small N] [--large N] [--arrests N] [--backends sqlite]``

Builds one store per backend with ``--arrests`` synthetic arrests (``pars.synth``;
by default one per ten entries of ``--large``: 100,000 for 10^6 entries)
and the demo's three agreements (ICE, FBI, ATF), then a log of ``--small``
entries, measures, extends the same log to ``--large`` entries and measures again.
The entries are synthesised with ``pars.audit.build_entry`` (version 2: reasons and
case numbers committed, their texts stored beside the leaves) and appended with
``AuditLog.append`` in batches, not sent through the gate: this measures the
report, not the gate. Their RFC 8785 bytes are made by orjson with sorted keys
(the same bytes for these entries; every 50th is checked against ``rfc8785``):
that halves the build. The log's clock stands still, so a checkpoint is stored
at the head after each build (on PostgreSQL, then VACUUM ANALYZE: ``settle``), and
each measure asserts the report read every entry (its signed size is the verified
one, its requests are the entries built).

The mix is a year (Oct 2017 - Sep 2018) of searches and reads by ten users per
agency, each case (one to four people, drawn from the arrests in the agreement's
scope, as the gate would show them) looked up 3 to 15 times under one case number
and reason, about 4% denied under four rules, and one ICE user who seeks out people
born abroad and tries the forbidden filter (so the report has findings to prove).

Printed per size: entries, seconds and entries/s for ``build_report`` as the product
runs it (JSON: the log verified and read, every detector; in two processes on a
machine with two cores, ``pars.oversight.split``; ``verify_log`` alone is timed
apart), the same report in one process (``processes=1``, asserted identical) and
the ratio, ``render_html`` (plots and proofs), ``build_transparency``, and
the PDF; then the ratio of per-entry report time at the large size to the small
(1.0 is linear). PostgreSQL comes from ``PARS_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/test; a database of its own is created there and
dropped) when listed in --backends. Not a test: it prints figures, and asserts only
that the report read the whole log.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
import rfc8785
from common import DEFAULT_PG, backend_store  # benchmarks/common.py (scripts run from this folder)
from sqlalchemy import and_, select

import pars.audit.entry as entry_module
from pars.agreements.approval_note import SignerKey
from pars.agreements.document import parse_document
from pars.agreements.parties import add_party_key
from pars.agreements.service import apply_document, approval_note_for, approve, load_history
from pars.audit import AuditEntry, AuditLog, build_entry, init_log, verify_log
from pars.clock import FixedClock
from pars.gate import admin_event_recorder
from pars.oversight import build_report
from pars.oversight.facts import _scope_condition
from pars.oversight.html import render_html
from pars.oversight.pdf import render_pdf, unavailable
from pars.oversight.transparency import build_transparency
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.schema.records import arrests, parties
from pars.synth import generate

START = datetime(2017, 10, 1, tzinfo=UTC)
YEAR = timedelta(days=364)
NOW = datetime(2018, 10, 1, tzinfo=UTC)
AGREEMENTS = ("atf-2017", "fbi-2017", "ice-2017")
USERS_PER_AGENCY = 10
MISUSER = "ice-agent7"
#: What ordinary users are denied for (the misuser also tries the forbidden filter).
DENIALS = (
    ("search.require.case_number", 40),
    ("rate_limit", 25),
    ("filters.unknown.last_nme", 20),
    ("search.max_results", 15),
)
FORBIDDEN = "search.forbid_filters.country_of_origin"
CRIMES = ("Burglary", "Robbery", "Aggravated assault", "Narcotics", "Fraud", "Firearms", "Theft")
DETAILS = (
    "suspect seen",
    "named by the complainant",
    "caught on camera",
    "partial plate matched",
    "witness statement taken",
    "pawn shop report",
    "tip from a neighbour",
    "vehicle stopped",
    "phone records requested",
    "prior arrest checked",
    "alias checked",
    "warrant application drafted",
)
PLACES = ("Market St", "Broad St", "Girard Ave", "Lehigh Ave", "Spruce St", "Kensington Ave")


def setup(
    store: Store, keydir: str, arrests_n: int
) -> tuple[AuditLog, dict[str, str], dict[str, list[tuple[str, str, bool]]]]:
    """Arrests, the three agreements (approved), the log; returns the log, versions, and the
    arrests in each agreement's scope."""
    events = generate(arrests_n, seed=7, start=date(2017, 1, 1), days=600)
    ingest_lines(store, ((n, json.dumps(ev)) for n, ev in enumerate(events, 1)))
    clock = FixedClock(datetime(2017, 8, 1, tzinfo=UTC))
    init_log(store, keydir)
    rec = admin_event_recorder(AuditLog.open(keydir, clock=clock))
    signers = {role: SignerKey.generate(role) for role in ("courts", "police")}
    for role, signer in signers.items():
        add_party_key(store, clock, role, signer.verifier_key, by="clerk", record_admin_event=rec)
    versions = {}
    for aid in AGREEMENTS:
        doc = parse_document((files("pars") / "demo_data" / f"{aid}.yaml").read_text(encoding="utf-8"))
        versions[aid] = apply_document(store, clock, doc, by="clerk", record_admin_event=rec).hash
        for role, signer in signers.items():
            with store.read() as conn:
                note = approval_note_for(conn, aid, signer)
            approve(store, clock, aid, note, by=role, record_admin_event=rec)
    # Each agreement's users see only arrests in its scope, as the gate would show them
    # (ATF's is felonies only): a pool drawn from every arrest would skew the honest users.
    people: dict[str, list[tuple[str, str, bool]]] = {}
    with store.read() as conn:
        for aid in AGREEMENTS:
            rows = conn.execute(
                select(arrests.c.arrest_id, arrests.c.person_id, parties.c.country_of_origin)
                .join(parties, and_(parties.c.arrest_id == arrests.c.arrest_id, parties.c.role == "arrestee"))
                .where(_scope_condition(load_history(conn, aid), None, None))
                .order_by(arrests.c.arrest_id)
            ).all()
            people[aid] = [
                (r.arrest_id, r.person_id, bool(r.country_of_origin) and r.country_of_origin != "US")
                for r in rows
            ]
    return AuditLog.open(keydir, clock=FixedClock(NOW)), versions, people


def entries(
    log: AuditLog,
    versions: dict[str, str],
    people: dict[str, list[tuple[str, str, bool]]],
    start: int,
    n: int,
    total: int,
) -> Iterator[AuditEntry]:
    """Entries ``start`` .. ``start + n`` of a ``total``-entry year, in time order."""
    rng = random.Random(start)
    abroad = {aid: [p for p in pool if p[2]] for aid, pool in people.items()}
    users = [(aid, f"{aid.split('-')[0]}-{'agent' if u == 7 else 'analyst'}{u}")
             for aid in AGREEMENTS for u in range(USERS_PER_AGENCY)]  # fmt: skip
    weights = [1.0 + (i % 5) for i in range(len(users))]
    rules = [r for r, _ in DENIALS]
    rule_weights = [w for _, w in DENIALS]
    cases: dict[str, tuple[str, str, list[tuple[str, str, bool]], int]] = {}
    for i in range(start, start + n):
        aid, user = rng.choices(users, weights)[0]
        at = START + YEAR * (i / total)
        # An analyst works a case for several lookups (3 to 15) of the few people in it,
        # under one case number and one reason.
        case, why, cast, left = cases.get(user) or ("", "", [], 0)
        if left == 0:
            case = f"{at.year % 100}-{rng.randrange(100000):05d}"
            why = (
                f"{rng.choice(CRIMES)} investigation, case {case}: {rng.choice(DETAILS)} "
                f"near {rng.choice(PLACES)}"
            )
            pool = abroad[aid] if user == MISUSER and rng.random() < 0.9 else people[aid]
            cast = rng.sample(pool, rng.choice((1, 1, 2, 3, 4)))
            left = rng.randint(3, 15)
        cases[user] = (case, why, cast, left - 1)
        denied = rng.random() < 0.04
        forbidden = user == MISUSER and rng.random() < 0.02
        picked = rng.sample(cast, rng.randint(1, len(cast)))
        read = rng.random() < 0.35
        if read:
            picked = picked[:1]
        yield build_entry(
            hmac_key=log.keys.hmac_key,
            time=at,
            kind="access",
            action="read" if read else "search",
            decision="deny" if denied or forbidden else "allow",
            status=403 if denied or forbidden else 200,
            agreement_id=aid,
            agreement_version=versions[aid],
            agency=aid.split("-")[0].upper(),
            user=user,
            route=f"GET /v1/arrests/{picked[0][0]}" if read else "POST /v1/search",
            purpose="C",
            case_number=case,
            justification=why,
            filters={"arrest_id": picked[0][0]}
            if read
            else {"last_name": f"Doe{i % 997}", "first_name": "Pat"},
            limit=None if read else 25,
            rule=FORBIDDEN if forbidden else rng.choices(rules, rule_weights)[0] if denied else "allow",
            arrest_ids=[] if denied or forbidden else [p[0] for p in picked],
            person_ids=[] if denied or forbidden else sorted({p[1] for p in picked}),
            fields=[]
            if denied or forbidden
            else ["arrest_id", "person_id", "arrest.arrested_at", "charges.grade"],
        )


class _Canonical:
    """RFC 8785 for the benchmark's entries at orjson's speed (``rfc8785.dumps`` was most of the
    build time). The entries here hold only ASCII strings, integers, null, lists and objects,
    for which sorted-key compact orjson is byte for byte RFC 8785; every 50th entry is
    encoded both ways and compared, so the stored bytes are what the gate would write."""

    CanonicalizationError = rfc8785.CanonicalizationError

    def __init__(self) -> None:
        self.n = 0

    def dumps(self, doc: Any) -> bytes:
        fast: bytes = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        self.n += 1
        if self.n % 50 == 1 and fast != rfc8785.dumps(doc):
            raise AssertionError(f"orjson and RFC 8785 differ on {doc!r}")
        return fast


def grow(store: Store, log: AuditLog, versions: dict[str, str], people: dict[str, Any],
         have: int, want: int, total: int, batch: int) -> float:  # fmt: skip
    """Append entries ``have`` .. ``want``; returns seconds spent (building and appending)."""
    t = time.perf_counter()
    chunk: list[AuditEntry] = []
    done = have
    real = rfc8785
    setattr(entry_module, "rfc8785", _Canonical())  # noqa: B010 (the module's own name for it)
    try:
        for e in entries(log, versions, people, have, want - have, total):
            chunk.append(e)
            if len(chunk) == batch:
                with store.write() as conn:
                    log.append(conn, chunk)
                done += len(chunk)
                chunk = []
                if done % 100_000 < batch:
                    print(f"  {done:,} appended", file=sys.stderr, flush=True)
    finally:
        setattr(entry_module, "rfc8785", real)  # noqa: B010
    if chunk:
        with store.write() as conn:
            log.append(conn, chunk)
    # The log's clock stands still (FixedClock), so the append cadence stored a checkpoint
    # only at the first append: store one at the head, or the report would read (and be
    # timed over) only the entries below that first checkpoint.
    with store.write() as conn:
        log.checkpoint_head(conn, force=True)
    return time.perf_counter() - t


def settle(store: Store) -> None:
    """On PostgreSQL, VACUUM ANALYZE after the bulk build, as autovacuum has long done to a log
    appended over a year: otherwise the autovacuum the build just triggered runs beside the
    measures, and the first reads of a fresh table set its hint bits."""
    if store.is_sqlite:
        return
    t = time.perf_counter()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    print(f"  VACUUM ANALYZE in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)


def measure(store: Store, keydir: str, size: int) -> dict[str, Any]:
    t = time.perf_counter()
    verified = verify_log(store, key_dir=keydir)
    verify_s = time.perf_counter() - t
    assert verified.ok, verified
    assert verified.size >= size, verified  # the requests, after the admin entries of the set-up
    hmac_key = AuditLog.open(keydir).keys.hmac_key
    # The report as the product runs it (two processes on two cores for a log this size:
    # pars.oversight.split), then in one process, side by side on the same store.
    t, cpu, kids = time.perf_counter(), time.process_time(), _children_cpu()
    report = build_report(store, hmac_key=hmac_key, now=NOW, key_dir=keydir)
    report_s, report_cpu = time.perf_counter() - t, time.process_time() - cpu
    second_cpu = _children_cpu() - kids
    print(f"  report over {size:,} entries: {report_s:.1f} s", file=sys.stderr, flush=True)
    t = time.perf_counter()
    alone = build_report(store, hmac_key=hmac_key, now=NOW, key_dir=keydir, processes=1)
    one_s = time.perf_counter() - t
    print(f"  the same in one process: {one_s:.1f} s", file=sys.stderr, flush=True)
    assert json.dumps(alone, sort_keys=True) == json.dumps(report, sort_keys=True), "one process differs"
    # The report read the whole log: its signed size is the verified one, and every request counted.
    assert report["log"]["size"] == verified.size, (report["log"]["size"], verified.size)
    requests = sum(a["requests"] for a in report["agreements"])
    assert requests == size, (requests, size)
    t = time.perf_counter()
    page = render_html(store, report)
    html_s = time.perf_counter() - t
    t = time.perf_counter()
    build_transparency(store, now=NOW)
    transparency_s = time.perf_counter() - t
    pdf_s = float("nan")
    if unavailable() is None:
        t = time.perf_counter()
        render_pdf(page)
        pdf_s = time.perf_counter() - t
    return {
        "entries": size,
        "report_s": report_s,
        "report_cpu": report_cpu,
        "second_cpu": second_cpu,
        "one_s": one_s,
        "verify_s": verify_s,
        "html_s": html_s,
        "transparency_s": transparency_s,
        "pdf_s": pdf_s,
        "findings": len(report["findings"]),
        "kinds": ", ".join(f"{k} {n}" for k, n in Counter(f["kind"] for f in report["findings"]).items()),
        "page_kib": len(page.encode()) / 1024,
    }


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (the report's second process)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def show(backend: str, m: dict[str, Any]) -> None:
    n = m["entries"]
    print(
        f"{backend:10} {n:>10,} entries  report {m['report_s']:7.1f} s "
        f"({n / m['report_s']:>9,.0f} entries/s, CPU {m['report_cpu']:.1f} s + second process "
        f"{m['second_cpu']:.1f} s; one process {m['one_s']:.1f} s, {m['one_s'] / m['report_s']:.2f}x; "
        f"verify_log alone {m['verify_s']:.1f} s)  html {m['html_s']:5.1f} s  "
        f"transparency {m['transparency_s']:6.1f} s ({n / m['transparency_s']:>9,.0f} entries/s)  "
        f"pdf {m['pdf_s']:5.1f} s  page {m['page_kib']:,.0f} KiB  "
        f"findings {m['findings']:.0f} ({m['kinds']})",
        flush=True,
    )


def run(backend: str, small: int, large: int, arrests_n: int, batch: int, pg_admin: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, backend_store(backend, pg_admin, Path(tmp)) as store:
        keydir = str(Path(tmp) / "keys")
        t = time.perf_counter()
        log, versions, people = setup(store, keydir, arrests_n)
        scoped = ", ".join(f"{a} {len(p):,} in scope" for a, p in people.items())
        print(f"{backend}: {arrests_n:,} arrests ingested ({scoped}), 3 agreements "
              f"in {time.perf_counter() - t:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip
        results = []
        have = 0
        for size in (small, large):
            spent = grow(store, log, versions, people, have, size, large, batch)
            print(f"{backend}: log built to {size:,} entries (+{size - have:,} in {spent:.1f} s)",
                  file=sys.stderr, flush=True)  # fmt: skip
            have = size
            settle(store)
            results.append(measure(store, keydir, size))
            show(backend, results[-1])
        a, b = results
        per = (b["report_s"] / b["entries"]) / (a["report_s"] / a["entries"])
        per_t = (b["transparency_s"] / b["entries"]) / (a["transparency_s"] / a["entries"])
        print(f"{backend:10} per-entry report time, {large:,} vs {small:,}: {per:.2f}x (1.00 = linear); "
              f"transparency {per_t:.2f}x; report at {large:,}: {b['report_s']:.1f} s (goal <= 60 s)",
              flush=True)  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{backend:10} peak RSS of the process so far: {rss:,.0f} MiB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument(
        "--arrests",
        type=int,
        default=None,
        help="synthetic arrests (default: one per ten entries of --large, at least 3,000: 100,000 for 10^6)",
    )
    ap.add_argument("--batch", type=int, default=2_000, help="entries per append (transaction)")
    ap.add_argument("--backends", default="sqlite")
    args = ap.parse_args()
    if not 0 < args.small < args.large:
        ap.error("need 0 < --small < --large")
    if args.arrests is None:
        # A store sized to the log: a fixed few thousand arrests would let every set stay small.
        args.arrests = max(3_000, args.large // 10)
    pg_admin = os.environ.get("PARS_BENCH_POSTGRES_URL", DEFAULT_PG)
    for backend in args.backends.split(","):
        run(backend, args.small, args.large, args.arrests, args.batch, pg_admin)


if __name__ == "__main__":
    main()
