"""Audit entries: the one JSON object logged per access or admin event.

An entry is built once (``build_entry``), encoded once with RFC 8785, and from
then on travels as those exact bytes: the leaf hash is SHA-256(0x00 ‖ bytes).

Shape (every key always present; ``detail`` only on admin events that have one,
``violations`` only on denials that break more than their ``rule``)::

    v, time, kind, agreement_id, agreement_version, agency, user, action, route,
    purpose, case_number, justification, warrant, filters, sort, limit,
    decision, rule, arrest_ids, person_ids, fields, status[, detail][, violations]

``violations``: every clause the request broke, as decide() lists them (entries
written before it existed lack it; readers fall back to ``[rule]``).

``time`` is UTC to the second, written ``2018-08-31T23:59:59+00:00``.

Rule: no raw personal data in an entry, ever. Filter values under a name in
``PERSONAL_FILTERS`` (or under a name PARS does not know) are logged only as
``hmac-sha256:<hex>`` of the log's HMAC key; ``AuditEntry.from_document``
refuses any entry that breaks this.

Rule: no free text in an entry (``v`` 2, CONTRACT section 5). ``case_number``,
``justification`` and whatever else a partner typed that is not a known name or
an id of the expected form is logged as a commitment ``sha256:<hex>`` =
SHA-256(salt ‖ UTF-8 text), a fresh 16-byte salt each; the text and salt travel
beside the entry as ``AuditEntry.texts`` (``pars.audit.texts``), stored outside
the leaf where they can be erased. Version 1 entries (texts in clear) stay valid.

Rule: an entry is at most ``MAX_ENTRY_BYTES`` of canonical JSON; every list and
value that a request controls is bounded so that a request's entry always fits.
Pure.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import rfc8785

from pars.audit.canonical import canonical_json
from pars.audit.texts import COMMIT_PREFIX, MAX_TEXT, Text, committed_at
from pars.clock import parse_instant
from pars.errors import InvalidInput
from pars.records.fields import FILTERS, PERSONAL_FILTERS
from pars.records.normalize import filter_value_key

ENTRY_VERSION = 2
#: Versions ``from_document`` takes: 1 (before commitments), 2 (free text committed).
VERSIONS = frozenset({1, 2})
#: CONTRACT section 5: no entry is larger than this, in canonical JSON.
MAX_ENTRY_BYTES = 65_535
#: Filter names, list items and sort keys an entry records at most (a request
#: with more is malformed: its entry records the first ones).
MAX_FILTERS = 16
MAX_LIST = 20
MAX_SORT = 8
#: A value of a non-personal filter longer than this is committed, not logged.
MAX_CLEAR = 64
HMAC_PREFIX = "hmac-sha256:"
KINDS = frozenset({"access", "admin"})
DECISIONS = frozenset({"allow", "deny", "error"})
Kind = Literal["access", "admin"]
Decision = Literal["allow", "deny", "error"]

_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
_HMAC = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")
_FILTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Purposes and warrant references in clear: codes and ids, never prose.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
#: A read's arrest id in clear only in the form booking events give it.
_ARREST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")
_UNKNOWN_RULES = ("filters.unknown.", "sort.unknown.")
#: A clause name as decide() writes it (``search.forbid_filters.country_of_origin``).
_RULE = re.compile(r"^[a-z][a-z0-9_.]{0,127}$")

KEYS: tuple[str, ...] = (
    "v",
    "time",
    "kind",
    "agreement_id",
    "agreement_version",
    "agency",
    "user",
    "action",
    "route",
    "purpose",
    "case_number",
    "justification",
    "warrant",
    "filters",
    "sort",
    "limit",
    "decision",
    "rule",
    "arrest_ids",
    "person_ids",
    "fields",
    "status",
)


class EntryTooLarge(InvalidInput):
    """An entry over ``MAX_ENTRY_BYTES``: never appended (the gate keeps entries under it)."""


def format_time(at: datetime) -> str:
    """The entry time format: UTC, whole seconds, ``+00:00`` offset."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("time: an audit entry time needs a timezone")
    return at.astimezone(UTC).replace(microsecond=0).isoformat()


