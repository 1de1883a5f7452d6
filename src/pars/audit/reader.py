"""The one way to read the log's entries: checked bytes, one snapshot, one signed size.

Oversight, transparency, replay and the console all read entries through
``open_log``::

    with open_log(store, verifier_key) as view:      # one snapshot
        view.checkpoint.size, view.checkpoint.note   # the signed tree it reads
        for index, doc in view.entries(kind="access", agreement_id="ice-2017"):
            ...                                      # doc decoded from checked bytes

Every entry handed out lies below the size of a checkpoint signed by the log key
(the newest *published* one by default: with witnesses, the newest they cosigned),
and its bytes hash to the leaf hash the checkpoint's root commits to: the level-0
tile holding that leaf is checked once against the root (an inclusion proof of the
tile's first leaf, its in-tile siblings computed from the tile itself), and every
entry against its hash in that tile. Filters (kind, agreement, user, time) are
applied to the decoded entry, never to the ``audit_leaves`` columns.

Why readers check bytes rather than ``verify`` covering the derived columns
(``kind``, ``user``, ``agreement_id``, ``time_utc``, ``leaf_hash``): a column
checked by ``verify`` is still only as good as the last verify. It can be edited
a second after it, and a reader that filters on it (a console page, a report
that did not run verify in its own snapshot) silently loses entries — what
hiding agent7's findings took. Checking the bytes that are read, bound to a
signed root, holds whoever edits what and whenever. It is also cheaper: ``verify``
would have to decode every entry's JSON, which ``benchmarks/audit.py`` measured
at 2.8x raw SHA-256 on top of verify's 2.5-3.1x (100,000 entries, both stores:
verify would go to 5.3-5.9x, past its 3x goal), while a reader decodes what it
reads anyway and adds one SHA-256 per entry and one proof per 256 entries. So the columns are
kept as written (dropping them would change the schema for nothing) and no
reader decides from them; a tampered column changes no report, byte for byte.

Which key: the caller's (the report passes the key it trusts), else the key the
log's head row names. Trusting *that* key is ``pars audit verify``'s question
(it checks against the key directory or an auditor's key); a reader's job is
that no copy of an entry other than its signed bytes decides anything.

Rule: nothing here reads ``audit_leaves.kind/user/agreement_id/time_utc`` or
``leaf_hash``; a byte that does not check raises ``LogMismatch`` naming the
index, it is never skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any, TypedDict, Unpack

import orjson
from sqlalchemy import Connection, text

from pars.audit.merkle import fill, inclusion_ranges, perfect_root, range_nodes, verify_inclusion
from pars.audit.note import Checkpoint, CheckpointError, verify_checkpoint
from pars.audit.proofs import LogEntry
from pars.audit.scan import snapshot
from pars.audit.tiles import TILE_HEIGHT, TILE_WIDTH, node_from_tile, split, tile_of
from pars.audit.verify import VerifyResult, verify_in
from pars.clock import parse_instant
from pars.errors import NotFound, ParsError
from pars.store.db import Store

#: Entries per read from the store.
PAGE = 2048


class LogMismatch(ParsError):
    """Stored entry bytes that do not check against the signed log (``index`` names the first)."""

    code = "audit_mismatch"

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"audit entry {index}: {message}; run pars audit verify")
        self.index = index
        self.reason = message


class Where(TypedDict, total=False):
    """What ``LogView.entries`` reads: the filter (kind, agreement, user, times inclusive) and
    the index range (``start <= index < stop``), in index order or ``reverse``."""

    kind: str | None
    agreement_id: str | None
    user: str | None
    since: datetime | None
    until: datetime | None
    start: int
    stop: int | None
    reverse: bool


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What ``LogView.entries`` keeps, judged on the decoded entry."""

    kind: str | None = None
    agreement_id: str | None = None
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def keeps(self, doc: dict[str, Any]) -> bool:
        if self.kind is not None and doc.get("kind") != self.kind:
            return False
        if self.agreement_id is not None and doc.get("agreement_id") != self.agreement_id:
            return False
        if self.user is not None and doc.get("user") != self.user:
            return False
        if self.since is not None or self.until is not None:
            try:
                at = parse_instant(str(doc.get("time")))
            except ValueError:
                return False
            if self.since is not None and at < self.since.replace(microsecond=0):
                return False
            if self.until is not None and at > self.until:
                return False
        return True


