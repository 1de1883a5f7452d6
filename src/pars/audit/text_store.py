"""The erasable store of free texts: written with their entry, read, erased, retained.

The commitments and ``with_texts`` are pure, in ``pars.audit.texts``; this module is
their adapter over the ``audit_texts``/``audit_text_arrests`` tables.

Rule: a text is written in the transaction that appends its entry, and deleted, never
updated.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from pars.audit.texts import MIN_RETENTION_DAYS, TOP_KEYS, Text, commitment, named_arrests, with_texts


def text_rows(
    leaves: Iterable[tuple[int, datetime, Mapping[str, Any], Mapping[str, Text]]], *, sqlite: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[str, int]]]:
    """The ``audit_texts`` and ``audit_text_arrests`` rows of appended entries (index, entry
    time as naive UTC, document, texts), as driver parameters in the column order of
    ``pars.audit.sql`` (``text``, ``text_arrest``).

    The append writes them in its own transaction and round trip (``pars.audit.writer``),
    so no entry is without its texts.
    """
    from pars.clock import utc_text

    rows: list[tuple[Any, ...]] = []
    arrests: list[tuple[str, int]] = []
    for index, at, doc, texts in leaves:
        if not texts:
            continue
        stamp: Any = utc_text(at) if sqlite else at  # SQLite keeps SQLAlchemy's text form of a DateTime
        rows.extend((index, k, t.text, t.salt, stamp) for k, t in texts.items())
        arrests.extend((a, index) for a in sorted(named_arrests(doc)))
    return rows, arrests


def _stored(conn: Any, wanted: Sequence[int]) -> list[tuple[int, Any, Any, Any]]:
    """``(idx, key, text, salt)`` rows of the entries at ``wanted`` (sorted, distinct, not
    empty), straight from the driver in ``conn``'s transaction: a dense set (a page of the
    log) as one range of the primary key, a sparse one by ``IN`` lists."""
    pg = conn.dialect.name == "postgresql"
    raw = conn.connection.driver_connection
    mark = "%s" if pg else "?"
    batches: list[tuple[str, Sequence[int]]]
    if wanted[-1] - wanted[0] < 2 * len(wanted):
        # Dense: one range, rows of entries not asked for dropped below.
        batches = [(f"idx >= {mark} AND idx <= {mark}", (wanted[0], wanted[-1]))]
    else:
        batches = [
            (f"idx IN ({', '.join([mark] * len(chunk))})", chunk)
            for chunk in (wanted[lo : lo + 1000] for lo in range(0, len(wanted), 1000))
        ]
    keep = set(wanted)
    out: list[tuple[int, Any, Any, Any]] = []
    for where, params in batches:
        sql = f"SELECT idx, key, text, salt FROM audit_texts WHERE {where}"  # noqa: S608 (placeholders only)
        if pg:
            with raw.cursor(binary=True) as cur:
                cur.execute(sql, list(params))
                rows = cur.fetchall()
        else:
            rows = raw.execute(sql, list(params)).fetchall()
        out.extend(row for row in rows if row[0] in keep)
    return out


def load_texts(conn: Any, indices: Sequence[int]) -> dict[int, dict[str, Text]]:
    """The stored texts of the entries at ``indices``, by index then key, read on ``conn``
    (its snapshot)."""
    wanted = sorted(set(indices))
    out: dict[int, dict[str, Text]] = {}
    if not wanted:
        return out
    for idx, key, txt, salt in _stored(conn, wanted):
        got = out.get(idx)
        if got is None:
            got = out[idx] = {}
        got[str(key)] = Text(str(txt), bytes(salt))
    return out


def open_page_texts(conn: Any, page: list[tuple[int, dict[str, Any]]]) -> None:
    """``with_texts`` over a page of entries the caller owns (freshly decoded), in place: each
    commitment its stored text opens replaced by the text, read on ``conn`` in one query.

    Exactly ``with_texts`` (the same texts open, the same values result); the top-level
    texts (a reason, a case number: nearly all of them) are opened without building a
    ``Text`` or copying the entry, which made the report's texts a third of its reading.
    """
    docs = {i: doc for i, doc in page if doc.get("v") == 2}
    if not docs:
        return
    rest: dict[int, dict[str, Text]] = {}
    compare = hmac.compare_digest
    for idx, key, txt, salt in _stored(conn, sorted(docs)):
        doc = docs[idx]
        key, txt, salt = str(key), str(txt), bytes(salt)
        if key in TOP_KEYS:
            value = doc.get(key)
            if isinstance(value, str) and compare(value, commitment(txt, salt)):
                doc[key] = txt
        else:
            rest.setdefault(idx, {})[key] = Text(txt, salt)
    if rest:
        for k, (i, doc) in enumerate(page):
            more = rest.get(i)
            if more:
                page[k] = (i, with_texts(doc, more))


def erase_texts(conn: Any, indices: Iterable[int]) -> int:
    """Delete the texts of the entries at ``indices``; how many texts went."""
    from sqlalchemy import delete

    from pars.store.schema.audit import audit_text_arrests, audit_texts

    wanted = sorted(set(indices))
    gone = 0
    for lo in range(0, len(wanted), 1000):
        chunk = wanted[lo : lo + 1000]
        gone += int(conn.execute(delete(audit_texts).where(audit_texts.c.idx.in_(chunk))).rowcount or 0)
        conn.execute(delete(audit_text_arrests).where(audit_text_arrests.c.idx.in_(chunk)))
    return gone


def erase_arrest_texts(conn: Any, arrest_id: str) -> int:
    """Expungement: delete the texts of every entry that names ``arrest_id``."""
    from sqlalchemy import select

    from pars.store.schema.audit import audit_text_arrests

    idx = list(
        conn.scalars(select(audit_text_arrests.c.idx).where(audit_text_arrests.c.arrest_id == arrest_id))
    )
    return erase_texts(conn, idx)


def erase_older(conn: Any, now: datetime, days: int) -> tuple[int, datetime]:
    """Retention: delete every text of entries older than ``days`` before ``now``."""
    from sqlalchemy import delete, select

    from pars.clock import to_utc_naive
    from pars.store.schema.audit import audit_text_arrests, audit_texts

    if days < MIN_RETENTION_DAYS:
        raise ValueError(f"retention: at least {MIN_RETENTION_DAYS} days")
    before = to_utc_naive(now - timedelta(days=days))
    old = select(audit_texts.c.idx).where(audit_texts.c.time_utc < before)
    conn.execute(delete(audit_text_arrests).where(audit_text_arrests.c.idx.in_(old)))
    gone = int(conn.execute(delete(audit_texts).where(audit_texts.c.time_utc < before)).rowcount or 0)
    return gone, before


def stream_with_texts(
    conn: Any, entries: Iterator[tuple[int, dict[str, Any]]], page: int = 2000
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(index, entry)`` pairs with their texts opened as ``with_texts`` opens them, read on
    ``conn`` (the reader's snapshot) a page at a time by ``open_page_texts``: the entries are
    the caller's, freshly decoded (``LogView.entries``), and opened in place."""
    while batch := list(islice(entries, page)):
        open_page_texts(conn, batch)
        yield from batch


