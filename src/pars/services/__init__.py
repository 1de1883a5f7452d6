"""The services web and console receive: narrow objects over the store, never the store.

    svc = open_services(store, log, clock, notifier, feed_poll)   # create_app does this
    svc.gate.search(...)                   # records: only through the gate
    svc.audit.inclusion_proof(3, 10)       # log reads
    svc.bookings.ingest(lines)             # bookings in
    svc.agreements.terminate(...)          # agreement administration, audited
    svc.oversight.report()                 # the oversight and transparency reports
    svc.sessions.open(token_id)            # console sessions

Rule: ``pars.web`` and ``pars.console`` hold a ``Services``, never a ``Store``, a
connection or SQL (the import-linter contract ``web-services``). Each service
opens its own transactions; none hands a connection out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pars.audit import AuditLog
from pars.clock import Clock
from pars.feed import Notifier
from pars.gate import Gate
from pars.services.admin import AgreementAdmin, Bookings
from pars.services.logreads import AuditReads, OversightReports
from pars.services.sessions import ConsoleSessions
from pars.store.db import Store


@dataclass(frozen=True)
class Services:
    """What every route and console page may use (``request.app.state.pars``)."""

    clock: Clock
    gate: Gate
    notifier: Notifier
    feed_poll: float
    audit: AuditReads
    oversight: OversightReports
    agreements: AgreementAdmin
    bookings: Bookings
    sessions: ConsoleSessions


def open_services(
    store: Store, log: AuditLog, clock: Clock, notifier: Notifier, feed_poll: float
) -> Services:
    """The app's services over one store and audit log."""
    return Services(
        clock=clock,
        gate=Gate(store, log, clock),
        notifier=notifier,
        feed_poll=feed_poll,
        audit=AuditReads(store, log),
        oversight=OversightReports(store, log, clock),
        agreements=AgreementAdmin(store, log, clock),
        bookings=Bookings(store, clock),
        sessions=ConsoleSessions(store, clock),
    )


__all__ = ["Services", "Store", "open_services"]
