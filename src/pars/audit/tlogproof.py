"""C2SP tlog-proof@v1: an entry's offline proof of inclusion (a ``.tlog-proof`` text).

Layout, byte for byte::

    c2sp.org/tlog-proof@v1
    extra <base64>            (optional, unauthenticated)
    index <decimal>
    <base64 hash>             (zero or more: the RFC 6962 inclusion path, leaf side first)

    <the checkpoint note, verbatim, with its log signature and cosignatures>

Usage (what ``evidence`` builds on)::

    text = format_proof(index, proof_hashes, checkpoint_note)          # the route's body
    proof = parse_proof(text)                                           # TlogProof, syntax only
    ok = verify_proof(text, log_key=vkey, entry=entry_bytes,            # or leaf_hash=...
                      witness_keys=[w1, w2], quorum=2)                  # -> VerifiedProof

``verify_proof`` does the spec's four steps: the leaf hash (from ``entry`` or
given), the log's signature on the checkpoint (its origin must be the log key's
name unless ``origin`` says otherwise), ``quorum`` valid cosignatures from
``witness_keys``, then the inclusion proof against the checkpoint's root.

Pure. Rule: ``verify_proof`` returns only when all four steps hold; every failure
raises ``TlogProofError`` naming the step.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pars.audit.cosignature import CosignerKey, require_quorum
from pars.audit.merkle import leaf_hash as _leaf_hash
from pars.audit.merkle import verify_inclusion
from pars.audit.note import (
    CheckpointError,
    VerifierKey,
    b64decode_strict,
    open_note,
    parse_checkpoint_body,
    parse_note,
)

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")
#: An inclusion path in a tree of < 2^64 leaves has at most 64 hashes.
MAX_PROOF_HASHES = 64


class TlogProofError(CheckpointError):
    """A tlog-proof that is malformed or does not prove what it claims."""

    code = "bad_tlog_proof"


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed tlog-proof: index, inclusion path, checkpoint note, optional extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def format(self) -> str:
        return format_proof(self.index, list(self.proof), self.checkpoint, self.extra)


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """What a verified proof establishes: this leaf is at ``index`` in the tree (origin, size, root)."""

    index: int
    leaf_hash: bytes
    origin: str
    size: int
    root: bytes
    cosignatures: dict[str, int]  # witness name -> timestamp
    extra: bytes | None


def format_proof(index: int, proof: Sequence[bytes], checkpoint_note: str, extra: bytes | None = None) -> str:
    """The tlog-proof@v1 text for ``index`` with ``proof`` against ``checkpoint_note``."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1 << 64:
        raise TlogProofError("index must be an integer between 0 and 2^64 - 1")
    if len(proof) > MAX_PROOF_HASHES or any(len(h) != 32 for h in proof):
        raise TlogProofError("proof must be at most 64 hashes of 32 bytes")
    parse_note(checkpoint_note)
    lines = [HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode())
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(bytes(h)).decode() for h in proof)
    return "\n".join(lines) + "\n\n" + checkpoint_note


def parse_proof(text: str | bytes) -> TlogProof:
    """Parse a tlog-proof@v1 text strictly (signatures and inclusion are not checked)."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise TlogProofError("tlog-proof is not valid UTF-8") from None
    if not isinstance(text, str):
        raise TlogProofError("tlog-proof must be text")
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise TlogProofError("tlog-proof has no blank line before its checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise TlogProofError(f"tlog-proof must start with the line {HEADER}")
    pos = 1
    extra: bytes | None = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        try:
            extra = b64decode_strict(lines[pos][len("extra ") :])
        except ValueError:
            raise TlogProofError("tlog-proof extra line is not base64") from None
        pos += 1
    if pos >= len(lines) or not _INDEX.fullmatch(lines[pos]):
        raise TlogProofError("tlog-proof needs the line 'index N' (decimal, no leading zeroes)")
    index = int(lines[pos][len("index ") :])
    if index >= 1 << 64:
        raise TlogProofError("tlog-proof index is beyond 2^64 - 1")
    hashes: list[bytes] = []
    for i, line in enumerate(lines[pos + 1 :]):
        try:
            h = b64decode_strict(line)
        except ValueError:
            raise TlogProofError(f"tlog-proof hash line {i + 1} is not base64") from None
        if len(h) != 32:
            raise TlogProofError(f"tlog-proof hash line {i + 1} is not a 32-byte hash")
        hashes.append(h)
    if len(hashes) > MAX_PROOF_HASHES:
        raise TlogProofError("tlog-proof has more than 64 hashes")
    try:
        parse_checkpoint_body(parse_note(checkpoint).text)
    except CheckpointError as exc:
        raise TlogProofError(f"tlog-proof checkpoint: {exc}") from None
    return TlogProof(index, tuple(hashes), checkpoint, extra)


def verify_proof(
    proof: str | bytes | TlogProof,
    *,
    log_key: str | VerifierKey,
    entry: bytes | None = None,
    leaf_hash: bytes | None = None,
    witness_keys: Iterable[str | CosignerKey] = (),
    quorum: int = 0,
    origin: str | None = None,
) -> VerifiedProof:
    """Verify a tlog-proof for one entry (give ``entry`` bytes or its ``leaf_hash``).

    ``origin`` is the checkpoint origin to accept (default: the log key's name,
    as PARS and tlog-tiles name keys after their log).
    """
    parsed = proof if isinstance(proof, TlogProof) else parse_proof(proof)
    if (entry is None) == (leaf_hash is None):
        raise TlogProofError("give exactly one of entry and leaf_hash")
    lh = _leaf_hash(entry) if entry is not None else bytes(leaf_hash or b"")
    if len(lh) != 32:
        raise TlogProofError("leaf_hash must be 32 bytes")
    try:
        log = log_key if isinstance(log_key, VerifierKey) else VerifierKey.parse(log_key)
        opened = open_note(parsed.checkpoint, [log])
        cp_origin, size, root = parse_checkpoint_body(opened.text)
    except CheckpointError as exc:
        raise TlogProofError(f"checkpoint: {exc}") from None
    expected = log.name if origin is None else origin
    if cp_origin != expected:
        raise TlogProofError(f"checkpoint origin {cp_origin!r} is not the log's {expected!r}")
    try:
        cosigned = require_quorum(parsed.checkpoint, log, witness_keys, quorum)
    except CheckpointError as exc:
        raise TlogProofError(f"witnesses: {exc}") from None
    if not verify_inclusion(lh, parsed.index, size, list(parsed.proof), root):
        raise TlogProofError(
            f"inclusion: entry {parsed.index} is not in the tree of size {size} with this proof"
        )
    return VerifiedProof(parsed.index, lh, cp_origin, size, root, cosigned, parsed.extra)
