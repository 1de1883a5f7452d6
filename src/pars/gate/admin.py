"""Admin events (apply, approve, activate, terminate) as audit entries.

The agreements room records each change through ``record_admin_event(conn,
event)`` inside its own write transaction; this adapter appends the event to the
audit log in that same transaction, so a change whose entry cannot be written
does not happen.

Rule: never swallow an append error here; it must roll the change back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from pars.agreements.service import AdminEventRecorder
from pars.audit import AuditLog


def admin_event_recorder(audit_log: AuditLog, *, route: str | None = None) -> AdminEventRecorder:
    """``record_admin_event`` for ``pars.agreements.service``, appending to ``audit_log``.

    ``route`` names where the change came from (e.g. ``PUT /v1/agreements/{id}``);
    by default the event keeps the service's own (``cli``).
    """

    def record(conn: Connection, event: dict[str, Any]) -> None:
        audit_log.record(conn, event if route is None else {**event, "route": route})

    return record
