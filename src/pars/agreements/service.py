"""Agreements in the store: apply, approve, terminate, load, serve.

Every change runs in one write transaction together with its admin audit event,
recorded through ``record_admin_event(conn, event)`` (required; the CLI, the web
app and the console wire it to ``pars.audit``): if the event cannot be recorded,
the change does not happen. There is no default recorder: no code path changes
an agreement without its entry.

An approval is a party's signed note (CONTRACT 9.1, ``approval_note``): it counts
only if it verifies against a key registered for that party and names this log,
this agreement and a version that lists the party. Nothing else approves.

Rule: versions, approvals and terminations are only inserted, never updated or
deleted; every clock read goes through the ``Clock`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from pars.agreements.approval_note import (
    RULE_AGREEMENT,
    RULE_DUPLICATE,
    RULE_OF,
    RULE_ORIGIN,
    RULE_UNREGISTERED,
    RULE_VERSION,
    ApprovalNote,
    ApprovalRefused,
    SignerKey,
    sign_approval,
    split_note,
    verify_approval,
)
from pars.agreements.decide import AgreementVersion
from pars.agreements.document import AgreementDocument, document_from_canonical, parse_document
from pars.agreements.history import AgreementHistory, Approval, Termination, VersionRecord
from pars.clock import Clock, to_utc_naive
from pars.errors import ConfigError, InvalidInput, NotFound, ParsError
from pars.store.db import Store
from pars.store.schema.agreements import (
    agreement_approvals,
    agreement_terminations,
    agreement_versions,
    agreements,
    party_keys,
)
from pars.store.schema.audit import audit_head

#: ``record_admin_event(conn, event)``: append one admin entry to the audit log in
#: the caller's write transaction. The event dict has the audit entry keys.
AdminEventRecorder = Callable[[Connection, dict[str, Any]], None]


class Conflict(ParsError):
    code = "conflict"


class DuplicateApproval(Conflict):
    rule = RULE_DUPLICATE


def admin_event(
    *,
    at: datetime,
    user: str,
    action: str,
    detail: str,
    version: AgreementVersion | VersionRecord | None = None,
    agreement_id: str | None = None,
    partner: str | None = None,
    justification: str | None = None,
    route: str = "cli",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit entry of kind ``admin`` (same keys as a partner request's entry).

    ``detail`` is the summary; ``extra`` adds keys to the entry's ``detail``
    object (an approval's signed note, a replaced key...).
    """
    return {
        "v": 1,
        "time": at.isoformat(),
        "kind": "admin",
        "agreement_id": agreement_id,
        "agreement_version": None if version is None else version.hash,
        "agency": partner,
        "user": user,
        "action": action,
        "route": route,
        "purpose": None,
        "case_number": None,
        "justification": justification,
        "warrant": None,
        "filters": {},
        "sort": [],
        "limit": None,
        "decision": "allow",
        "rule": None,
        "arrest_ids": [],
        "person_ids": [],
        "fields": [],
        "status": 200,
        "detail": {"summary": detail, **(extra or {})},
    }


def _aware(naive_utc: datetime) -> datetime:
    return naive_utc.replace(tzinfo=UTC)


def log_origin(conn: Connection) -> str | None:
    """The audit log's origin (the second line of every approval note), if the log exists."""
    return conn.execute(select(audit_head.c.origin)).scalar()


def _registered(conn: Connection, parties: set[str]) -> dict[str, list[tuple[str, datetime]]]:
    """Each party's registered verifier keys with when they were added."""
    out: dict[str, list[tuple[str, datetime]]] = {}
    if parties:
        rows = conn.execute(
            select(party_keys.c.party, party_keys.c.verifier_key, party_keys.c.added_utc)
            .where(party_keys.c.party.in_(sorted(parties)))
            .order_by(party_keys.c.id)
        )
        for row in rows:
            out.setdefault(row.party, []).append((row.verifier_key, _aware(row.added_utc)))
    return out


def _counts(
    row: Any,
    origin: str | None,
    agreement_id: str,
    hashes: dict[int, str],
    keys: dict[str, list[tuple[str, datetime]]],
) -> bool:
    """Whether a stored approval row counts: a note, by a key registered for its party
    before it was recorded, verifying, naming this log, agreement, version and party."""
    if row.note is None or row.verifier_key is None or origin is None:
        return False
    at = _aware(row.at_utc)
    if not any(k == row.verifier_key and added <= at for k, added in keys.get(row.role, ())):
        return False
    try:
        said = verify_approval(row.note, row.verifier_key)
    except ParsError:
        return False
    return said == ApprovalNote(origin, agreement_id, hashes.get(row.version_number, ""), row.role)