def keyed_hash(name: str, value: object, key: bytes) -> str:
    """``hmac-sha256:<hex>`` of a filter value, as logged and as oversight recomputes it.

    HMAC-SHA-256(key, name ‖ 0x00 ‖ filter_value_key(name, value)), so a searched
    ``last_name`` of ``"O'Brien "`` and a victim named ``obrien`` hash alike.
    """
    # surrogatepass: a value that is not Unicode text still hashes (never matches a record).
    message = f"{name}\x00{filter_value_key(name, value)}".encode("utf-8", "surrogatepass")
    return HMAC_PREFIX + hmac.digest(key, message, "sha256").hex()  # one-shot: as hmac.new, faster


def _needs_hash(name: str) -> bool:
    # A name PARS does not know may still carry a name or an SSN: fail closed.
    return name in PERSONAL_FILTERS or name not in FILTERS


def _clear(value: object) -> Any:
    """A non-personal filter value as JSON (RFC 8785 has no Decimal or date)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_clear(v) for v in value]
    return str(value)


def hash_filters(filters: Mapping[str, object], key: bytes) -> dict[str, Any]:
    """Filters as a version 1 entry logged them (kept for tools that recompute old entries)."""
    out: dict[str, Any] = {}
    for raw_name, value in filters.items():
        name = str(raw_name)
        logged_name = name if _FILTER_NAME.match(name) else keyed_hash("filter_name", name, key)
        if not _needs_hash(name) and not isinstance(value, Mapping):
            out[logged_name] = _clear(value)
        else:
            out[logged_name] = _hashed(name, value, key)
    return out


def _hashed(name: str, value: object, key: bytes) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [keyed_hash(name, v, key) for v in value[:MAX_LIST]]
    if isinstance(value, Mapping):
        # An object where a value belongs: nobody knows what is in it, so hash it.
        return keyed_hash(name, sorted(value.items(), key=str)[:MAX_LIST], key)
    return keyed_hash(name, value, key)


class _Committer:
    """Commits free text for one entry and collects its texts by key (see ``pars.audit.texts``)."""

    def __init__(self) -> None:
        self.texts: dict[str, Text] = {}

    def __call__(self, key: str, text: str) -> str:
        opened = Text.new(_text(text) or "")
        self.texts[key] = opened
        return opened.commitment

    def text(self, key: str, value: str | None) -> str | None:
        """Free text, always committed."""
        return None if value is None else self(key, value)

    def code(self, key: str, value: str | None) -> str | None:
        """A code or id in clear; anything else (prose, a name) committed."""
        if value is None:
            return None
        return value if _CODE.match(value) else self(key, value)

    def filters(self, filters: Mapping[str, object], key: bytes) -> dict[str, Any]:
        """Known names in clear, unknown ones committed; personal values keyed-hashed;
        non-personal values in clear up to ``MAX_CLEAR`` characters, committed beyond."""
        out: dict[str, Any] = {}
        for raw_name, value in list(filters.items())[:MAX_FILTERS]:
            name = str(raw_name)
            logged = name if name in FILTERS else self(f"filters.{COMMIT_PREFIX}", name)
            if logged != name:  # the key is the commitment: address the text by it
                self.texts[f"filters.{logged}"] = self.texts.pop(f"filters.{COMMIT_PREFIX}")
            if _needs_hash(name) or isinstance(value, Mapping):
                out[logged] = _hashed(name, value, key)
            elif isinstance(value, list | tuple):
                out[logged] = [self._value(f"filters.{name}.{i}", v) for i, v in enumerate(value[:MAX_LIST])]
            else:
                out[logged] = self._value(f"filters.{name}", value)
        return out

    def _value(self, key: str, value: object) -> Any:
        if isinstance(value, list | tuple | Mapping):
            return self(key, repr(value))
        clear = _clear(value)
        if name_is_arrest_id(key) and isinstance(clear, str) and not _ARREST_ID.match(clear):
            return self(key, clear)  # a read's malformed arrest id
        if isinstance(clear, str) and len(clear) > MAX_CLEAR:
            return self(key, clear)
        return clear

    def sort(self, sort: Iterable[str] | None) -> list[str] | None:
        if sort is None:
            return None
        out = []
        for i, raw in enumerate(list(sort)[:MAX_SORT]):
            key = str(raw)
            out.append(key if key.removeprefix("-") in FILTERS else self(f"sort.{i}", key))
        return out

    def rule(self, rule: str | None) -> str | None:
        """``filters.unknown.<name>``: the name is a partner's text, so it is committed."""
        if rule is None:
            return None
        for prefix in _UNKNOWN_RULES:
            if rule.startswith(prefix):
                return prefix + self("rule", rule[len(prefix) :])
        return rule


