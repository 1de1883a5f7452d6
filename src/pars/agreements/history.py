"""An agreement's stored history as values: versions, approvals, terminations.

Answers the lifecycle questions without I/O: is a version approved (as of an
instant), which termination caps it, which version serves at an instant.

Rules a reader must not break:
- The serving version is the newest version fully approved by then; a newer
  unapproved amendment never interrupts the older approved one.
- A termination caps every version the agreement had when it was recorded, and
  every later version too, unless that later version is a renewal whose term
  starts after the termination. An amendment can never silently reopen it.
- A version whose ``approvals`` clause differs from its predecessor's needs both
  thresholds met, so an amendment cannot lower its own bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pars.agreements.decide import AgreementVersion
from pars.agreements.document import AgreementDocument
from pars.errors import InvalidInput


@dataclass(frozen=True)
class Approval:
    """One party's approval of a version: its signed note and the key it verified against.

    ``valid`` is False for a stored row whose note is missing or does not verify
    against a key registered for the party: such a row is shown, never counted.
    """

    role: str
    at: datetime
    by: str
    note: str | None = None
    verifier_key: str | None = None
    valid: bool = True

    @property
    def key_id(self) -> str | None:
        return self.verifier_key.split("+", 2)[1] if self.verifier_key else None


@dataclass(frozen=True)
class VersionRecord:
    number: int
    hash: str
    document: AgreementDocument
    applied_at: datetime
    applied_by: str
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class Termination:
    effective_at: datetime
    reason: str
    forced: bool
    recorded_at: datetime
    by: str
    after_version: int

    def applies_to(self, version: VersionRecord) -> bool:
        renewal = version.number > self.after_version and version.document.term.start > self.effective_at
        return not renewal


@dataclass(frozen=True)
class AgreementHistory:
    agreement_id: str
    partner: str
    versions: tuple[VersionRecord, ...]
    terminations: tuple[Termination, ...] = field(default=())

    @property
    def latest(self) -> VersionRecord:
        return self.versions[-1]

    def version(self, ref: str | int | None = None) -> VersionRecord:
        """``None``: the latest; an int or short decimal: a number; else a hash prefix."""
        if ref is None:
            return self.latest
        text = str(ref).strip().lower()
        if isinstance(ref, int) or (text.isdecimal() and len(text) < 4):
            for v in self.versions:
                if v.number == int(text):
                    return v
            raise InvalidInput(f"version: {self.agreement_id} has no version {text}")
        found = [v for v in self.versions if v.hash.startswith(text)]
        if len(found) == 1 and len(text) >= 4:
            return found[0]
        if len(found) > 1 and len(text) >= 4:
            raise InvalidInput(f"version: {text!r} matches several versions; give more digits")
        raise InvalidInput(
            f"version: {text!r} is neither a version number nor a hash prefix "
            f"(4+ hex digits) of {self.agreement_id}"
        )

    def _meets(self, doc: AgreementDocument, roles: set[str]) -> bool:
        return len(roles & set(doc.approvals.of)) >= doc.approvals.required

    def approvers(self, number: int, at: datetime | None = None) -> frozenset[str]:
        v = self.versions[number - 1]
        return frozenset(a.role for a in v.approvals if a.valid and (at is None or a.at <= at))

    def is_approved(self, number: int, at: datetime | None = None) -> bool:
        """Did version ``number`` have the approvals it needs (by ``at``, if given)?"""
        v = self.versions[number - 1]
        roles = set(self.approvers(number, at))
        if not self._meets(v.document, roles):
            return False
        if number > 1:
            prev = self.versions[number - 2].document
            if prev.approvals != v.document.approvals and not self._meets(prev, roles):
                return False
        return True

    def terminated_at(self, number: int) -> datetime | None:
        """The earliest termination that caps version ``number``, if any."""
        v = self.versions[number - 1]
        caps = [t.effective_at for t in self.terminations if t.applies_to(v)]
        return min(caps) if caps else None

    def as_version(
        self, number: int, at: datetime | None = None, *, assume_approved: bool = False
    ) -> AgreementVersion:
        """The decide() input for version ``number`` as of instant ``at``."""
        v = self.versions[number - 1]
        return AgreementVersion(
            agreement_id=self.agreement_id,
            number=v.number,
            hash=v.hash,
            document=v.document,
            approved=assume_approved or self.is_approved(number, at),
            approvals=self.approvers(number, at),
            terminated_at=self.terminated_at(number),
        )

    def serving(self, at: datetime) -> AgreementVersion:
        """The version that answers requests at ``at``: the newest approved by then.

        With none approved, the latest (unapproved) version, so decide() denies
        with rule ``approvals`` and the audit entry still names a version.
        """
        for v in reversed(self.versions):
            if v.applied_at <= at and self.is_approved(v.number, at):
                return self.as_version(v.number, at)
        return self.as_version(self.latest.number, at)

    def status(self, at: datetime) -> str:
        """``pending approval``, ``not started``, ``active``, ``expired`` or ``terminated``."""
        v = self.serving(at)
        if not v.approved:
            return "pending approval"
        if at.replace(microsecond=0) < v.document.term.start:
            return "not started"
        if at.replace(microsecond=0) > v.ends_at:
            return "terminated" if v.ends_at < v.document.term.end else "expired"
        return "active"

    def describe(self, at: datetime) -> dict[str, Any]:
        """``pars agreements show --json``: versions, term, approvals, terminations, status."""
        serving = self.serving(at)
        return {
            "id": self.agreement_id,
            "partner": self.partner,
            "title": self.latest.document.title,
            "status": self.status(at),
            "serving_version": {"number": serving.number, "hash": serving.hash} if serving.approved else None,
            "term": self.latest.document.normalized()["term"],
            "last_second_served": serving.ends_at.isoformat(),
            "versions": [
                {
                    "number": v.number,
                    "hash": v.hash,
                    "applied_at": v.applied_at.isoformat(),
                    "applied_by": v.applied_by,
                    "term": v.document.normalized()["term"],
                    "approvals_required": {
                        "required": v.document.approvals.required,
                        "of": list(v.document.approvals.of),
                    },
                    "approvals": [
                        {
                            "role": a.role,
                            "party": a.role,
                            "at": a.at.isoformat(),
                            "by": a.by,
                            "key_id": a.key_id,
                            "verifier_key": a.verifier_key,
                            "note": a.note,
                            "valid": a.valid,
                        }
                        for a in v.approvals
                    ],
                    "approved": self.is_approved(v.number, at),
                }
                for v in self.versions
            ],
            "terminations": [
                {
                    "effective_at": t.effective_at.isoformat(),
                    "reason": t.reason,
                    "forced": t.forced,
                    "recorded_at": t.recorded_at.isoformat(),
                    "by": t.by,
                }
                for t in self.terminations
            ],
        }