# --- erasure (each one logged: an admin entry in the same transaction) ------------


def erase_entry(store: Any, log: Any, index: int, reason: str, *, by: str) -> dict[str, Any]:
    """``pars audit erase``: delete the texts of entry ``index``, logged as an admin entry
    whose ``justification`` commits to ``reason``; returns what was done."""
    from pars.audit.proofs import get_entry
    from pars.errors import InvalidInput

    reason = reason.strip()
    if not reason:
        raise InvalidInput("--reason: say why the texts are erased")
    with store.write() as conn:
        log.lock(conn)  # before the clock read: entry times never go backwards
        get_entry(conn, index)  # NotFound for an index the log does not have
        gone = erase_texts(conn, [index])
        logged_at = _log_admin(
            conn, log, log.clock.now(), "erase_texts", by, {"index": index, "texts": gone}, reason
        )
    return {"index": index, "erased": gone, "logged_at": logged_at}


def apply_retention(store: Any, log: Any, days: int, *, by: str) -> dict[str, Any]:
    """``pars audit retention``: erase the texts of entries older than ``days``, logged."""
    from pars.audit.entry import format_time

    with store.write() as conn:
        log.lock(conn)  # before the clock read: entry times never go backwards
        now = log.clock.now()
        gone, before = erase_older(conn, now, days)
        cutoff = format_time(_aware(before))
        logged_at = _log_admin(
            conn, log, now, "text_retention", by, {"days": days, "before": cutoff, "texts": gone}
        )
    return {"days": days, "before": cutoff, "erased": gone, "logged_at": logged_at}


def _log_admin(
    conn: Any,
    log: Any,
    now: datetime,
    action: str,
    by: str,
    detail: dict[str, Any],
    justification: str | None = None,
) -> int:
    """Append the admin entry of an erasure (the caller holds the log's lock and read
    ``now`` after taking it); its index in the log."""
    from pars.audit.entry import build_entry

    entry = build_entry(
        hmac_key=log.keys.hmac_key,
        time=now,
        kind="admin",
        action=action,
        decision="allow",
        status=200,
        user=by,
        route="cli",
        justification=justification,
        detail=detail,
    )
    return int(log.append(conn, [entry]).leaves[0].index)


def _aware(naive_utc: datetime) -> datetime:
    from datetime import UTC

    return naive_utc.replace(tzinfo=UTC)
