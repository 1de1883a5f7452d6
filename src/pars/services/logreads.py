"""Log reads for the web and the console, and the oversight reports: each method opens
its own transaction (or snapshot) and returns values, never a connection.

Rule: a read of entries for the console goes through ``pars.audit.open_log`` (bytes
checked against a signed checkpoint); nothing here reads ``audit_leaves`` columns as
facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from pars.audit import (
    AuditLog,
    Checkpoint,
    LogEntry,
    consistency_proof,
    get_entry,
    inclusion_proof,
    latest_checkpoint,
    log_size,
    open_log,
)
from pars.audit.publish import WitnessConfig
from pars.audit.tilepath import Tile
from pars.clock import Clock
from pars.errors import NotFound
from pars.store.db import Store


@dataclass(frozen=True)
class CheckedEntry:
    """An entry's stored bytes with its inclusion proof against the latest stored checkpoint."""

    entry: LogEntry
    checkpoint: Checkpoint
    proof: list[bytes]


@dataclass(frozen=True)
class AuditReads:
    """The audit log as the routes and pages read it (blocking calls)."""

    store: Store
    log: AuditLog

    @property
    def verifier_key(self) -> str:
        return self.log.verifier_key

    def head_checkpoint(self) -> Checkpoint | None:
        """A checkpoint at the head's size (stored, or signed now); None for an empty log."""
        with self.store.read() as conn:
            return self.log.head_checkpoint(conn)

    def checkpoint_head(self) -> None:
        """Put the head under a stored checkpoint, as a publisher round does."""
        with self.store.write() as conn:
            self.log.checkpoint_head(conn, force=True)

    def size(self) -> int:
        with self.store.read() as conn:
            return log_size(conn)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.store.read() as conn:
            return inclusion_proof(conn, index, size)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        with self.store.read() as conn:
            return consistency_proof(conn, old, new)

    def entry_with_texts(
        self, index: int, visible: Callable[[dict[str, Any]], None]
    ) -> tuple[int, dict[str, Any], dict[str, dict[str, str]]]:
        """``(index, entry, texts)``; ``visible`` raises for a reader who may not see it,
        before its texts are read."""
        from pars.audit.text_store import load_texts
        from pars.audit.texts import texts_json

        with self.store.read() as conn:
            found = get_entry(conn, index)
            doc = found.document()
            visible(doc)
            texts = load_texts(conn, [found.index]).get(found.index, {})
        return found.index, doc, texts_json(texts)

    def entry_proof(self, index: int, size: int | None) -> tuple[str, dict[str, Any]]:
        """The entry's C2SP tlog-proof against the published checkpoint of ``size``, and the entry."""
        from pars.audit.evidence import entry_proof
        from pars.audit.scan import snapshot

        with snapshot(self.store) as conn:
            return entry_proof(conn, index, self.verifier_key, size=size)

    # --- the public log (CONTRACT 9.3) ------------------------------------------------

    def latest_published(self, config: WitnessConfig) -> Checkpoint | None:
        from pars.audit.publish import latest_published

        with self.store.read() as conn:
            return latest_published(conn, config)

    def published_tile(self, tile: Tile, config: WitnessConfig) -> bytes:
        from pars.audit.publish import published_tile

        with self.store.read() as conn:
            return published_tile(conn, tile, config)

    def published_bundle(self, tile: Tile, config: WitnessConfig) -> bytes:
        from pars.audit.publish import published_bundle

        with self.store.read() as conn:
            return published_bundle(conn, tile, config)

    def publication(self, config: WitnessConfig) -> dict[str, Any]:
        """The log's size against the published size, and each witness's cosigned size and lag."""
        from pars.audit.publish import status

        with self.store.read() as conn:
            return status(conn, config)

    def alarms(self) -> list[str] | None:
        """Every witness refusal (CONTRACT 9.2); None when they cannot be read."""
        from pars.audit.publish import alarms

        try:
            with self.store.read() as conn:
                return [str(a) for a in alarms(conn)]
        except SQLAlchemyError:
            return None

    # --- checked entries, as the console shows them -----------------------------------

    def live_entries(self, limit: int, **where: Any) -> list[tuple[int, dict[str, Any]]]:
        """At most ``limit`` ``(index, entry)`` from checked bytes up to the newest stored
        checkpoint (the head gets one first: the console is live and does not wait for
        witnesses), filtered as ``LogView.entries(**where)``."""
        self.checkpoint_head()
        with open_log(self.store, self.verifier_key, choose=latest_checkpoint) as view:
            return list(islice(view.entries(**where), limit))

    def checked_entry(self, index: int) -> CheckedEntry:
        """The entry's stored bytes and its inclusion proof against the latest stored
        checkpoint; ``NotFound`` until a checkpoint covers it."""
        self.checkpoint_head()
        with open_log(self.store, self.verifier_key, choose=latest_checkpoint) as view:
            cp = view.checkpoint
            if cp is None or index >= cp.size:
                raise NotFound(f"entry {index} is not yet covered by a signed checkpoint; try again shortly")
            found = view.entry(index)
            proof = inclusion_proof(view.conn, index, cp.size)
        return CheckedEntry(found, cp, proof)

    def documents(self, indices: list[int]) -> list[dict[str, Any]]:
        """The checked entries at ``indices`` (up to the latest stored checkpoint)."""
        with open_log(self.store, self.verifier_key, choose=latest_checkpoint) as view:
            return [view.document(i) for i in indices]


@dataclass(frozen=True)
class OversightReports:
    """The oversight report (the log verified afresh) and the transparency report."""

    store: Store
    log: AuditLog
    clock: Clock

    def report(
        self, *, agreement_id: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, Any]:
        """CONTRACT section 6, over the head put under a stored checkpoint first."""
        from pars.oversight.report import build_report

        with self.store.write() as conn:  # as a publisher round does
            self.log.checkpoint_head(conn, force=True)
        return build_report(
            self.store,
            hmac_key=self.log.keys.hmac_key,
            verifier_key=self.log.verifier_key,
            now=self.clock.now(),
            agreement_id=agreement_id,
            start=start,
            end=end,
        )

    def report_html(self, report: dict[str, Any]) -> str:
        from pars.oversight.html import render_html  # matplotlib: only when asked

        return render_html(self.store, report)

    def transparency_html(self) -> str:
        from pars.oversight.transparency import build_transparency, render_transparency

        return render_transparency(build_transparency(self.store, now=self.clock.now()))
