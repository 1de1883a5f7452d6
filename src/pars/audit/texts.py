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

Pure (no store): the table reads and writes are in ``pars.audit.text_store``.

Rule: texts never enter a leaf, and a text is deleted, never updated.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
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


#: Keys whose commitment is the entry's top-level value of the same name.
TOP_KEYS = frozenset({"purpose", "case_number", "justification", "warrant"})


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
        if key in TOP_KEYS:  # the common case (a reason, a case number), without the general lookup
            value = doc.get(key)
            if isinstance(value, str) and hmac.compare_digest(value, opened.commitment):
                out[key] = opened.text
            continue
        if not opens(committed_at(doc, key), opened):
            continue
        head, _, rest = key.partition(".")
        if head in TOP_KEYS:
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


def opened(bundle: Mapping[str, Any]) -> dict[str, Text]:
    """The ``texts`` of a receipt or an entries-route answer as ``Text`` values."""
    raw = bundle.get("texts") or {}
    return {str(k): Text.from_json(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
