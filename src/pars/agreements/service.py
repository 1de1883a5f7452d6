"""Agreements in the store: apply, approve, terminate, load, serve.

Every change runs in one write transaction together with its admin audit event,
recorded through ``record_admin_event(conn, event)`` (injected; the CLI wires it
to ``pars.audit``): if the event cannot be recorded, the change does not happen.

Rule: versions, approvals and terminations are only inserted, never updated or
deleted; every clock read goes through the ``Clock`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from pars.agreements.decide import AgreementVersion
from pars.agreements.document import AgreementDocument, document_from_canonical, parse_document
from pars.agreements.history import AgreementHistory, Approval, Termination, VersionRecord
from pars.clock import Clock, to_utc_naive
from pars.errors import InvalidInput, NotFound, ParsError
from pars.store.db import Store
from pars.store.schema.agreements import (
    agreement_approvals,
    agreement_terminations,
    agreement_versions,
    agreements,
)

#: ``record_admin_event(conn, event)``: append one admin entry to the audit log in
#: the caller's write transaction. The event dict has the audit entry keys.
AdminEventRecorder = Callable[[Connection, dict[str, Any]], None]


def no_admin_log(conn: Connection, event: dict[str, Any]) -> None:
    """The default until the CLI wires ``pars.audit``: record nothing extra.

    The agreement tables themselves keep every approval and termination.
    """


class Conflict(ParsError):
    code = "conflict"


def admin_event(
    *,
    at: datetime,
    version: AgreementVersion | VersionRecord,
    agreement_id: str,
    partner: str,
    user: str,
    action: str,
    detail: str,
    justification: str | None = None,
    route: str = "cli",
) -> dict[str, Any]:
    """An audit entry of kind ``admin`` (same keys as a partner request's entry)."""
    return {
        "v": 1,
        "time": at.isoformat(),
        "kind": "admin",
        "agreement_id": agreement_id,
        "agreement_version": version.hash,
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
        "detail": {"summary": detail},
    }


def _aware(naive_utc: datetime) -> datetime:
    return naive_utc.replace(tzinfo=UTC)


def load_history(conn: Connection, agreement_id: str) -> AgreementHistory:
    """Everything stored about one agreement; ``NotFound`` if there is no such id."""
    head = conn.execute(select(agreements.c.partner).where(agreements.c.agreement_id == agreement_id)).first()
    if head is None:
        raise NotFound(f"agreement {agreement_id!r}: no such agreement")
    approvals: dict[int, list[Approval]] = {}
    for row in conn.execute(
        select(agreement_approvals)
        .where(agreement_approvals.c.agreement_id == agreement_id)
        .order_by(agreement_approvals.c.at_utc, agreement_approvals.c.role)
    ):
        approvals.setdefault(row.version_number, []).append(Approval(row.role, _aware(row.at_utc), row.by))
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
    record_admin_event: AdminEventRecorder = no_admin_log,
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
    recorded: bool
    activated: bool
    approvers: frozenset[str]


def approve(
    store: Store,
    clock: Clock,
    agreement_id: str,
    role: str,
    version: str | int | None = None,
    *,
    by: str,
    record_admin_event: AdminEventRecorder = no_admin_log,
) -> Approved:
    """Record ``role``'s approval of a version (default: the latest); idempotent."""
    now = clock.now()
    with store.write() as conn:
        history = load_history(conn, agreement_id)
        v = history.version(version)
        if role not in v.document.approvals.of:
            raise InvalidInput(
                f"as: {role!r} is not an approver of {agreement_id} version {v.number} "
                f"(approvers: {', '.join(v.document.approvals.of)})"
            )
        if any(a.role == role for a in v.approvals):
            return Approved(agreement_id, v.number, v.hash, role, False, False, history.approvers(v.number))
        was = history.is_approved(v.number)
        conn.execute(
            insert(agreement_approvals).values(
                agreement_id=agreement_id,
                version_number=v.number,
                role=role,
                at=now.isoformat(),
                at_utc=to_utc_naive(now),
                by=by,
            )
        )
        after = load_history(conn, agreement_id)
        activated = not was and after.is_approved(v.number)
        for action, detail in (
            ("approve", f"{role} approved version {v.number}"),
            ("activate", f"version {v.number} has its approvals; serves from {now.isoformat()}"),
        ):
            if action == "activate" and not activated:
                continue
            record_admin_event(
                conn,
                admin_event(
                    at=now,
                    version=v,
                    agreement_id=agreement_id,
                    partner=history.partner,
                    user=by,
                    action=action,
                    detail=detail,
                ),
            )
    return Approved(agreement_id, v.number, v.hash, role, True, activated, after.approvers(v.number))


def terminate(
    store: Store,
    clock: Clock,
    agreement_id: str,
    effective_at: datetime,
    reason: str,
    *,
    by: str,
    force_past: bool = False,
    record_admin_event: AdminEventRecorder = no_admin_log,
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
