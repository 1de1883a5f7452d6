"""Evidence bundles: audit entries anyone can check offline with the public keys (CONTRACT 9.4).

A bundle is one JSON file (UTF-8, ``.json``)::

    {"format": "pars-evidence-bundle/v1",
     "checkpoint": "<the published checkpoint: signed note with its cosignatures>",
     "entries": [{"index": 101,
                  "entry_b64": "<the entry's canonical (RFC 8785) bytes, base64>",
                  "leaf_hash_hex": "<SHA-256(0x00 || bytes)>",
                  "tlog_proof": "c2sp.org/tlog-proof@v1\\nindex 101\\n...\\n\\n<checkpoint>",
                  "entry": {...the same bytes decoded, for reading...}}, ...]}

Every ``tlog_proof`` is a complete C2SP tlog-proof@v1 against the one
``checkpoint``, so any C2SP verifier checks an entry from its bytes and its proof
alone: write ``tlog_proof`` to ``entry.tlog-proof`` and ``entry_b64`` decoded to a
file, and give both with the log's and witnesses' keys. ``check_bundle`` does
exactly that for each entry, with CONTRACT 8's functions, and also holds the
readable ``entry`` to the bytes (a reader is never shown what was not proved).

    checked = check_bundle(text, log_key, witness_keys=[courts, civic], quorum=2)

Pure: no store, no SQLAlchemy (a court's laptop runs it). Rule: only
``entry_b64`` and ``tlog_proof`` are evidence; every other field must agree with
them or the bundle is refused, naming the index.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pars.audit.merkle import leaf_hash
from pars.audit.note import CheckpointError
from pars.audit.tlogproof import VerifiedProof, format_proof, parse_proof, verify_proof

FORMAT = "pars-evidence-bundle/v1"
#: A bundle larger than this is refused before parsing (about 2,000 full-size entries).
MAX_BUNDLE_BYTES = 256 << 20


class BundleError(CheckpointError):
    """A bundle, or one entry in it, that does not prove what it says (``index`` names it)."""

    code = "bad_bundle"

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message if index is None else f"entry {index}: {message}")
        self.index = index


@dataclass(frozen=True, slots=True)
class BundleItem:
    """One entry for ``make_bundle``: its index, exact bytes and inclusion proof."""

    index: int
    entry: bytes
    proof: Sequence[bytes]


def make_bundle(checkpoint_note: str, items: Sequence[BundleItem]) -> str:
    """The bundle text for ``items``, each proved against ``checkpoint_note`` (cosignatures kept)."""
    entries = []
    for item in sorted(items, key=lambda i: i.index):
        entries.append(
            {
                "index": item.index,
                "entry_b64": base64.b64encode(item.entry).decode("ascii"),
                "leaf_hash_hex": leaf_hash(item.entry).hex(),
                "tlog_proof": format_proof(item.index, list(item.proof), checkpoint_note),
                "entry": json.loads(item.entry),
            }
        )
    doc = {"format": FORMAT, "checkpoint": checkpoint_note, "entries": entries}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _load(text: str | bytes) -> dict[str, Any]:
    if len(text) > MAX_BUNDLE_BYTES:
        raise BundleError("the bundle is too large")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise BundleError("not a JSON evidence bundle") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BundleError(f"not an evidence bundle: format must be {FORMAT!r}")
    if not isinstance(doc.get("checkpoint"), str):
        raise BundleError("checkpoint: missing (the signed note every proof is against)")
    if not isinstance(doc.get("entries"), list) or not doc["entries"]:
        raise BundleError("entries: missing or empty")
    return doc


def _entry_bytes(item: dict[str, Any], index: int) -> bytes:
    try:
        return base64.b64decode(str(item.get("entry_b64")), validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("entry_b64 is not base64", index) from None


def check_bundle(
    text: str | bytes,
    log_key: str,
    *,
    witness_keys: Sequence[str] = (),
    quorum: int | None = None,
) -> list[VerifiedProof]:
    """Check every entry of a bundle; the verified proofs, in order.

    ``quorum`` (default: every witness given) valid cosignatures from ``witness_keys``
    must be on the checkpoint. Raises ``BundleError`` naming the first failing index.
    """
    doc = _load(text)
    need = len(set(witness_keys)) if quorum is None else quorum
    out: list[VerifiedProof] = []
    seen: set[int] = set()
    for n, item in enumerate(doc["entries"]):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("index"), int)
            or isinstance(item["index"], bool)
        ):
            raise BundleError(f"entries[{n}]: needs an integer index")
        index = int(item["index"])
        if index in seen:
            raise BundleError("listed twice", index)
        seen.add(index)
        data = _entry_bytes(item, index)
        if not isinstance(item.get("tlog_proof"), str):
            raise BundleError("tlog_proof: missing", index)
        try:
            proof = parse_proof(item["tlog_proof"])
            if proof.index != index:
                raise BundleError(f"its tlog-proof is for index {proof.index}", index)
            if proof.checkpoint != doc["checkpoint"]:
                raise BundleError("its tlog-proof is against another checkpoint than the bundle's", index)
            verified = verify_proof(
                proof, log_key=log_key, entry=data, witness_keys=witness_keys, quorum=need
            )
        except BundleError:
            raise
        except CheckpointError as exc:
            raise BundleError(str(exc), index) from None
        if item.get("leaf_hash_hex", verified.leaf_hash.hex()) != verified.leaf_hash.hex():
            raise BundleError("leaf_hash_hex is not the hash of its bytes", index)
        if "entry" in item:
            try:
                decoded = json.loads(data)
            except ValueError:
                raise BundleError("its bytes are not JSON", index) from None
            if decoded != item["entry"]:
                raise BundleError("the readable entry is not what its bytes say", index)
        out.append(verified)
    return out
