"""Free text outside the log: commitments in the leaf, texts and salts here, erasable.

CONTRACT section 5: whatever a partner typed that is not a known name or an id
of the expected form enters an entry only as ``sha256:<hex>`` = SHA-256(salt ‖
UTF-8 text), with a fresh 16-byte salt. The text and salt are kept in
``audit_texts`` (written in the transaction that appends the entry), returned as
``texts: {key: {text, salt_hex}}`` beside the entry in receipts and on
``GET /v1/audit/entries/{index}``, and erased on expungement, by
``pars audit erase`` and by retention; the leaf never changes, so the log still
verifies.

Keys say where the commitment sits in the entry:

- ``purpose``, ``case_number``, ``justification``, ``warrant``: the top-level value;
- ``filters.<name>`` the value of a known filter, ``filters.<name>.<i>`` item ``i``
  of a list value (a non-personal value over 64 characters, a malformed arrest id);
- ``filters.sha256:<hex>``: an unknown filter *name*, whose key in ``filters`` is
  the commitment itself (its value is a keyed hash, as for any unknown name);
- ``sort.<i>``: sort key ``i`` when it is not a known name;
- ``rule``: the name in a ``filters.unknown.<name>``/``sort.unknown.<name>`` rule.

Readers that decide (oversight) take a text only if it opens its commitment
(``with_texts``): a custodian who edits a text makes it unusable, never different.

Rule: texts never enter a leaf, and a text is deleted, never updated.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from itertools import islice
from typing import Any

COMMIT_PREFIX = "sha256:"
SALT_BYTES = 16
#: A text is kept, and committed, up to this many characters.
MAX_TEXT = 2000
#: CJIS audit retention: texts are kept at least a year (``PARS_TEXT_RETENTION_DAYS``).
MIN_RETENTION_DAYS = 365
RETENTION_ENV = "PARS_TEXT_RETENTION_DAYS"


@dataclass(frozen=True, slots=True)
class Text:
    """A text and the salt of its commitment."""

    text: str
    salt: bytes

    @classmethod
    def new(cls, text: str) -> Text:
        return cls(text, os.urandom(SALT_BYTES))

    @property
    def commitment(self) -> str:
        return commitment(self.text, self.salt)

    def to_json(self) -> dict[str, str]:
        return {"text": self.text, "salt_hex": self.salt.hex()}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Text:
        return cls(str(value["text"]), bytes.fromhex(str(value["salt_hex"])))


def commitment(text: str, salt: bytes) -> str:
    """``sha256:<hex>`` of salt ‖ UTF-8 text."""
    return COMMIT_PREFIX + sha256(salt + text.encode("utf-8", "surrogatepass")).hexdigest()


def is_commitment(value: object) -> bool:
    """A commitment left in place (its text erased, or never opened)."""
    return isinstance(value, str) and len(value) == 71 and value.startswith(COMMIT_PREFIX)


def opens(value: object, text: Text) -> bool:
    """Does ``text`` open the commitment ``value``? (constant time)."""
    return isinstance(value, str) and hmac.compare_digest(value, text.commitment)


def committed_at(doc: Mapping[str, Any], key: str) -> Any:
    """The value at ``key`` in an entry (see the module docstring), or None."""
    if key in ("purpose", "case_number", "justification", "warrant"):
        return doc.get(key)
    if key == "rule":
        rule = doc.get("rule")
        return _rule_commitment(rule) if isinstance(rule, str) else None
    head, _, rest = key.partition(".")
    if head == "sort":
        sort = doc.get("sort")
        if isinstance(sort, list) and rest.isdigit() and int(rest) < len(sort):
            return sort[int(rest)]
        return None
    if head == "filters":
        filters = doc.get("filters")
        if not isinstance(filters, Mapping):
            return None
        if rest.startswith(COMMIT_PREFIX):
            return rest if rest in filters else None
        name, _, item = rest.partition(".")
        value = filters.get(name)
        if item:
            if isinstance(value, list) and item.isdigit() and int(item) < len(value):
                return value[int(item)]
            return None
        return value
    return None


def _rule_commitment(rule: str) -> str | None:
    at = rule.find(COMMIT_PREFIX)
    return rule[at:] if at >= 0 else None


def with_texts(doc: dict[str, Any], texts: Mapping[str, Text]) -> dict[str, Any]:
    """The entry as its author wrote it: each commitment that ``texts`` opens replaced by
    its text (a text that does not open its commitment is ignored, as if erased).

    What oversight's detectors read, so they see ``justification`` and ``case_number``
    as typed; an erased text leaves the commitment in place.
    """
    if not texts:
        return doc
    out = dict(doc)
    for key, opened in texts.items():
        if not opens(committed_at(doc, key), opened):
            continue
        head, _, rest = key.partition(".")
        if head in ("purpose", "case_number", "justification", "warrant"):
            out[key] = opened.text
        elif head == "rule":
            out["rule"] = str(doc["rule"])[: -len(opened.commitment)] + opened.text
        elif head == "sort":
            sort = list(out["sort"])
            sort[int(rest)] = opened.text
            out["sort"] = sort
        elif head == "filters":
            filters = dict(out["filters"])
            if rest.startswith(COMMIT_PREFIX):
                filters[opened.text] = filters.pop(rest)
            else:
                name, _, item = rest.partition(".")
                if item:
                    items = list(filters[name])
                    items[int(item)] = opened.text
                    filters[name] = items
                else:
                    filters[name] = opened.text
            out["filters"] = filters
    return out


def texts_json(texts: Mapping[str, Text]) -> dict[str, dict[str, str]]:
    return {key: t.to_json() for key, t in sorted(texts.items())}


def named_arrests(doc: Mapping[str, Any]) -> set[str]:
    """The arrests an entry names: those returned, and a read's arrest id in clear."""
    out = {str(a) for a in doc.get("arrest_ids") or () if isinstance(a, str)}
    filters = doc.get("filters")
    if isinstance(filters, Mapping):
        aid = filters.get("arrest_id")
        for v in aid if isinstance(aid, list) else [aid]:
            if isinstance(v, str) and not v.startswith(COMMIT_PREFIX) and len(v) <= 64:
                out.add(v)
    return out


