"""The oversight report (CONTRACT section 6): log state, agreements, findings.

``build_report`` streams the audit log once, never holding it: the facts about
each agreement (scope, baseline, purposes) are read first, then, page by page,
the facts about the arrests the page names that were not read before, and every
entry feeds the agreement counts, the plots' ``Activity`` and every detector.
Memory grows with distinct records, people and users, not entries.

    report = build_report(store, hmac_key=keys.hmac_key, now=clock.now())
    report["log"]["verified"], [f["kind"] for f in report["findings"]]

Rule: the keys of CONTRACT section 6 (generated_at, log.size/root_hex/verified,
agreements[].id/partner/requests/denied/records_seen/users, findings[].kind/
agreement_id/user/severity/summary/statistic/evidence) never change; add, never rename.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, Protocol, runtime_checkable

from pars.agreements.service import agreement_ids
from pars.audit import LogView, format_time, load_keys
from pars.audit.reader import published_checkpoint, verified_view
from pars.audit.text_store import open_page_texts
from pars.errors import NotFound
from pars.oversight.activity import Activity
from pars.oversight.bulk import BulkAccess
from pars.oversight.config import OversightConfig
from pars.oversight.counted import ForbiddenFilter, OutOfTermAccess
from pars.oversight.erasures import GoneTexts
from pars.oversight.facts import add_arrests, expunged_among, load_facts
from pars.oversight.justification import PurposeMismatch, VagueJustification
from pars.oversight.model import KINDS, Detector, Entry, Finding, RecordFacts, Resolved, is_access
from pars.oversight.probes import ProtectedRoleProbe
from pars.oversight.split import SECOND, Job, Second, processes_for
from pars.oversight.targeting import NonCriminalTargeting, OriginTargeting
from pars.store.db import Store

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


class Observer(Protocol):
    def observe(self, index: int, entry: Entry) -> None: ...


@runtime_checkable
class ResolvedObserver(Protocol):
    """An observer that takes each entry with its ``Resolved`` (derived once for all)."""

    def observe_resolved(self, index: int, entry: Entry, r: Resolved) -> None: ...


class LookbackObserver(Protocol):
    """An observer that also reads the lookback: entries before the period (sliding windows)."""

    def observe_before(self, index: int, entry: Entry) -> None: ...


def detectors(facts: RecordFacts, config: OversightConfig) -> list[Detector]:
    """One of each kind, in the contract's order."""
    return [
        ForbiddenFilter(facts, config),
        OriginTargeting(facts, config),
        NonCriminalTargeting(facts, config),
        ProtectedRoleProbe(facts, config),
        BulkAccess(facts, config),
        VagueJustification(facts, config),
        PurposeMismatch(facts, config),
        OutOfTermAccess(facts, config),
    ]


@dataclass
class _Agreement:
    partner: str | None = None
    requests: int = 0
    denied: int = 0
    records: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)

    def observe(self, entry: Entry) -> None:
        self.requests += 1
        if entry.get("decision") != "allow":
            self.denied += 1
        else:
            self.records.update(entry.get("arrest_ids") or ())
        if entry.get("user") is not None:
            self.users.add(str(entry["user"]))
        if self.partner is None and entry.get("agency"):
            self.partner = str(entry["agency"])


def _pages(
    view: LogView,
    store: Store,
    facts: RecordFacts,
    agreement_id: str | None,
    start: datetime | None,
    end: datetime | None,
) -> Iterator[Sequence[tuple[int, Entry]]]:
    """The access entries the report reads, a page at a time: checked bytes up to the view's
    signed size; each text that opens its commitment put in place (detectors read free text
    as typed, ``pars.audit.texts``); the arrests a page names that were not read before read
    into ``facts`` before the page is seen."""
    known: set[str] = set()
    found = view.entry_pages(agreement_id=agreement_id, kind="access", since=start, until=end)
    for page in found:
        open_page_texts(view.conn, page)
        page = [p for p in page if is_access(p[1])]
        new = {a for _, e in page for a in e.get("arrest_ids") or ()} - known
        if new:
            known |= new
            with store.read() as conn:
                add_arrests(conn, facts, new)
        if page:
            yield page