def name_is_arrest_id(key: str) -> bool:
    return key == "filters.arrest_id" or key.startswith("filters.arrest_id.")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A validated entry and its RFC 8785 bytes (what the leaf hash covers)."""

    document: Mapping[str, Any]
    canonical: bytes
    time: datetime
    #: The texts the entry's commitments open, by key (stored beside the leaf, erasable).
    texts: Mapping[str, Text] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def agreement_id(self) -> str | None:
        v = self.document["agreement_id"]
        return None if v is None else str(v)

    @property
    def user(self) -> str | None:
        v = self.document["user"]
        return None if v is None else str(v)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AuditEntry:
        """Validate an entry object and encode it; raises ``InvalidInput`` naming the key."""
        doc = dict(document)
        if isinstance(doc.get("time"), str) and not _TIME.match(doc["time"]):
            # Any ISO 8601 time with an offset is taken, written in the one entry format.
            try:
                doc["time"] = format_time(parse_instant(doc["time"]))
            except ValueError:
                raise InvalidInput("time: not an ISO 8601 time with an offset") from None
        _validate(doc)
        try:
            canonical = canonical_json(doc)  # rfc8785.dumps's bytes, fast for entries
        except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
            raise InvalidInput(f"entry: not canonical JSON ({exc})") from None
        if len(canonical) > MAX_ENTRY_BYTES:
            raise EntryTooLarge(f"entry: {len(canonical)} bytes of canonical JSON, over {MAX_ENTRY_BYTES}")
        time = datetime.fromisoformat(doc["time"]).astimezone(UTC)
        return cls(doc, canonical, time)

    def with_texts(self, texts: Mapping[str, Text]) -> AuditEntry:
        """This entry carrying ``texts`` (each must open its commitment in the entry)."""
        for key, opened in texts.items():
            if committed_at(self.document, key) != opened.commitment:
                raise InvalidInput(f"texts.{key}: does not open the entry's commitment")
        return AuditEntry(self.document, self.canonical, self.time, dict(texts))


def _validate(doc: Mapping[str, Any]) -> None:
    missing = [k for k in KEYS if k not in doc]
    if missing:
        raise InvalidInput(f"{missing[0]}: missing from the audit entry")
    extra = set(doc) - set(KEYS) - {"detail", "violations"}
    if extra:
        raise InvalidInput(f"{sorted(extra)[0]}: not an audit entry key")
    if doc["v"] not in VERSIONS or isinstance(doc["v"], bool):
        raise InvalidInput(f"v: must be one of {sorted(VERSIONS)}")
    if not isinstance(doc["time"], str) or not _TIME.match(doc["time"]):
        raise InvalidInput("time: must be UTC to the second, like 2018-08-31T23:59:59+00:00")
    if doc["kind"] not in KINDS:
        raise InvalidInput("kind: must be access or admin")
    if doc["decision"] not in DECISIONS:
        raise InvalidInput("decision: must be allow, deny or error")
    if not isinstance(doc["action"], str) or not doc["action"]:
        raise InvalidInput("action: must be a non-empty string")
    status = doc["status"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidInput("status: must be an HTTP status code")
    for key in ("arrest_ids", "person_ids", "fields"):
        if not isinstance(doc[key], list) or not all(isinstance(x, str) for x in doc[key]):
            raise InvalidInput(f"{key}: must be a list of strings")
    filters = doc["filters"]
    if not isinstance(filters, Mapping):
        raise InvalidInput("filters: must be an object")
    for name, value in filters.items():
        if _needs_hash(name) and not _all_hashed(value):
            raise InvalidInput(f"filters.{name}: personal values are logged only as {HMAC_PREFIX}<hex>")
    if "detail" in doc and not isinstance(doc["detail"], Mapping):
        raise InvalidInput("detail: must be an object")
    if "violations" in doc:
        listed = doc["violations"]
        if not isinstance(listed, list) or not all(isinstance(v, str) and _RULE.match(v) for v in listed):
            raise InvalidInput("violations: must be a list of rule names")


def _all_hashed(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, list):
        return all(isinstance(v, str) and _HMAC.match(v) for v in value)
    return isinstance(value, str) and bool(_HMAC.match(value))


def build_entry(
    *,
    hmac_key: bytes,
    time: datetime,
    kind: Kind,
    action: str,
    decision: Decision,
    status: int,
    agreement_id: str | None = None,
    agreement_version: str | None = None,
    agency: str | None = None,
    user: str | None = None,
    route: str | None = None,
    purpose: str | None = None,
    case_number: str | None = None,
    justification: str | None = None,
    warrant: str | None = None,
    filters: Mapping[str, object] | None = None,
    sort: Iterable[str] | None = None,
    limit: int | None = None,
    rule: str | None = None,
    arrest_ids: Iterable[str] = (),
    person_ids: Iterable[str] = (),
    fields: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
    violations: Iterable[str] = (),
) -> AuditEntry:
    """The typed way to make an entry: commits free text, hashes personal filters,
    bounds every list, validates, encodes (``AuditEntry.texts`` holds the texts).

    >>> e = build_entry(hmac_key=b"k" * 32, time=datetime(2018, 8, 31, tzinfo=UTC),
    ...                 kind="access", action="search", decision="deny", status=403)
    >>> e.document["time"]
    '2018-08-31T00:00:00+00:00'
    """
    commit = _Committer()
    doc: dict[str, Any] = {
        "v": ENTRY_VERSION,
        "time": format_time(time),
        "kind": kind,
        "agreement_id": agreement_id,
        "agreement_version": agreement_version,
        "agency": agency,
        "user": user,
        "action": action,
        "route": route,
        "purpose": commit.code("purpose", _text(purpose)),
        "case_number": commit.text("case_number", _text(case_number)),
        "justification": commit.text("justification", _text(justification)),
        "warrant": commit.code("warrant", _text(warrant)),
        "filters": commit.filters(filters or {}, hmac_key),
        "sort": commit.sort(sort),
        "limit": limit,
        "decision": decision,
        "rule": commit.rule(rule),
        "arrest_ids": list(arrest_ids),
        "person_ids": list(person_ids),
        "fields": list(fields),
        "status": status,
    }
    if detail is not None:
        doc["detail"] = dict(detail)
    listed = list(violations)
    if len(listed) > 1:
        doc["violations"] = listed
    return AuditEntry.from_document(doc).with_texts(commit.texts)


def _text(value: str | None) -> str | None:
    """Free text as kept: Unicode (a lone surrogate replaced), at most ``MAX_TEXT`` characters."""
    if value is None:
        return None
    return str(value)[:MAX_TEXT].encode("utf-8", "replace").decode()