def load_history(conn: Connection, agreement_id: str) -> AgreementHistory:
    """Everything stored about one agreement; ``NotFound`` if there is no such id.

    Each approval row is checked again here (its note, its key, what it names):
    a row written into the store by other means is shown but never counts.
    """
    head = conn.execute(select(agreements.c.partner).where(agreements.c.agreement_id == agreement_id)).first()
    if head is None:
        raise NotFound(f"agreement {agreement_id!r}: no such agreement")
    hashes = {
        int(r.number): str(r.hash)
        for r in conn.execute(
            select(agreement_versions.c.number, agreement_versions.c.hash).where(
                agreement_versions.c.agreement_id == agreement_id
            )
        )
    }
    rows = conn.execute(
        select(agreement_approvals)
        .where(agreement_approvals.c.agreement_id == agreement_id)
        .order_by(agreement_approvals.c.at_utc, agreement_approvals.c.role)
    ).all()
    origin = log_origin(conn) if rows else None
    keys = _registered(conn, {r.role for r in rows})
    approvals: dict[int, list[Approval]] = {}
    for row in rows:
        approvals.setdefault(row.version_number, []).append(
            Approval(
                row.role,
                _aware(row.at_utc),
                row.by,
                note=row.note,
                verifier_key=row.verifier_key,
                valid=_counts(row, origin, agreement_id, hashes, keys),
            )
        )
    versions = tuple(
        VersionRecord(
            number=row.number,
            hash=row.hash,
            document=document_from_canonical(row.document),
            applied_at=_aware(row.applied_utc),
            applied_by=row.applied_by,
            approvals=tuple(approvals.get(row.number, ())),
        )
        for row in conn.execute(
            select(agreement_versions)
            .where(agreement_versions.c.agreement_id == agreement_id)
            .order_by(agreement_versions.c.number)
        )
    )
    terminations = tuple(
        Termination(
            effective_at=datetime.fromisoformat(row.effective_at),
            reason=row.reason,
            forced=bool(row.forced),
            recorded_at=_aware(row.recorded_utc),
            by=row.by,
            after_version=row.after_version,
        )
        for row in conn.execute(
            select(agreement_terminations)
            .where(agreement_terminations.c.agreement_id == agreement_id)
            .order_by(agreement_terminations.c.id)
        )
    )
    return AgreementHistory(agreement_id, head.partner, versions, terminations)


def serving_version(conn: Connection, agreement_id: str, at: datetime) -> AgreementVersion:
    """The version that decides requests to ``agreement_id`` at instant ``at`` (the gate's call)."""
    return load_history(conn, agreement_id).serving(at)


def agreement_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(agreements.c.agreement_id).order_by(agreements.c.agreement_id)).scalars())


@dataclass(frozen=True)
class Applied:
    agreement_id: str
    number: int
    hash: str
    created: bool


def apply_document(
    store: Store,
    clock: Clock,
    source: str | AgreementDocument,
    *,
    by: str,
    record_admin_event: AdminEventRecorder,
) -> Applied:
    """Create an agreement or amend it with a new version; identical text is a no-op."""
    doc = parse_document(source) if isinstance(source, str) else source
    digest = doc.version_hash()
    now = clock.now()
    try:
        with store.write() as conn:
            head = conn.execute(
                select(agreements.c.partner).where(agreements.c.agreement_id == doc.id)
            ).first()
            number = 1
            if head is None:
                conn.execute(
                    insert(agreements).values(
                        agreement_id=doc.id,
                        partner=doc.partner,
                        created_at=now.isoformat(),
                        created_utc=to_utc_naive(now),
                    )
                )
            else:
                if head.partner != doc.partner:
                    raise InvalidInput(
                        f"partner: agreement {doc.id} is with {head.partner}; "
                        "a different partner needs a new agreement id"
                    )
                history = load_history(conn, doc.id)
                if history.latest.hash == digest:
                    return Applied(doc.id, history.latest.number, digest, created=False)
                for old in history.versions:
                    if old.hash == digest:
                        raise InvalidInput(
                            f"document: identical to version {old.number} of {doc.id}; to return "
                            "to it, apply it with a change (e.g. to its title) so it is a new version"
                        )
                number = history.latest.number + 1
            conn.execute(
                insert(agreement_versions).values(
                    agreement_id=doc.id,
                    number=number,
                    hash=digest,
                    document=doc.canonical().decode(),
                    applied_at=now.isoformat(),
                    applied_utc=to_utc_naive(now),
                    applied_by=by,
                )
            )
            record = VersionRecord(number, digest, doc, now, by)
            record_admin_event(
                conn,
                admin_event(
                    at=now,
                    version=record,
                    agreement_id=doc.id,
                    partner=doc.partner,
                    user=by,
                    action="apply",
                    detail=f"version {number} applied",
                ),
            )
    except IntegrityError:
        raise Conflict(f"agreement {doc.id}: changed by someone else meanwhile; apply again") from None
    return Applied(doc.id, number, digest, created=True)