def retention_days(environ: Mapping[str, str] | None = None) -> int:
    """``PARS_TEXT_RETENTION_DAYS`` (default and minimum 365: CJIS audit retention)."""
    from pars.errors import ConfigError

    raw = (os.environ if environ is None else environ).get(RETENTION_ENV, "").strip()
    if not raw:
        return MIN_RETENTION_DAYS
    if not raw.isdigit() or len(raw) > 6:
        raise ConfigError(f"{RETENTION_ENV}: must be a whole number of days, got {raw!r}")
    days = int(raw)
    if days < MIN_RETENTION_DAYS:
        raise ConfigError(
            f"{RETENTION_ENV}: {days} is under {MIN_RETENTION_DAYS}; CJIS audit retention keeps "
            "audit records at least a year"
        )
    return days


# --- storage (adapters: SQLAlchemy Core over the audit tables) -------------------


_TEXT_ROW = "INSERT INTO audit_texts (idx, key, text, salt, time_utc) VALUES (%s, %s, %s, %s, %s)"
_ARREST_ROW = "INSERT INTO audit_text_arrests (arrest_id, idx) VALUES (%s, %s)"


def write_texts(
    conn: Any, leaves: Iterable[tuple[int, datetime, Mapping[str, Any], Mapping[str, Text]]]
) -> None:
    """Store the texts of appended entries (index, entry time as naive UTC, document, texts),
    in the caller's transaction: the append's, so no entry is without its texts.

    Straight to the driver, as the append itself writes (``pars.audit.log``): one
    ``executemany`` per table, no statement building on the gate's hot path.
    """
    from pars.clock import utc_text

    pg = conn.dialect.name == "postgresql"
    rows: list[tuple[Any, ...]] = []
    arrests: list[tuple[str, int]] = []
    for index, at, doc, texts in leaves:
        if not texts:
            continue
        stamp = at if pg else utc_text(at)  # SQLite keeps SQLAlchemy's text form of a DateTime
        rows.extend((index, k, t.text, t.salt, stamp) for k, t in texts.items())
        arrests.extend((a, index) for a in sorted(named_arrests(doc)))
    if not rows:
        return
    import sqlite3

    import psycopg

    from pars.audit.log import AuditWriteError

    raw = conn.connection.driver_connection
    try:
        for sql, params in ((_TEXT_ROW, rows), (_ARREST_ROW, arrests)):
            if not params:
                continue
            if pg:
                with raw.cursor() as cur:
                    cur.executemany(sql, params)
            else:
                raw.executemany(sql.replace("%s", "?"), params)
    except (psycopg.Error, sqlite3.Error) as exc:
        raise AuditWriteError(f"the audit entry's texts could not be written: {exc}") from exc


