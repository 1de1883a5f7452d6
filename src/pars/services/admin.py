"""Agreement administration and bookings in, for the custodian routes and console pages.

Every agreement change is recorded in the audit log in its own transaction, with the
route it came from (``pars.gate.admin_event_recorder``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pars.agreements.document import AgreementDocument
from pars.agreements.history import Termination
from pars.agreements.service import Applied, Approved
from pars.audit import AuditLog
from pars.clock import Clock
from pars.gate import admin_event_recorder
from pars.store.db import Store


@dataclass(frozen=True)
class AgreementAdmin:
    """Create, amend, approve and terminate agreements; list them (blocking calls)."""

    store: Store
    log: AuditLog
    clock: Clock

    def apply(self, doc: AgreementDocument, *, by: str, route: str) -> Applied:
        from pars.agreements.service import apply_document

        recorder = admin_event_recorder(self.log, route=route)
        return apply_document(self.store, self.clock, doc, by=by, record_admin_event=recorder)

    def approve(self, agreement_id: str, note: str, *, by: str, route: str) -> Approved:
        from pars.agreements.service import approve

        recorder = admin_event_recorder(self.log, route=route)
        return approve(self.store, self.clock, agreement_id, note, by=by, record_admin_event=recorder)

    def terminate(
        self, agreement_id: str, at: datetime, reason: str, *, by: str, force_past: bool, route: str
    ) -> Termination:
        from pars.agreements.service import terminate

        recorder = admin_event_recorder(self.log, route=route)
        return terminate(
            self.store,
            self.clock,
            agreement_id,
            at,
            reason,
            by=by,
            force_past=force_past,
            record_admin_event=recorder,
        )

    def ids(self) -> list[str]:
        from pars.agreements.service import agreement_ids

        with self.store.read() as conn:
            return agreement_ids(conn)

    def described(self, now: datetime) -> tuple[list[dict[str, Any]], str | None]:
        """Every agreement's history as the console lists it, and the log's origin."""
        from pars.agreements.service import agreement_ids, load_history, log_origin

        with self.store.read() as conn:
            return [load_history(conn, aid).describe(now) for aid in agreement_ids(conn)], log_origin(conn)


@dataclass(frozen=True)
class Bookings:
    """Booking events in (``pars.store.ingest``)."""

    store: Store
    clock: Clock

    def ingest(self, lines: Iterable[tuple[int, bytes | str]]) -> dict[str, Any]:
        """Validate and apply numbered JSON lines: the body of ``POST /v1/bookings``."""
        from pars.store.ingest import LineResult, ingest_lines

        results: list[LineResult] = []
        totals = ingest_lines(self.store, lines, on_batch=results.extend, clock=self.clock)
        return {
            "accepted": totals.accepted,
            "rejected": totals.rejected,
            "duplicates": totals.duplicates,
            "results": [r.to_json() for r in results],
        }
