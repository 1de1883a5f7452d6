"""What a partner is shown, as values: redacted records, the paths and people in them.

Pure helpers of the gate: they take full records and a field plan and return the
partner's view plus what the audit entry must say about it (the dotted paths
actually returned and every person whose data left).

Rule: the entry's ``fields`` and ``person_ids`` are computed from what is
returned, never from what was asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pars.agreements.plan import FieldPlan, RecordScope
from pars.agreements.redact import redact
from pars.store.queries import Scope

_LIST_GROUPS = ("charges", "parties")


def store_scope(scope: RecordScope) -> Scope:
    """The agreement's record scope as the store's query scope."""
    return Scope(grades=scope.grades, since=scope.since)


def returned_paths(views: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every CONTRACT section 2 dotted path present in the redacted records."""
    paths: set[str] = set()
    for view in views:
        for key, value in view.items():
            if key in _LIST_GROUPS and isinstance(value, list):
                for item in value:
                    for leaf, inner in item.items():
                        if isinstance(inner, Mapping):
                            paths.update(f"{key}.{leaf}.{x}" for x in inner)
                        else:
                            paths.add(f"{key}.{leaf}")
            elif isinstance(value, Mapping):
                paths.update(f"{key}.{leaf}" for leaf in value)
            else:
                paths.add(key)
    return sorted(paths)


def seen_people(records: Iterable[Mapping[str, Any]], plan: FieldPlan) -> list[str]:
    """Person ids whose data was returned: each arrestee, and parties of visible roles."""
    out: dict[str, None] = {}
    for rec in records:
        if "arrestee" in plan.roles and rec.get("person_id"):
            out[str(rec["person_id"])] = None
        for party in rec.get("parties") or ():
            if party.get("role") in plan.roles and party.get("person_id"):
                out[str(party["person_id"])] = None
    return list(out)


def redact_all(
    ordered_ids: Sequence[str],
    records: Mapping[str, Mapping[str, Any]],
    plan: FieldPlan,
    warranted: frozenset[str],
    hash_key: bytes,
) -> tuple[list[str], list[Mapping[str, Any]], list[dict[str, Any]]]:
    """(arrest ids returned, their full records, their redacted views), in query order."""
    ids = [i for i in ordered_ids if i in records]
    full = [records[i] for i in ids]
    views = [redact(records[i], plan, hash_key=hash_key, warrant_valid=i in warranted) for i in ids]
    return ids, full, views