def load_texts(conn: Any, indices: Sequence[int]) -> dict[int, dict[str, Text]]:
    """The stored texts of the entries at ``indices``, by index then key."""
    from sqlalchemy import select

    from pars.store.schema.audit import audit_texts

    out: dict[int, dict[str, Text]] = {}
    wanted = sorted(set(indices))
    for lo in range(0, len(wanted), 1000):
        chunk = wanted[lo : lo + 1000]
        rows = conn.execute(
            select(audit_texts.c.idx, audit_texts.c.key, audit_texts.c.text, audit_texts.c.salt).where(
                audit_texts.c.idx.in_(chunk)
            )
        ).all()
        for r in rows:
            out.setdefault(int(r.idx), {})[str(r.key)] = Text(str(r.text), bytes(r.salt))
    return out


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
    """``(index, entry)`` pairs with ``with_texts`` applied, the texts read on ``conn`` (the
    reader's snapshot) a page at a time."""
    while batch := list(islice(entries, page)):
        need = [i for i, doc in batch if doc.get("v") == 2]
        texts = load_texts(conn, need) if need else {}
        for index, doc in batch:
            yield index, with_texts(doc, texts.get(index, {}))


# --- erasure (each one logged: an admin entry in the same transaction) ------------


def erase_entry(store: Any, log: Any, index: int, reason: str, *, by: str) -> dict[str, Any]:
    """``pars audit erase``: delete the texts of entry ``index``, logged as an admin entry
    whose ``justification`` commits to ``reason``; returns what was done."""
    from pars.audit.entry import build_entry
    from pars.audit.log import get_entry
    from pars.errors import InvalidInput

    reason = reason.strip()
    if not reason:
        raise InvalidInput("--reason: say why the texts are erased")
    with store.write() as conn:
        log.lock(conn)  # before the clock read: entry times never go backwards
        get_entry(conn, index)  # NotFound for an index the log does not have
        gone = erase_texts(conn, [index])
        entry = build_entry(
            hmac_key=log.keys.hmac_key,
            time=log.clock.now(),
            kind="admin",
            action="erase_texts",
            decision="allow",
            status=200,
            user=by,
            route="cli",
            justification=reason,
            detail={"index": index, "texts": gone},
        )
        appended = log.append(conn, [entry])
    return {"index": index, "erased": gone, "logged_at": appended.leaves[0].index}


def apply_retention(store: Any, log: Any, days: int, *, by: str) -> dict[str, Any]:
    """``pars audit retention``: erase the texts of entries older than ``days``, logged."""
    from pars.audit.entry import build_entry, format_time

    with store.write() as conn:
        log.lock(conn)  # before the clock read: entry times never go backwards
        now = log.clock.now()
        gone, before = erase_older(conn, now, days)
        entry = build_entry(
            hmac_key=log.keys.hmac_key,
            time=now,
            kind="admin",
            action="text_retention",
            decision="allow",
            status=200,
            user=by,
            route="cli",
            detail={"days": days, "before": format_time(_aware(before)), "texts": gone},
        )
        appended = log.append(conn, [entry])
    return {
        "days": days,
        "before": entry.document["detail"]["before"],
        "erased": gone,
        "logged_at": appended.leaves[0].index,
    }


def _aware(naive_utc: datetime) -> datetime:
    from datetime import UTC

    return naive_utc.replace(tzinfo=UTC)


def opened(bundle: Mapping[str, Any]) -> dict[str, Text]:
    """The ``texts`` of a receipt or an entries-route answer as ``Text`` values."""
    raw = bundle.get("texts") or {}
    return {str(k): Text.from_json(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