@dataclass(frozen=True)
class Approved:
    agreement_id: str
    number: int
    hash: str
    role: str
    key_id: str
    activated: bool
    approvers: frozenset[str]
    note: str


def approval_note_for(
    conn: Connection, agreement_id: str, signer: SignerKey, version: str | int | None = None
) -> str:
    """``signer``'s signed approval of a version (default: the latest); nothing stored."""
    origin = log_origin(conn)
    if origin is None:
        raise ConfigError("the audit log has no origin yet: run `pars init` first")
    history = load_history(conn, agreement_id)
    v = history.version(version)
    return sign_approval(origin, agreement_id, v.hash, signer)


def check_approval(
    conn: Connection, agreement_id: str, note: str, version: str | int | None = None
) -> tuple[AgreementHistory, VersionRecord, ApprovalNote, str]:
    """The history, version, claim and party key of an approval ``note``, or the rule refusing it.

    ``version`` (optional) is the version the caller means to approve: a note for
    another one is refused.
    """
    signed = split_note(note)  # text, one signature, key name = party
    said = signed.approval
    origin = log_origin(conn)
    if origin is None:
        raise ConfigError("the audit log has no origin yet: run `pars init` first")
    if said.origin != origin:
        raise ApprovalRefused(
            RULE_ORIGIN, f"note: it approves in log {said.origin!r}; this log is {origin!r}"
        )
    if said.agreement_id != agreement_id:
        raise ApprovalRefused(
            RULE_AGREEMENT, f"note: it approves agreement {said.agreement_id!r}, not {agreement_id!r}"
        )
    history = load_history(conn, agreement_id)
    matching = [v for v in history.versions if v.hash == said.version_hash]
    if not matching:
        raise ApprovalRefused(
            RULE_VERSION, f"note: version {said.version_hash[:12]}... is no version of {agreement_id}"
        )
    v = matching[0]
    if version is not None and history.version(version).number != v.number:
        raise ApprovalRefused(
            RULE_VERSION,
            f"note: it approves version {v.number} of {agreement_id}, not version "
            f"{history.version(version).number}",
        )
    if said.party not in v.document.approvals.of:
        raise ApprovalRefused(
            RULE_OF,
            f"note: {said.party!r} is not an approver of {agreement_id} version {v.number} "
            f"(approvers: {', '.join(v.document.approvals.of)})",
        )
    key = conn.execute(
        select(party_keys.c.verifier_key)
        .where(party_keys.c.party == said.party)
        .order_by(party_keys.c.id.desc())
        .limit(1)
    ).scalar()
    if key is None:
        raise ApprovalRefused(
            RULE_UNREGISTERED,
            f"note: {said.party} has no registered key, so it cannot approve "
            f"(register one with pars parties add {said.party} --key ...)",
        )
    verify_approval(note, key)  # approvals.signature
    return history, v, said, key


def approve(
    store: Store,
    clock: Clock,
    agreement_id: str,
    note: str,
    *,
    by: str,
    record_admin_event: AdminEventRecorder,
    version: str | int | None = None,
) -> Approved:
    """Record a party's signed approval ``note``; refused (``ApprovalRefused``, naming
    the rule) unless it verifies and names this log, agreement and an open version.

    The note goes verbatim into the approval's audit entry (``detail.note``), so
    anyone can check who approved which version from the log alone.
    """
    now = clock.now()
    try:
        return _approve(store, now, agreement_id, note, by, record_admin_event, version)
    except IntegrityError:
        raise DuplicateApproval(f"note: {agreement_id} was approved by this party meanwhile") from None