def published_checkpoint(conn: Connection) -> Checkpoint | None:
    """The newest published checkpoint (cosigned by a witness quorum; with no witnesses,
    the newest signed one), as ``pars.audit.publish`` says when it is there."""
    try:
        publish = importlib.import_module("pars.audit.publish")
    except ModuleNotFoundError:
        publish = None
    latest_published = getattr(publish, "latest_published", None)
    if latest_published is not None:
        found: Checkpoint | None = latest_published(conn)
        return found
    from pars.audit.proofs import latest_checkpoint

    return latest_checkpoint(conn)


class LogView:
    """Entries of one snapshot, checked against ``checkpoint`` and never past its size."""

    def __init__(self, conn: Connection, checkpoint: Checkpoint | None, origin: str) -> None:
        self.conn = conn
        self.checkpoint = checkpoint
        self.origin = origin
        self.size = 0 if checkpoint is None else checkpoint.size
        self._tiles: dict[int, list[bytes]] = {}
        #: Stored tiles read for proofs, by (level, index): the same bytes all snapshot long.
        self._stored: dict[tuple[int, int], bytes] = {}
        #: Subtree hashes computed from those tiles, by (height, index).
        self._known: dict[tuple[int, int], bytes] = {}
        self._pg: bool | None = None

    # --- checking -------------------------------------------------------------

    def _tile(self, t: int) -> list[bytes]:
        """The leaf hashes of level-0 tile ``t`` below ``size``, checked against the root."""
        cached = self._tiles.get(t)
        if cached is not None:
            return cached
        assert self.checkpoint is not None
        first = t * TILE_WIDTH
        need = min(TILE_WIDTH, self.size - first)
        blob = self._blob(0, t)
        hashes = split(blob)[:need] if len(blob) % 32 == 0 else []
        if len(hashes) < need:
            raise LogMismatch(first + len(hashes), "its leaf hash is missing from storage")
        # The in-tile part of the proof from these very hashes, the rest from storage:
        # a matching root then binds every hash of the tile, not just the first.
        ranges = inclusion_ranges(first, self.size)
        outside = [
            n for a, b in ranges for n in range_nodes(a, b) if n[0] >= TILE_HEIGHT or not _within(n, t)
        ]
        stored = self._nodes(outside)

        def node(n: tuple[int, int]) -> bytes:
            if n[0] < TILE_HEIGHT and _within(n, t):
                lo = (n[1] << n[0]) - first
                return perfect_root(hashes[lo : lo + (1 << n[0])])
            return stored[n]

        proof = fill(ranges, node)
        if not verify_inclusion(hashes[0], first, self.size, proof, self.checkpoint.root):
            raise LogMismatch(first, f"its tile does not hash to the signed root of size {self.size}")
        if len(self._tiles) > 64:  # bounded memory on a long scan
            self._tiles.clear()
            self._stored.clear()
            self._known.clear()
        self._tiles[t] = hashes
        return hashes

    def _nodes(self, nodes: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        out: dict[tuple[int, int], bytes] = {}
        for n in nodes:
            known = self._known.get(n)
            if known is not None:  # consecutive tiles' proofs share most nodes above them
                out[n] = known
                continue
            key = tile_of(n)
            blob = self._stored.get(key)
            if blob is None:
                blob = self._stored[key] = self._blob(*key)
            try:
                out[n] = self._known[n] = node_from_tile(n, blob)
            except ValueError:
                raise LogMismatch(n[1] << n[0], "a subtree hash over it is missing from storage") from None
        return out

    def _page(self, lo: int, hi: int) -> tuple[list[bytes], list[bytes]]:
        """The checked entry bytes of [lo, hi) (within one tile run) and their leaf hashes."""
        rows = self._rows(lo, hi)
        leaves: list[bytes] = []
        for t in range(lo // TILE_WIDTH, (hi - 1) // TILE_WIDTH + 1):
            leaves.extend(self._tile(t))
        leaves = leaves[lo % TILE_WIDTH : lo % TILE_WIDTH + (hi - lo)]
        datas: list[bytes] = []
        keep = datas.append
        start_leaf = _LEAF.copy
        for expect, (idx, entry) in enumerate(rows, start=lo):
            if idx != expect:
                raise LogMismatch(expect, "it is missing from storage")
            data = entry if type(entry) is bytes else bytes(entry)
            h = start_leaf()
            h.update(data)
            if h.digest() != leaves[expect - lo]:
                raise LogMismatch(expect, "its stored bytes do not hash to its leaf in the signed tree")
            keep(data)
        if len(datas) != hi - lo:
            raise LogMismatch(lo + len(datas), "it is missing from storage")
        return datas, leaves

    def _blob(self, level: int, idx: int) -> bytes:
        """The stored hashes of tile ``(level, idx)`` (empty if none): a report asks for one per
        256 entries."""
        rows = self._driver(_TILE, (level, idx))
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else b""

    def _rows(self, lo: int, hi: int) -> list[tuple[int, Any]]:
        """(index, stored bytes) of [lo, hi) in index order."""
        return self._driver(_ROWS, (lo, hi))

    def _driver(self, sql: str, params: tuple[int, int]) -> list[Any]:
        """Rows of ``sql`` (``?`` placeholders) straight from the driver, in this view's snapshot:
        the SQLAlchemy row layer cost a tenth of a report's reading; on PostgreSQL as binary
        results (bytea as bytes, not hex text to decode)."""
        if self._pg is None:
            self._pg = self.conn.dialect.name == "postgresql"
        raw: Any = self.conn.connection.driver_connection
        rows: list[Any]
        if self._pg:
            with raw.cursor(binary=True) as cur:
                cur.execute(_PG[sql], params)
                rows = cur.fetchall()
        else:
            rows = raw.execute(sql, params).fetchall()
        return rows

    def _pages(
        self, start: int, stop: int | None, reverse: bool
    ) -> Iterator[tuple[int, list[bytes], list[bytes]]]:
        stop = self.size if stop is None else min(stop, self.size)
        start = max(start, 0)
        # Pages aligned to PAGE (whole tiles), the first and last cut to [start, stop).
        bounds = [(max(lo, start), min(lo + PAGE, stop)) for lo in range(start - start % PAGE, stop, PAGE)]
        for lo, hi in reversed(bounds) if reverse else bounds:
            datas, leaves = self._page(lo, hi)
            yield lo, datas, leaves

    def raw(self, start: int = 0, stop: int | None = None, *, reverse: bool = False) -> Iterator[LogEntry]:
        """Checked entries with ``start <= index < stop`` (``stop`` at most ``size``), in index
        order (descending with ``reverse``)."""
        for lo, datas, leaves in self._pages(start, stop, reverse):
            page = [LogEntry(lo + k, d, leaves[k]) for k, d in enumerate(datas)]
            yield from reversed(page) if reverse else page

    def _decoded(
        self, where: Where
    ) -> Iterator[tuple[int, list[bytes], Callable[[dict[str, Any]], bool] | None]]:
        flt = EntryFilter(
            where.get("kind"),
            where.get("agreement_id"),
            where.get("user"),
            where.get("since"),
            where.get("until"),
        )
        keep = None if flt == EntryFilter() else flt.keeps
        for lo, datas, _ in self._pages(
            where.get("start", 0), where.get("stop"), where.get("reverse", False)
        ):
            yield lo, datas, keep

    def entries(self, **where: Unpack[Where]) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(index, entry)`` decoded from checked bytes, kept by the filter (times inclusive).

        One entry decoded at a time: a caller that keeps the cyclic collector running pays for
        every decoded entry alive at once (``entry_pages`` doubled a transparency report's time)."""
        loads = orjson.loads
        reverse = where.get("reverse", False)
        for lo, datas, keep in self._decoded(where):
            order = range(len(datas) - 1, -1, -1) if reverse else range(len(datas))
            for k in order:
                doc: dict[str, Any] = loads(datas[k])
                if keep is None or keep(doc):
                    yield lo + k, doc

    def entry_pages(self, **where: Unpack[Where]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """``entries`` a page at a time (up to ``PAGE`` pairs, none empty), for readers that work
        on whole pages (the report reads each page's texts and arrests in one go) and turn the
        cyclic collector off while they do. Each dict is freshly decoded: the caller owns it."""
        loads = orjson.loads
        reverse = where.get("reverse", False)
        for lo, datas, keep in self._decoded(where):
            page = [(i, loads(d)) for i, d in enumerate(datas, lo)]
            if keep is not None:
                page = [p for p in page if keep(p[1])]
            if reverse:
                page.reverse()
            if page:
                yield page

    def entry(self, index: int) -> LogEntry:
        """One checked entry; ``NotFound`` past the checkpoint's size."""
        if not 0 <= index < self.size:
            raise NotFound(f"no audit entry at index {index} in the signed log of size {self.size}")
        return next(self.raw(index, index + 1))

    def document(self, index: int) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.entry(index).entry)
        return doc


_LEAF = sha256(b"\x00")
_ROWS = "SELECT idx, entry FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
_TILE = "SELECT hashes FROM audit_tiles WHERE level = ? AND idx = ?"
#: The same statements with psycopg's placeholders.
_PG = {sql: sql.replace("?", "%s") for sql in (_ROWS, _TILE)}


def _within(node: tuple[int, int], t: int) -> bool:
    height, idx = node
    return height < TILE_HEIGHT and (idx << height) >> TILE_HEIGHT == t


def _head(conn: Connection) -> tuple[str, str] | None:
    row = conn.execute(text("SELECT origin, verifier_key FROM audit_head WHERE id = 1")).first()
    return None if row is None else (str(row[0]), str(row[1]))


def view_of(
    conn: Connection,
    verifier_key: str | None = None,
    *,
    size: int | None = None,
    choose: Callable[[Connection], Checkpoint | None] | None = None,
) -> LogView:
    """A ``LogView`` on ``conn``'s snapshot: at the stored checkpoint of ``size``, or at the one
    ``choose`` picks (default: the newest published)."""
    from pars.audit.proofs import stored_checkpoint

    head = _head(conn)
    if head is None:
        if size:
            raise NotFound(f"the audit log is empty; no checkpoint of size {size}")
        return LogView(conn, None, "")
    origin, head_key = head
    if size is not None:
        cp = stored_checkpoint(conn, size)
        if cp is None and size:
            raise NotFound(f"no signed checkpoint of size {size} is stored")
    else:
        cp = (choose or published_checkpoint)(conn)
    if cp is None:
        return LogView(conn, None, origin)
    try:
        signed = verify_checkpoint(cp.note, verifier_key or head_key)
    except CheckpointError as exc:
        raise LogMismatch(
            max(cp.size - 1, 0), f"the checkpoint of size {cp.size} does not verify ({exc})"
        ) from None
    if signed[0] != origin:
        raise LogMismatch(
            max(cp.size - 1, 0), f"the checkpoint of size {cp.size} is for another log ({signed[0]})"
        )
    # Size and root as signed, never as the row says.
    return LogView(conn, Checkpoint(signed[0], signed[1], signed[2], cp.note), origin)


@contextmanager
def open_log(
    store: Store,
    verifier_key: str | None = None,
    *,
    size: int | None = None,
    choose: Callable[[Connection], Checkpoint | None] | None = None,
) -> Iterator[LogView]:
    """A ``LogView`` in a snapshot of its own (see ``view_of``)."""
    with snapshot(store) as conn:
        yield view_of(conn, verifier_key, size=size, choose=choose)


def iter_entries(
    store: Store,
    *,
    agreement_id: str | None = None,
    user: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    start: int = 0,
    verifier_key: str | None = None,
) -> Iterator[LogEntry]:
    """Checked entries in index order, filtered on their bytes, in one snapshot bounded by the
    newest published checkpoint (``since``/``until`` inclusive, timezone-aware)."""
    flt = EntryFilter(kind, agreement_id, user, since, until)
    with open_log(store, verifier_key) as view:
        for e in view.raw(start):
            if flt.keeps(orjson.loads(e.entry)):
                yield e


@contextmanager
def verified_view(
    store: Store,
    verifier_key: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[VerifyResult, LogView]]:
    """``verify_log`` and a ``LogView`` over the very snapshot it verified.

    The view is at the newest published checkpoint; if the log does not verify, at the
    newest stored checkpoint below the problem (``result.verified_size``; empty if none).
    """
    with snapshot(store) as conn:
        result = verify_in(store, conn, verifier_key, progress=progress)
        if result.ok:
            view = view_of(conn, verifier_key)
            if view.size > result.size:
                raise LogMismatch(result.size, f"a published checkpoint of size {view.size} is past the log")
        else:
            view = view_of(conn, verifier_key, size=result.verified_size)
        yield result, view