class _Summaries:
    """Each agreement's counts for the report's ``agreements`` (every known agreement listed)."""

    def __init__(self, agreements: list[str]) -> None:
        self.by_id = {aid: _Agreement() for aid in agreements}

    def observe(self, index: int, entry: Entry) -> None:
        aid = str(entry["agreement_id"])
        counts = self.by_id.get(aid)
        if counts is None:  # not setdefault: that built an _Agreement for every entry
            counts = self.by_id[aid] = _Agreement()
        counts.observe(entry)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def find(
    entries: Iterator[tuple[int, Entry]] | list[tuple[int, Entry]],
    facts: RecordFacts,
    config: OversightConfig,
    also: Sequence[Observer] = (),
    period_start: str | None = None,
    kinds: frozenset[str] | None = None,
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Run every detector over one stream: (findings sorted for reading, power statements).

    ``also``: more observers fed the same entries (the report's ``Activity``).
    ``period_start``: entries timed before it (``format_time``) are the lookback: only the
    detectors with ``observe_before`` (the sliding windows) read them.
    ``kinds``: run only the detectors of these kinds (each process of a split report runs
    its share, ``pars.oversight.split``); the others' findings are ``merge``d in after.
    """
    found = [d for d in detectors(facts, config) if kinds is None or d.kind in kinds]
    # Each entry is resolved once (subjects, arrests' facts, people) and handed to every
    # detector that takes it; the others read the raw entry.
    shared: list[ResolvedObserver] = []
    observers: list[Observer] = []
    for o in [*found, *also]:
        if isinstance(o, ResolvedObserver):
            shared.append(o)
        else:
            observers.append(o)
    before = [
        d.observe_before_resolved for d in found if isinstance(d, OriginTargeting | NonCriminalTargeting)
    ]
    calls = [s.observe_resolved for s in shared]
    plain = [d.observe for d in observers]
    # The detectors build millions of long-lived sets and counters and no cycles; the
    # cyclic collector would re-walk them all again and again (time grew faster than
    # the log). Everything is freed by reference counting; collect once at the end.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index, entry in entries:
            if not is_access(entry):
                continue
            r = Resolved(entry, facts)
            if period_start is not None and r.time < period_start:
                for b in before:
                    b(index, entry, r)
                continue
            for call in calls:
                call(index, entry, r)
            for observe in plain:
                observe(index, entry)
    finally:
        if was_enabled:
            gc.enable()
    findings = [f for d in found for f in d.findings()]
    power = [p for d in found if isinstance(d, OriginTargeting | NonCriminalTargeting) for p in d.power()]
    return merge([(findings, power)])


def merge(
    parts: Sequence[tuple[list[Finding], list[dict[str, Any]]]],
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """The findings and power statements of detectors run apart, as one run of them all gives:
    findings sorted for reading, power statements in the contract's order of kinds. Each kind
    is run by one detector, so the order within a kind is that detector's own."""
    findings = [f for found, _ in parts for f in found]
    findings.sort(
        key=lambda f: (SEVERITY_ORDER[f.severity], KINDS.index(f.kind), f.agreement_id, f.user or "")
    )
    power = [p for _, stated in parts for p in stated]
    power.sort(key=lambda p: KINDS.index(p["kind"]))
    return findings, power


def _dated(view: LogView, findings: list[Finding]) -> list[dict[str, Any]]:
    """Findings as JSON, each with the span of time its evidence covers, in words and as ``period``
    (the times read off the same checked bytes the detectors read)."""
    out = []
    for f in findings:
        data = f.to_json()
        times = sorted(view.document(i)["time"] for i in f.evidence)
        if times:
            data["period"] = {"from": times[0], "to": times[-1]}
            span = (
                times[0][:10] if times[0][:10] == times[-1][:10] else f"{times[0][:10]} to {times[-1][:10]}"
            )
            data["summary"] = f"{f.summary} The requests cited date from {span} (UTC)."
        out.append(data)
    return out


def _summary(findings: list[Finding], agreements: list[dict[str, Any]], power: list[dict[str, Any]]) -> str:
    requests = sum(a["requests"] for a in agreements)
    users = sum(a["users"] for a in agreements)
    scope = f"{requests:,} requests by {users:,} users under {len(agreements)} agreement(s)"
    if findings:
        counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITY_ORDER}
        return (
            f"{len(findings)} finding(s) in {scope}: {counts['high']} high, {counts['medium']} medium, "
            f"{counts['low']} low severity. Each lists the audit-log entries that show it."
        )
    limits = []
    for p in power:
        agency = p["agency"]["min_ratio"]
        if agency is not None:
            what = "foreign-born people" if p["kind"] == "origin_targeting" else "non-criminal arrests"
            limits.append(
                f"for {p['agreement_id']}, a skew toward {what} of {agency:.2f} times the share in scope "
                f"({p['baseline_share']:.1%}) would have been found with {p['power']:.0%} probability"
            )
    detail = ("; ".join(limits) + ".") if limits else "Too few people were seen to test for skews."
    return (
        f"No findings: {scope} were examined by all {len(KINDS)} detectors and none showed misuse. {detail}"
    )


def _expunged(store: Store, ids: list[str]) -> set[str]:
    with store.read() as conn:
        return expunged_among(conn, ids)


def _gone(texts: dict[str, Any]) -> str:
    """The summary's word on texts gone from storage with no logged reason (empty if none)."""
    n = texts["unexplained"]
    if not n:
        return ""
    listed = ", ".join(str(i) for i in texts["unexplained_indices"])
    more = "" if n <= len(texts["unexplained_indices"]) else ", ..."
    return (
        f" The stored reasons or case numbers of {n:,} entries are gone or altered with no erasure, "
        f"retention or expungement on the record (entries {listed}{more}): the custodian's store no "
        "longer holds what its log commits to, and the detectors could not read those reasons."
    )


def _reach(start: datetime | None, config: OversightConfig) -> tuple[datetime | None, str | None]:
    """The lookback: where reading starts before the period (the sliding windows also read the
    ``config.lookback`` days before it), and the period's start as logged; (None, None) if none."""
    reach = None if start is None or config.lookback == 0 else start - timedelta(days=config.lookback)
    return reach, None if reach is None or start is None else format_time(start)


def _report(
    store: Store,
    view: LogView,
    ok: bool,
    now: datetime,
    agreement_id: str | None,
    known: list[str],
    start: datetime | None,
    end: datetime | None,
    config: OversightConfig,
    hmac_key: bytes,
    second: Second | None = None,
) -> dict[str, Any]:
    # Every agreement is listed, with no requests if none were made.
    listed = [agreement_id] if agreement_id else known
    # One pass over the log: facts about the agreements first, about arrests as pages name them.
    facts = load_facts(store, arrest_ids=(), agreement_ids=listed, hmac_key=hmac_key, start=start, end=end)
    summaries = _Summaries(listed)
    activity = Activity(facts, config)
    gone = GoneTexts(facts)
    reach, since = _reach(start, config)
    entries = chain.from_iterable(_pages(view, store, facts, agreement_id, reach or start, end))
    # Split: the second process runs its detectors (split.SECOND) over its own checked reading.
    kinds = None if second is None else frozenset(KINDS) - SECOND
    findings, power = find(
        entries, facts, config, also=[summaries, activity, gone], period_start=since, kinds=kinds
    )
    if second is not None:
        findings, power = merge([(findings, power), second.result()])
    agreements = [
        {
            "id": aid,
            "partner": facts.partners.get(aid) or s.partner,
            "requests": s.requests,
            "denied": s.denied,
            "records_seen": len(s.records),
            "users": len(s.users),
            # Records since expunged: counted here and left out of every test, never named.
            "expunged_records_seen": len(s.records & facts.expunged),
        }
        for aid, s in sorted(summaries.by_id.items())
    ]
    # Texts gone from storage that no logged erasure or expungement explains (the custodian's side).
    texts = gone.summary(view, lambda ids: _expunged(store, ids))
    cp = view.checkpoint
    report: dict[str, Any] = _finite(
        {
            "generated_at": format_time(now),
            # The signed (published) checkpoint every evidence index is proved against.
            "log": {
                "size": view.size,
                "root_hex": None if cp is None else cp.root_hex,
                "verified": ok,
                "checkpoint": None if cp is None else cp.note,
                "texts": texts,
            },
            "period": {
                "from": None if start is None else start.isoformat(),
                "to": None if end is None else end.isoformat(),
                # Read for the sliding windows only, up to the same signed checkpoint.
                "lookback_from": None if reach is None else reach.isoformat(),
                "lookback_days": None if reach is None else config.lookback,
            },
            "agreements": agreements,
            "findings": _dated(view, findings),
            "power": power,
            "summary": _summary(findings, agreements, power) + _gone(texts),
            "activity": activity.to_json(),
        }
    )
    return report


def build_report(
    store: Store,
    *,
    hmac_key: bytes,
    now: datetime,
    agreement_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    config: OversightConfig | None = None,
    verifier_key: str | None = None,
    key_dir: str | None = None,
    processes: int | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (CONTRACT section 6, plus ``period``, ``power``, ``summary``,
    and ``activity``: the numbers the HTML report plots).

    ``verifier_key`` (or the key in ``key_dir``/``PARS_KEY_DIR``) checks the log afresh.
    ``processes``: 1, or 2 to run half the detectors in a second process (``pars.oversight.split``;
    the same report); by default two for a log of ``split.SPLIT_FROM`` entries or more on a
    machine with two cores.
    """
    config = config or OversightConfig()
    vkey = verifier_key or load_keys(key_dir).verifier_key
    with store.read() as conn:
        known = agreement_ids(conn)
        # Only to choose one process or two: what is read is what verifies below.
        published = published_checkpoint(conn)
    if agreement_id is not None and agreement_id not in known:
        raise NotFound(f"agreement {agreement_id!r}: no such agreement")
    second = None
    if processes_for(store, 0 if published is None else published.size, processes) == 2:
        reach, since = _reach(start, config)
        listed = [agreement_id] if agreement_id else known
        job = Job(store.url, agreement_id, listed, start, end, reach, since, config, hmac_key)
        second = Second(job)  # reads the record facts while this process verifies the log
    try:
        # Verify and read in ONE snapshot, and read no entry past the published checkpoint the
        # evidence proves against: what is counted is exactly what was verified and signed.
        with verified_view(store, vkey) as (verified, view):
            if second is not None:
                if view.checkpoint is None:
                    second.stop()
                    second = None
                else:
                    second.read(vkey, view.size, view.checkpoint.root)
            report = _report(
                store, view, verified.ok, now, agreement_id, known, start, end, config, hmac_key, second
            )
            if verified.problem is not None:
                p = verified.problem
                report["log"]["problem"] = {"index": p.index, "kind": p.kind, "message": p.message}
    except BaseException:
        if second is not None:
            second.stop()
        raise
    return report
