"""The evidence behind each finding, as a reader checks it: the entry and its inclusion proof.

For every audit index a report's findings cite, ``load_evidence`` reads the stored
entry and its RFC 9162 inclusion proof against the tree the report states
(``report["log"]["size"]`` and its root), so a reader can recompute the root from
the leaf hash and the proof alone (``pars.audit.verify_inclusion``).

    rows = load_evidence(store, report)
    rows[101].proof_hex, rows[101].leaf_hash_hex, rows[101].user

Rule: show what the entry says and nothing looked up from the records: entries
hold ids and keyed hashes only, so filters appear by name, never by value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pars.audit import get_entry, inclusion_proof, root_at
from pars.store.db import Store


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """One cited audit entry, as the report's evidence tables show it."""

    index: int
    time: str
    user: str | None
    agency: str | None
    action: str
    decision: str
    rule: str | None
    purpose: str | None
    case_number: str | None
    justification: str | None
    filters: tuple[str, ...]
    records: int
    leaf_hash_hex: str
    proof_hex: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tree:
    """The tree the report's proofs are against."""

    size: int
    root_hex: str


def cited(report: dict[str, Any]) -> list[int]:
    """Every audit index any finding cites, ascending, once."""
    return sorted({i for f in report.get("findings", ()) for i in f.get("evidence", ())})


def load_evidence(store: Store, report: dict[str, Any]) -> tuple[Tree, dict[int, EvidenceRow]]:
    """The report's tree and a row per cited index (entries past the tree's size are left out)."""
    size = int(report["log"]["size"])
    rows: dict[int, EvidenceRow] = {}
    with store.read() as conn:
        root_hex = report["log"].get("root_hex") or root_at(conn, size).hex()
        for index in cited(report):
            if index >= size:
                continue
            stored = get_entry(conn, index)
            doc = stored.document()
            rows[index] = EvidenceRow(
                index=index,
                time=str(doc["time"]),
                user=doc.get("user"),
                agency=doc.get("agency"),
                action=str(doc.get("action")),
                decision=str(doc.get("decision")),
                rule=doc.get("rule"),
                purpose=doc.get("purpose"),
                case_number=doc.get("case_number"),
                justification=doc.get("justification"),
                filters=tuple(sorted(doc.get("filters") or {})),
                records=len(doc.get("arrest_ids") or ()),
                leaf_hash_hex=stored.leaf_hash.hex(),
                proof_hex=tuple(p.hex() for p in inclusion_proof(conn, index, size)),
            )
    return Tree(size, str(root_hex)), rows
