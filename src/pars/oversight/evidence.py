"""The evidence behind each finding, as a reader checks it: the entry and its inclusion proof.

For every audit index a report's findings cite, ``load_evidence`` reads the entry
(checked against the signed log, ``pars.audit.open_log``) and its RFC 9162
inclusion proof against the checkpoint the report names (``report["log"]["size"]``
and its root), so a reader can recompute the root from the leaf hash and the
proof alone (``pars.audit.verify_inclusion``). Evidence that does not prove
against that checkpoint is an error, never left out.

    rows = load_evidence(store, report)
    rows[101].proof_hex, rows[101].leaf_hash_hex, rows[101].user

Rule: show what the entry says and nothing looked up from the records: entries
hold ids and keyed hashes only, so filters appear by name, never by value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pars.audit import inclusion_proof, open_log
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
    """The report's tree and a row per cited index, each proved against the report's checkpoint.

    Raises ``NotFound`` for an index the checkpoint does not cover, ``LogMismatch`` for
    bytes that do not check.
    """
    size = int(report["log"]["size"])
    rows: dict[int, EvidenceRow] = {}
    with open_log(store, size=size) as view:
        root_hex = view.checkpoint.root_hex if view.checkpoint is not None else report["log"].get("root_hex")
        if report["log"].get("root_hex") not in (None, root_hex):
            raise ValueError(f"log.root_hex: the report's root is not the signed root of size {size}")
        for index in cited(report):
            stored = view.entry(index)
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
                proof_hex=tuple(p.hex() for p in inclusion_proof(view.conn, index, size)),
            )
    return Tree(size, str(root_hex)), rows


def finding_bundles(
    store: Store, report: dict[str, Any], folder: Path, verifier_key: str | None = None
) -> list[Path]:
    """One evidence bundle per finding in ``folder``, each against the report's checkpoint:
    ``finding-NN-<kind>-<user or agency>.json`` (NN as numbered in the report)."""
    from pars.audit.evidence import write_bundle

    folder.mkdir(parents=True, exist_ok=True)
    size = int(report["log"]["size"])
    paths = []
    for n, f in enumerate(report.get("findings", ()), start=1):
        if not f.get("evidence"):
            continue
        who = re.sub(r"[^A-Za-z0-9._-]+", "_", str(f.get("user") or f.get("agreement_id") or "agency"))
        path = folder / f"finding-{n:02d}-{f['kind']}-{who}.json"
        path.write_text(write_bundle(store, f["evidence"], verifier_key, size=size), encoding="utf-8")
        paths.append(path)
    return paths
