"""A small in-memory log for the C2SP tests: leaves, signed checkpoints, proofs, tiles.

Built only from the pure audit modules, so the witness and monitor tests need no store.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pars.audit.merkle import consistency_proof, leaf_hash, root_hash
from pars.audit.note import public_key_bytes, sign_checkpoint, verifier_key
from pars.audit.tilepath import TILE_HEIGHT, tile_path, tiles_for_size
from pars.audit.tiles import levels


class MemoryLog:
    """A log whose leaf i is ``{"i":i,"kat":"pars"}`` (as in the KAT), signed by its own key."""

    def __init__(self, origin: str = "example.gov/pars/audit", key: Ed25519PrivateKey | None = None) -> None:
        self.origin = origin
        self.key = key or Ed25519PrivateKey.generate()
        self.leaves: list[bytes] = []

    @property
    def vkey(self) -> str:
        return verifier_key(self.origin, public_key_bytes(self.key))

    def entry(self, i: int) -> bytes:
        return b'{"i":%d,"kat":"pars"}' % i

    def grow(self, size: int, tag: bytes = b"") -> MemoryLog:
        """Append leaves up to ``size``; ``tag`` makes a different (forked) history."""
        while len(self.leaves) < size:
            self.leaves.append(leaf_hash(self.entry(len(self.leaves)) + tag))
        return self

    def root(self, size: int | None = None) -> bytes:
        n = len(self.leaves) if size is None else size
        return root_hash(self.leaves[:n])

    def checkpoint(self, size: int | None = None) -> str:
        n = len(self.leaves) if size is None else size
        return sign_checkpoint(self.origin, n, self.root(n), self.origin, self.key).note

    def consistency(self, old: int, new: int | None = None) -> list[bytes]:
        n = len(self.leaves) if new is None else new
        return consistency_proof(self.leaves, old, n) if 0 < old < n else []

    def tiles(self, size: int | None = None) -> dict[str, bytes]:
        """Every hash tile of the tree at ``size``, by path (full and partial)."""
        n = len(self.leaves) if size is None else size
        all_levels = levels(self.leaves[:n]) if n else [[]]
        out: dict[str, bytes] = {}
        for tile in tiles_for_size(n):
            height = TILE_HEIGHT * tile.level
            row = all_levels[height]
            start = tile.index * 256
            out[tile_path(tile.level, tile.index, tile.width)] = b"".join(row[start : start + tile.width])
        return out
