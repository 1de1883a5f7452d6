"""Redaction: apply a field plan to one record view (CONTRACT section 2). Pure.

Withheld fields are absent (not null), a group left empty is absent, masked
fields carry their mask (``last4``: ``***-**-6789``; ``year``: ``"1990"``;
``hash``: keyed HMAC-SHA-256 hex of the value's canonical form), and parties
appear only for the roles the agreement lists.

Rule: build the output from the plan, never by deleting from the input: a key
the plan does not name (including any key added to records later) never leaves.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from pars.agreements.plan import FieldPlan
from pars.records.normalize import filter_value_key

_NON_DIGITS = re.compile(r"\D")
_YEAR = re.compile(r"^\d{4}")
_OBJECT_GROUPS = ("person", "arrest", "charging", "arraignment", "custody")


def mask_value(mask: str, leaf: str, value: Any, hash_key: bytes) -> Any:
    """One masked value; ``None`` stays ``None``."""
    if value is None:
        return None
    if mask == "last4":
        digits = _NON_DIGITS.sub("", str(value))
        return f"***-**-{digits[-4:]}" if len(digits) >= 4 else "***-**-****"
    if mask == "year":
        found = _YEAR.match(str(value))
        return found.group(0) if found else None
    if mask == "hash":
        canonical = filter_value_key(leaf, value).encode()
        return hmac.new(hash_key, canonical, hashlib.sha256).hexdigest()
    raise ValueError(f"unknown mask {mask!r}")


def _object(
    prefix: str,
    source: Mapping[str, Any],
    shown: frozenset[str],
    masked: Mapping[str, str],
    hash_key: bytes,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for leaf, value in source.items():
        path = prefix + leaf
        if path in shown:
            out[leaf] = value
        elif path in masked:
            out[leaf] = mask_value(masked[path], leaf, value, hash_key)
    return out


def redact(
    record: Mapping[str, Any],
    plan: FieldPlan,
    *,
    hash_key: bytes,
    warrant_valid: bool = False,
) -> dict[str, Any]:
    """The partner's view of ``record`` under ``plan``.

    ``warrant_valid``: the request cited a warrant on file for this record's arrest
    (the gate checks it with ``warrants.warranted_arrests``); only then do the
    plan's ``warrant_groups`` appear.
    """
    shown, masked = plan.for_record(warrant_valid)
    out = _object(
        "",
        {k: record[k] for k in ("arrest_id", "person_id") if k in record},
        shown,
        masked,
        hash_key,
    )
    for group in _OBJECT_GROUPS:
        source = record.get(group)
        if isinstance(source, Mapping):
            part = _object(group + ".", source, shown, masked, hash_key)
            if part:
                out[group] = part
    charges = [
        part
        for charge in record.get("charges") or ()
        if isinstance(charge, Mapping) and (part := _object("charges.", charge, shown, masked, hash_key))
    ]
    if charges:
        out["charges"] = charges
    parties = []
    for party in record.get("parties") or ():
        if not isinstance(party, Mapping):
            continue
        role = party.get("role")
        if role == "arrestee" or role not in plan.roles:
            continue
        entry = _object(
            "parties.",
            {k: party[k] for k in ("role", "person_id") if k in party},
            shown,
            masked,
            hash_key,
        )
        person = party.get("person")
        if isinstance(person, Mapping):
            part = _object("parties.person.", person, shown, masked, hash_key)
            if part:
                entry["person"] = part
        if entry:
            parties.append(entry)
    if parties:
        out["parties"] = parties
    return out
