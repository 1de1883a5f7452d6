"""``pars demo``: the PARS story end to end on an embedded SQLite store.

September 2017 - August 2018, a Philadelphia-like city: a year of bookings; FBI,
ATF and ICE agreements approved two of three by signed notes; partner analysts
working through the gate on a simulated clock, one ICE user targeting foreign-born
people with minor or dropped charges under immigration reasons; ICE terminated
effective 2018-08-31 23:59:59 and a request one second later denied; the log
verified and cosigned by two witnesses (the courts' and a civic group's, each a
``pars witness serve`` process); the oversight report naming the user with provable
evidence, and one finding's evidence checked offline from a bundle and the public
keys; a replay of a narrower draft; and last, an insider cutting the log's tail,
refused by the witnesses, named by ``verify --checkpoint`` and shown as an alarm.
Each chapter is a plain function over a ``Demo`` so tests and the console tell the
same story.

Rule: the demo uses only public room APIs and synthetic people; every record a
simulated partner sees comes through the gate; it writes only in its folder. The
one exception is the insider's cut (``pars.demo_witnesses.cut_tail``), which writes
the store below the APIs on purpose, as someone holding the database could.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from pars.agreements.approval_note import SignerKey
from pars.agreements.decide import AgreementVersion
from pars.agreements.document import parse_document
from pars.agreements.parties import add_party_key, write_signer_key
from pars.agreements.replay import logged_requests, replay
from pars.agreements.service import apply_document, approval_note_for, approve, serving_version, terminate
from pars.audit import AuditLog, init_log, log_size, open_log, verify_log
from pars.audit.bundle import check_bundle
from pars.audit.evidence import write_bundle
from pars.audit.extends import kept_checkpoint
from pars.audit.publish import latest_published, status, witness_config
from pars.audit.publisher import Publisher
from pars.audit.text_store import stream_with_texts
from pars.clock import FixedClock, parse_instant
from pars.demo_witnesses import LocalWitness, configured, cut_tail, local_witnesses, wait_ready
from pars.gate import Gate, Principal, admin_event_recorder, issue_token
from pars.oversight.publish import write_reports
from pars.simulate import Persona, load_world, simulate
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.migrate import upgrade
from pars.store.schema import arrests, charges, events, expungements, parties, persons
from pars.synth import generate

Say = Callable[[str], None]

START = parse_instant("2017-09-01T00:00:00-04:00")
ICE_END = parse_instant("2018-08-31T23:59:59-04:00")
#: When the Mayor's order terminating ICE's agreement is given (and logged).
TERMINATION_ORDERED = parse_instant("2018-08-15T10:00:00-04:00")
AGREEMENTS = ("fbi-2017.yaml", "atf-2017.yaml", "ice-2017.yaml")
MISUSER = "agent7"
#: Cosignatures that publish a checkpoint: both witnesses, the courts' and the civic group's.
QUORUM = 2
PARTIES = ("courts", "police", "district_attorney")


@dataclass
class Demo:
    folder: Path
    arrests: int = 12_000
    seed: int = 2018
    say: Say = print
    facts: dict[str, Any] = field(default_factory=dict)
    clock: FixedClock = field(default_factory=lambda: FixedClock(parse_instant("2017-08-20T09:00:00-04:00")))

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.folder / 'pars.db'}"

    @property
    def key_dir(self) -> str:
        return str(self.folder / "keys")


def _document(name: str) -> str:
    return (resources.files("pars.demo_data") / name).read_text(encoding="utf-8")


def _lines(arrest_count: int, seed: int) -> Iterator[tuple[int, str]]:
    stream = generate(arrests=arrest_count, seed=seed, start=date(2017, 9, 1), days=365)
    for n, ev in enumerate(stream, 1):
        yield n, json.dumps(ev, ensure_ascii=False)


def chapter_records(demo: Demo, store: Store) -> None:
    """A year of synthetic Philadelphia bookings, validated and ingested."""
    began = time.perf_counter()
    totals = ingest_lines(store, _lines(demo.arrests, demo.seed), clock=demo.clock)
    elapsed = time.perf_counter() - began
    with store.read() as conn:
        n_arrests = conn.scalar(select(func.count()).select_from(arrests)) or 0
        n_people = conn.scalar(select(func.count()).select_from(persons).where(persons.c.kind == "arrestee"))
        arrestees = select(parties.c.country_of_origin).where(parties.c.role == "arrestee").subquery()
        foreign = conn.scalar(
            select(func.count()).select_from(arrestees).where(arrestees.c.country_of_origin != "US")
        )
        n_expunged = conn.scalar(select(func.count()).select_from(expungements)) or 0
        n_events = conn.scalar(select(func.count()).select_from(events)) or 0
        felony = charges.c.grade.in_(["F1", "F2", "F3", "F"])
        felonies = conn.scalar(select(func.count(func.distinct(charges.c.arrest_id))).where(felony))
    demo.facts.update(arrests=n_arrests, events=n_events, expunged=n_expunged)
    demo.say(
        f"1. Bookings: {n_events:,} synthetic events (Sep 2017 - Aug 2018) accepted in {elapsed:.1f}s "
        f"({totals.rejected} rejected, {totals.warnings} identity conflicts kept apart)."
    )
    demo.say(
        f"   {n_arrests:,} arrests of {n_people or 0:,} people; {felonies or 0:,} with a felony charge; "
        f"{foreign or 0:,} arrestees born abroad; {n_expunged} expunged by court order."
    )


def chapter_parties(demo: Demo, store: Store, log: AuditLog) -> dict[str, SignerKey]:
    """Courts, police and the DA each make a signing key; the custodian registers the verifier keys."""
    record = admin_event_recorder(log)
    folder = Path(demo.key_dir) / "parties"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    signers: dict[str, SignerKey] = {}
    for party in PARTIES:
        signer = SignerKey.generate(party)
        write_signer_key(folder / f"{party}.key", signer)
        add_party_key(
            store, demo.clock, party, signer.verifier_key, by="records.custodian", record_admin_event=record
        )
        signers[party] = signer
    ids = ", ".join(f"{p} {s.verifier_key.split('+')[1]}" for p, s in signers.items())
    demo.say(f"2. Parties' approval keys made in {folder} and registered ({ids}).")
    return signers


def chapter_agreements(demo: Demo, store: Store, log: AuditLog, signers: dict[str, SignerKey]) -> None:
    """FBI, ATF and ICE agreements, each approved by the signatures of two of courts, police and the DA."""
    record = admin_event_recorder(log)
    for name in AGREEMENTS:
        doc = parse_document(_document(name))
        apply_document(store, demo.clock, doc, by="records.custodian", record_admin_event=record)
        for role, who in (("courts", "judge.alvarez"), ("district_attorney", "ada.chen")):
            with store.read() as conn:
                note = approval_note_for(conn, doc.id, signers[role])
            approve(store, demo.clock, doc.id, note, by=who, record_admin_event=record)
        demo.say(f"   Agreement {doc.id} ({doc.partner}) applied; courts and the DA signed their approvals.")


def _principals(demo: Demo, store: Store, gate: Gate, personas: list[Persona]) -> dict[str, Principal]:
    out: dict[str, Principal] = {}
    for p in personas:
        token, _ = issue_token(
            store,
            demo.clock,
            role="partner",
            user=p.user,
            agreement_id=p.agreement_id,
            by="records.custodian",
            record_admin_event=admin_event_recorder(gate.log),
        )
        out[p.user] = gate.authenticate(token)
    return out


def personas() -> list[Persona]:
    team = [
        Persona("fbi.walsh", "fbi-2017", "FBI", per_day=2),
        Persona("fbi.okafor", "fbi-2017", "FBI", per_day=2),
        Persona("fbi.lindqvist", "fbi-2017", "FBI", per_day=1.5),
        Persona("atf.moreno", "atf-2017", "ATF", per_day=1.5),
        Persona("atf.kim", "atf-2017", "ATF", per_day=1),
        Persona("ice.baker", "ice-2017", "ICE", per_day=1.5),
        Persona("ice.romano", "ice-2017", "ICE", per_day=1.5),
        Persona(MISUSER, "ice-2017", "ICE", behaviour="origin_targeting", per_day=2.5),
    ]
    return team


def chapter_activity(
    demo: Demo, store: Store, gate: Gate, interludes: Sequence[tuple[datetime, Callable[[], None]]] = ()
) -> dict[str, Principal]:
    """A year of partner requests through the gate, one audit entry each (``interludes``: admin
    events on the same clock, logged in time order with the requests around them)."""
    team = personas()
    principals = _principals(demo, store, gate, team)
    with store.read() as conn:
        world = load_world(conn)
    began = time.perf_counter()
    stats = simulate(
        gate, principals, team, world, START, ICE_END, demo.clock, seed=demo.seed, interludes=interludes
    )
    elapsed = time.perf_counter() - began
    denied = sum(n for status, n in stats.by_status.items() if status != 200)
    demo.facts.update(requests=stats.asks, denied=denied)
    demo.say(
        f"3. Partner activity: {stats.asks:,} requests by {len(team)} users through the gate in "
        f"{elapsed:.1f}s; {denied:,} denied or not found; every one an audit entry with a receipt."
    )
    return principals


def terminate_ice(demo: Demo, store: Store, log: AuditLog) -> None:
    """The Mayor's order of 2018-08-15: ICE's access ends at 2018-08-31 23:59:59. Logged when it
    was given (the clock's time), the date it takes effect in its detail."""
    termination = terminate(
        store,
        demo.clock,
        "ice-2017",
        ICE_END,
        "City ends ICE access (Mayor's order, August 2018)",
        by="records.custodian",
        record_admin_event=admin_event_recorder(log),
    )
    with store.read() as conn:
        logged_at = log_size(conn) - 1  # its admin entry, the newest
    demo.facts.update(
        terminated_at=demo.clock.now().isoformat(),
        termination_effective=ICE_END.isoformat(),
        termination_logged_index=logged_at,
    )
    demo.say(
        f"   {demo.clock.now().date()}: the Mayor's order terminates ICE's agreement, effective "
        f"{termination.effective_at.isoformat()} (logged at once; requests until then are still served)."
    )


def chapter_termination(demo: Demo, gate: Gate, team: dict[str, Principal]) -> None:
    """ICE terminated effective 2018-08-31 23:59:59; one second later its requests are denied."""
    body = {
        "purpose": "C",
        "case_number": "ICE-18-77777",
        "justification": "Follow-up on a pending criminal case.",
        "filters": {"last_name": "Garcia"},
        "limit": 3,
    }
    who = team["ice.baker"]
    demo.clock.set(ICE_END)
    last = gate.search(who, body)
    demo.clock.set(parse_instant("2018-09-01T00:00:00-04:00"))
    after = gate.search(who, body)
    fbi = gate.search(team["fbi.walsh"], {**body, "case_number": "FBI-18-40001"})
    rule = after.body.get("error", {}).get("rule")
    index = after.body["receipt"]["leaf_index"]
    demo.facts.update(termination_rule=rule, termination_index=index, fbi_after=fbi.status)
    demo.say(
        f"4. ICE terminated effective {ICE_END.isoformat()}: a search at that second -> {last.status}; "
        f"one second later -> {after.status} (rule {rule}, audit index {index}); "
        f"the FBI's search that same second -> {fbi.status}."
    )


def chapter_verify(demo: Demo, store: Store, log: AuditLog) -> None:
    with store.write() as conn:  # the head under a stored checkpoint, as a publisher round does
        log.checkpoint_head(conn, force=True)
    result = verify_log(store, key_dir=demo.key_dir)
    demo.facts.update(verified=result.ok, log_size=result.size, root_hex=result.root_hex)
    state = "verified" if result.ok else f"FAILED at index {result.problem.index if result.problem else '?'}"
    root = result.root_hex or ""
    demo.say(f"5. Audit log: {result.size:,} entries, root {root[:16]}..., {state}.")


def chapter_oversight(demo: Demo, store: Store, log: AuditLog) -> dict[str, Any]:
    """The oversight report (JSON, HTML, PDF where WeasyPrint runs) and the public transparency report."""
    began = time.perf_counter()
    paths = write_reports(
        store, demo.folder / "reports", hmac_key=log.keys.hmac_key, now=demo.clock.now(), key_dir=demo.key_dir
    )
    report: dict[str, Any] = json.loads(paths["json"].read_text(encoding="utf-8"))
    findings = report["findings"]
    named = sorted({f["user"] for f in findings if f.get("user")})
    demo.facts.update(findings=len(findings), flagged_users=named, report=str(paths["json"]))
    demo.facts.update(reports={kind: str(path) for kind, path in paths.items()})
    demo.say(
        f"6. Oversight ({time.perf_counter() - began:.1f}s): {len(findings)} findings; "
        f"users named: {', '.join(named) or 'none'}."
    )
    for f in findings:
        if f.get("user") == MISUSER:
            p = f.get("statistic", {}).get("p_value")
            test = f"p = {p:.2g}; " if isinstance(p, float) else ""
            shown = f["evidence"][:5]
            demo.say(f"   - {MISUSER}: {f['kind']} ({f['severity']}), {test}evidence: entries {shown}...")
    for kind, path in paths.items():
        demo.say(f"   {kind + ':':<13} {path}")
    return report


def chapter_witnesses(demo: Demo, store: Store, log: AuditLog, witnesses: list[LocalWitness]) -> Path:
    """The courts and a civic group each run a witness; the log publishes once both cosign.
    The cosigned checkpoint is kept outside the log (as a court clerk would): returns its file."""
    wait_ready(witnesses)
    result = Publisher(store, log, witness_config(), clock=demo.clock).round()
    with store.read() as conn:
        cp = latest_published(conn)
    if cp is None or not result.newly_published:
        said = "; ".join(f"{o.witness}: {o.status} {o.message}" for o in result.outcomes)
        raise RuntimeError(f"the witnesses did not cosign the demo's checkpoint ({said})")
    kept = demo.folder / "kept" / f"checkpoint-{cp.size}.txt"
    kept.parent.mkdir(exist_ok=True)
    kept.write_text(cp.note, encoding="utf-8")
    public = demo.folder / "public"  # the public keys: all an outside checker needs
    public.mkdir(exist_ok=True)
    (public / "log.vkey").write_text(log.verifier_key + "\n", encoding="utf-8")
    for w in witnesses:
        (public / f"{w.short}.vkey").write_text(w.vkey + "\n", encoding="utf-8")
    cosigners = [
        w.name
        for w in witnesses
        if any(line.startswith(f"\u2014 {w.name} ") for line in cp.note.splitlines())
    ]
    demo.facts.update(
        witnesses=[w.name for w in witnesses],
        witness_pids=[w.proc.pid for w in witnesses if w.proc is not None],
        cosigned_size=cp.size,
        cosigned_by=cosigners,
        kept=str(kept),
    )
    demo.say(
        f"   Witnesses (each its own process on 127.0.0.1): {witnesses[0].name} (the courts) and "
        f"{witnesses[1].name} (a civic group); quorum {QUORUM}."
    )
    demo.say(
        f"   Checkpoint {cp.size:,} cosigned by {' and '.join(cosigners)}: published; "
        f"the court clerk keeps it in {kept}."
    )
    return kept


def chapter_evidence(
    demo: Demo, store: Store, log: AuditLog, report: dict[str, Any], witnesses: list[LocalWitness]
) -> None:
    """One finding's evidence as a bundle, checked with nothing but the public keys."""
    finding = next(
        f for f in report["findings"] if f.get("user") == MISUSER and f["kind"] == "origin_targeting"
    )
    first = sorted(finding["evidence"])[:5]
    path = demo.folder / "evidence" / f"{MISUSER}-origin_targeting.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(write_bundle(store, first, log.verifier_key), encoding="utf-8")
    checked = check_bundle(
        path.read_bytes(), log.verifier_key, witness_keys=[w.vkey for w in witnesses], quorum=QUORUM
    )  # pure: no store, only the bundle and the keys
    demo.facts.update(
        bundle=str(path), bundle_checked=[c.index for c in checked], bundle_size=checked[0].size
    )
    demo.say(
        f"   Offline evidence: {path.name}, {MISUSER}'s entries {first} -> all {len(checked)} prove against "
        f"checkpoint {checked[0].size:,}, with its cosignatures, from the public keys alone:"
    )
    pub = demo.folder / "public"
    witness_args = " ".join(f'--witness "$(cat {pub / w.short}.vkey)"' for w in witnesses)
    demo.say(f'     pars audit check-bundle {path} --key "$(cat {pub}/log.vkey)" {witness_args}')


def chapter_cut(demo: Demo, store: Store, witnesses: list[LocalWitness], kept: Path) -> None:
    """An insider holding the database and the log key cuts the tail: ICE's termination order
    and everything after it. Verify alone passes; the witnesses, a kept checkpoint and the
    console do not."""
    k = int(demo.facts["termination_logged_index"])
    removed = cut_tail(store, k)
    insider = AuditLog.open(demo.key_dir, clock=demo.clock)  # the log's own key, re-signing
    with store.write() as conn:
        insider.checkpoint_head(conn, force=True)
    alone = verify_log(store, key_dir=demo.key_dir)
    demo.say(
        f"8. Insider: holding the database and the log key, the custodian cuts the log at index {k:,} "
        f"(ICE's termination order and the {removed:,} entries after it), rebuilds the tiles and re-signs. "
        f"pars audit verify -> {'log verified' if alone.ok else 'fails'}: {alone.size:,} entries."
    )
    with _quiet("pars.publish"):  # the demo prints the refusals itself, once
        result = Publisher(store, insider, witness_config(), clock=demo.clock).round()
    refusals = {o.witness: o.message for o in result.outcomes if o.status == "refused"}
    for o in result.outcomes:
        demo.say(f"   Next publishing round: {o.witness} {o.status}: {o.message}")
    keys = [w.vkey for w in witnesses]
    kept_cp = kept_checkpoint(kept.read_text(encoding="utf-8"), insider.verifier_key, keys, QUORUM)
    held = verify_log(store, key_dir=demo.key_dir, kept=[kept_cp])
    p = held.problem
    named = "extends it" if p is None else f"log does not verify at index {p.index} ({p.kind}): {p.message}"
    demo.say(f"   pars audit verify --checkpoint {kept.relative_to(demo.folder)} -> {named}")
    with store.read() as conn:
        now = status(conn)
    demo.facts.update(
        cut_index=k,
        cut_removed=removed,
        verified_after_cut=alone.ok,
        refusals=refusals,
        kept_named=None if p is None else {"kind": p.kind, "index": p.index},
        alarm=now["alarm"],
    )
    if now["alarm"]:
        demo.say(
            "   Console: the red ALARM banner on every page (pars demo --serve); pars audit status exits 3:"
        )
    else:
        demo.say("   Console: no alarm.")
    for a in now["alarms"]:
        demo.say(f"     witness {a['witness']} refuses since {a['since']}")


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def chapter_replay(demo: Demo, store: Store) -> None:
    doc = parse_document(_document("ice-2017-narrow.yaml"))
    with store.read() as conn:
        current = serving_version(conn, "ice-2017", demo.clock.now())
    draft = AgreementVersion(doc.id, 0, doc.version_hash(), doc, True, terminated_at=current.terminated_at)
    with open_log(store) as view:
        found = view.entries(agreement_id="ice-2017", kind="access")
        report = replay(draft, logged_requests(stream_with_texts(view.conn, found)))
    data = report.to_dict()
    demo.facts.update(replay_changed=data["changed"], replay_total=data["replayed"])
    demo.say(
        f"7. Replay: under a narrower ICE draft (felonies only, no dob filter), {data['changed']:,} of "
        f"{data['replayed']:,} past ICE decisions would change ({data['allow_to_deny']:,} allow -> deny)."
    )


def run_demo(demo: Demo) -> dict[str, Any]:
    began = time.perf_counter()
    demo.folder.mkdir(parents=True, exist_ok=True)
    store = Store(demo.store_url)
    try:
        upgrade(store)
        init_log(store, demo.key_dir)
        log = AuditLog.open(demo.key_dir, clock=demo.clock)
        gate = Gate(store, log, demo.clock)
        demo.say(f"Store: {demo.folder / 'pars.db'} (SQLite, embedded); keys in {demo.key_dir}")
        # The witnesses start now, in their own processes, and are ready by chapter 5.
        with local_witnesses(demo.folder / "witnesses", log.verifier_key, log.keys.name) as witnesses:
            chapter_records(demo, store)
            signers = chapter_parties(demo, store, log)
            chapter_agreements(demo, store, log, signers)
            order = (TERMINATION_ORDERED, lambda: terminate_ice(demo, store, log))
            principals = chapter_activity(demo, store, gate, [order])
            chapter_termination(demo, gate, principals)
            chapter_verify(demo, store, log)
            with configured(witnesses, QUORUM):
                kept = chapter_witnesses(demo, store, log, witnesses)
                report = chapter_oversight(demo, store, log)
                chapter_evidence(demo, store, log, report, witnesses)
                chapter_replay(demo, store)
                chapter_cut(demo, store, witnesses, kept)
        demo.facts["seconds"] = round(time.perf_counter() - began, 1)
        demo.say(f"The story took {demo.facts['seconds']:.0f}s.")
    finally:
        store.dispose()
    return demo.facts
