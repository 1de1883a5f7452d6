"""Does the stored log extend a checkpoint someone kept? (CONTRACT 9.2, ``verify --checkpoint``)

A kept checkpoint — from a receipt, a witness, an earlier audit — is the
log key's signed word that the log had ``size`` entries with ``root``. The
stored log (verified first, in the same snapshot) extends it when its tree at
that size has that root. Otherwise, one of two things happened below it:

- a **cut**: the log now holds fewer entries than the kept checkpoint covers;
  the first missing index is the stored size;
- a **fork**: the stored tree at the kept size has another root. Where it forks
  is the smallest size at which the two trees disagree. A kept checkpoint gives
  the kept tree's root at its own size only, so that size is the smallest one
  *shown* to disagree; nothing stored can show an earlier one (stored
  checkpoints and tiles describe the stored tree, which is the one in question,
  and a consistency proof built from them re-derives the stored root). Several
  kept checkpoints narrow it: the fork lies after the largest kept size that
  agrees and at or before the smallest that does not, and both are named.

Rule: a kept checkpoint counts only with the log key's signature (and, when
witnesses are given, a quorum of their cosignatures); the stored checkpoints'
rows are never the reference, the kept notes are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pars.audit.cosignature import CosignerKey, require_quorum
from pars.audit.note import Checkpoint, CheckpointError, verify_checkpoint

if TYPE_CHECKING:
    from sqlalchemy import Connection


@dataclass(frozen=True, slots=True)
class Kept:
    """A kept checkpoint that verified: the tree head and the witnesses that cosigned it."""

    checkpoint: Checkpoint
    cosigned_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Departure:
    """How the stored log fails to extend the kept checkpoints: ``kind`` is ``cut`` or ``fork``.

    ``index``: the first missing index (cut), or the first index that may differ (fork:
    the largest kept size that agrees, 0 if none); ``size``: the kept size it concerns.
    """

    kind: str
    index: int
    size: int
    message: str


def note_of(text: str) -> str:
    """The checkpoint note in a kept file: the note itself, a receipt (JSON with ``checkpoint``),
    or a tlog-proof@v1 (the checkpoint after its blank line)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise CheckpointError("kept file: JSON that does not parse") from None
        note = data.get("checkpoint") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(data.get("receipt"), dict):
            note = data["receipt"].get("checkpoint")
        if not isinstance(note, str):
            raise CheckpointError("kept file: JSON without a checkpoint (a receipt has one)")
        return note
    if text.startswith("c2sp.org/tlog-proof@v1\n"):
        from pars.audit.tlogproof import parse_proof

        return parse_proof(text).checkpoint
    return text


def kept_checkpoint(
    text: str, log_key: str, witness_keys: Sequence[str] = (), quorum: int | None = None
) -> Kept:
    """Check a kept checkpoint: the log's signature, and ``quorum`` (default: all given)
    valid cosignatures from ``witness_keys``. Raises ``CheckpointError`` saying why not."""
    note = note_of(text)
    origin, size, root = verify_checkpoint(note, log_key)
    cosigned: tuple[str, ...] = ()
    if witness_keys or quorum:
        keys = [CosignerKey.parse(k) for k in witness_keys]
        need = len({k.name for k in keys}) if quorum is None else quorum
        cosigned = tuple(sorted(require_quorum(note, log_key, keys, need)))
    return Kept(Checkpoint(origin, size, root, note), cosigned)


def departure(conn: Connection, stored_size: int, kept: Iterable[Kept]) -> Departure | None:
    """Where the stored log (verified, of ``stored_size`` entries, in ``conn``'s snapshot)
    stops extending the kept checkpoints; None when it extends every one."""
    from pars.audit.proofs import root_at

    agree = 0
    for k in sorted(kept, key=lambda k: k.checkpoint.size):
        size, root = k.checkpoint.size, k.checkpoint.root
        if size > stored_size:
            return Departure(
                "cut",
                stored_size,
                size,
                f"the log was cut: it holds {stored_size} entries but a kept checkpoint covers {size}; "
                f"the first missing index is {stored_size}",
            )
        if size == 0:
            continue
        stored = root_at(conn, size)
        if stored != root:
            after = f"after size {agree} (a kept checkpoint agrees there)" if agree else "anywhere below it"
            return Departure(
                "fork",
                agree,
                size,
                f"the log forks from the kept checkpoint of size {size}: the stored tree at size {size} "
                f"has root {stored.hex()}, the kept one {root.hex()}; the trees disagree at size {size} "
                f"and may part {after}",
            )
        agree = size
    return None