def _approve(
    store: Store,
    now: datetime,
    agreement_id: str,
    note: str,
    by: str,
    record_admin_event: AdminEventRecorder,
    version: str | int | None,
) -> Approved:
    with store.write() as conn:
        history, v, said, key = check_approval(conn, agreement_id, note, version)
        party = said.party
        existing = next((a for a in v.approvals if a.role == party), None)
        if existing is not None:
            raise DuplicateApproval(
                f"note: {party} already approved {agreement_id} version {v.number} "
                f"(at {existing.at.isoformat()})"
            )
        was = history.is_approved(v.number)
        conn.execute(
            insert(agreement_approvals).values(
                agreement_id=agreement_id,
                version_number=v.number,
                role=party,
                at=now.isoformat(),
                at_utc=to_utc_naive(now),
                by=by,
                note=note,
                verifier_key=key,
            )
        )
        after = load_history(conn, agreement_id)
        if party not in after.approvers(v.number):
            raise ApprovalRefused(
                RULE_VERSION, f"note: {party}'s approval could not be counted; nothing recorded"
            )
        activated = not was and after.is_approved(v.number)
        kid = key.split("+", 2)[1]
        common: dict[str, Any] = {
            "at": now,
            "version": v,
            "agreement_id": agreement_id,
            "partner": history.partner,
            "user": by,
        }
        record_admin_event(
            conn,
            admin_event(
                **common,
                action="approve",
                detail=f"{party} approved version {v.number} (key {kid})",
                extra={"party": party, "verifier_key": key, "note": note},
            ),
        )
        if activated:
            record_admin_event(
                conn,
                admin_event(
                    **common,
                    action="activate",
                    detail=f"version {v.number} has its approvals; serves from {now.isoformat()}",
                ),
            )
    return Approved(agreement_id, v.number, v.hash, party, kid, activated, after.approvers(v.number), note)


def terminate(
    store: Store,
    clock: Clock,
    agreement_id: str,
    effective_at: datetime,
    reason: str,
    *,
    by: str,
    force_past: bool = False,
    record_admin_event: AdminEventRecorder,
) -> Termination:
    """End an agreement (every version) after second ``effective_at``; history stays.

    ``effective_at`` is the last second served. It may not be before now unless
    ``force_past`` (recorded as ``forced``); it can only move the end earlier.
    """
    if effective_at.tzinfo is None:
        raise InvalidInput("effective_at: not an ISO 8601 time with an offset")
    if not reason.strip():
        raise InvalidInput("reason: required")
    now = clock.now()
    effective_at = effective_at.replace(microsecond=0)
    past = effective_at < now.replace(microsecond=0)
    if past and not force_past:
        raise InvalidInput(
            f"effective_at: {effective_at.isoformat()} is in the past (now {now.isoformat()}); "
            "a termination effective in the past needs --force-past"
        )
    with store.write() as conn:
        history = load_history(conn, agreement_id)
        current = history.terminated_at(history.latest.number)
        if current is not None and current <= effective_at:
            raise InvalidInput(
                f"effective_at: {agreement_id} is already terminated; its last second served "
                f"is {current.isoformat()}"
            )
        termination = Termination(effective_at, reason.strip(), past, now, by, history.latest.number)
        conn.execute(
            insert(agreement_terminations).values(
                agreement_id=agreement_id,
                effective_at=effective_at.isoformat(),
                effective_utc=to_utc_naive(effective_at),
                reason=termination.reason,
                forced=past,
                recorded_at=now.isoformat(),
                recorded_utc=to_utc_naive(now),
                by=by,
                after_version=termination.after_version,
            )
        )
        record_admin_event(
            conn,
            admin_event(
                at=now,
                version=history.latest,
                agreement_id=agreement_id,
                partner=history.partner,
                user=by,
                action="terminate",
                justification=termination.reason,
                detail=f"last second served {effective_at.isoformat()}"
                + (" (effective in the past, forced)" if past else ""),
            ),
        )
    return termination
