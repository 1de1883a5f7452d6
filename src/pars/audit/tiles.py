"""Tile arithmetic and the right edge of a growing tree. Pure.

Tiles (C2SP tlog-tiles layout, height 8): tile (L, N) holds the node hashes at
height 8·L with indices 256·N … 256·N+255, concatenated; the last tile of each
level may be partial. A perfect subtree of height h lies inside exactly one tile,
(h // 8, …), whose stored hashes give it with at most 127 hashing steps.

``Frontier`` is the compact range of a tree (its perfect subtrees, largest
first) plus the partial tile of every level: enough to append, to emit the tiles
that changed and to give the root at the current size.

Rule: a tile only ever grows at its right end; a full tile never changes.
"""

from __future__ import annotations

from hashlib import sha256

from pars.audit.merkle import EMPTY_ROOT, HASH_SIZE, fold_right, perfect_root

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
Node = tuple[int, int]
TileKey = tuple[int, int]


def split(blob: bytes) -> list[bytes]:
    """A tile's concatenated hashes, one by one."""
    if len(blob) % HASH_SIZE:
        raise ValueError("a tile's length is not a multiple of 32")
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def tile_of(node: Node) -> TileKey:
    """The tile holding the base hashes of perfect subtree ``(height, index)``."""
    height, index = node
    level, within = divmod(height, TILE_HEIGHT)
    return level, (index << within) >> TILE_HEIGHT


def node_from_tile(node: Node, blob: bytes) -> bytes:
    """The hash of ``node`` computed from its tile's stored hashes."""
    height, index = node
    within = height % TILE_HEIGHT
    first = (index << within) % TILE_WIDTH
    count = 1 << within
    part = blob[first * HASH_SIZE : (first + count) * HASH_SIZE]
    if len(part) != count * HASH_SIZE:
        raise ValueError("tile too short for the requested subtree")
    return perfect_root(split(part))


def edge_width(size: int, level: int) -> int:
    """How many hashes the rightmost tile of ``level`` holds at tree ``size``."""
    return (size >> (TILE_HEIGHT * level)) % TILE_WIDTH


def edge_tiles(size: int) -> list[TileKey]:
    """The partial (rightmost, not full) tiles of a tree of ``size``."""
    out: list[TileKey] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        if count % TILE_WIDTH:
            out.append((level, count >> TILE_HEIGHT))
        level += 1
    return out


def pieces(hashes: list[bytes], height: int) -> list[tuple[int, bytes]]:
    """The perfect subtrees of a left-aligned run of hashes at ``height``, largest first."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    w = len(hashes)
    for k in range(w.bit_length() - 1, -1, -1):
        if w & (1 << k):
            out.append((height + k, perfect_root(hashes[pos : pos + (1 << k)])))
            pos += 1 << k
    return out


#: SHA-256 already fed 0x01. Copying it and feeding it the two children costs a
#: fifth less per node than joining the 65 bytes into a new hash object (measured).
_NODE_PREFIX = sha256(b"\x01")


def levels(hashes: list[bytes]) -> list[list[bytes]]:
    """Every level of nodes over a left-aligned run of hashes, bottom-up.

    ``levels(h)[k][i]`` is the perfect subtree of height ``k`` with index ``i`` over
    ``h``; a level's last node is left unpaired when its count is odd, so every
    node lies wholly inside the run.
    """
    out = [hashes]
    level = hashes
    start = _NODE_PREFIX.copy
    while len(level) > 1:
        pairs = iter(level)
        level = []
        keep = level.append
        for left, right in zip(pairs, pairs, strict=False):  # an odd last node stays unpaired
            h = start()
            h.update(left)
            h.update(right)
            keep(h.digest())
        out.append(level)
    return out


def left_pieces(levels: list[list[bytes]], width: int) -> list[bytes]:
    """The perfect subtrees of the first ``width`` hashes of ``levels[0]``, largest first."""
    out: list[bytes] = []
    pos = 0
    for k in range(width.bit_length() - 1, -1, -1):
        if width & (1 << k):
            out.append(levels[k][pos >> k])
            pos += 1 << k
    return out


class Frontier:
    """The right edge of a tree: append hashes, then ask for its root and changed tiles."""

    def __init__(self, size: int, edge: dict[int, list[bytes]]) -> None:
        self.size = size
        self.stack: list[tuple[int, bytes]] = []
        self.bufs: dict[int, list[bytes]] = {}
        self.counts: dict[int, int] = {}
        self.loaded = set(edge_tiles(size))
        self.full: list[tuple[int, int, bytes]] = []
        self.touched: set[int] = set()
        top = 0
        while size >> (TILE_HEIGHT * top):
            top += 1
        for level in range(top - 1, -1, -1):
            buf = list(edge.get(level, []))
            self.bufs[level] = buf
            self.counts[level] = size >> (TILE_HEIGHT * level)
            self.stack.extend(pieces(buf, TILE_HEIGHT * level))

    def _base(self, level: int, h: bytes) -> None:
        buf = self.bufs.setdefault(level, [])
        count = self.counts.get(level, 0)
        self.counts[level] = count + 1
        buf.append(h)
        self.touched.add(level)
        if len(buf) == TILE_WIDTH:
            self.full.append((level, count >> TILE_HEIGHT, b"".join(buf)))
            buf.clear()

    def push_hash(self, h: bytes, height: int = 0) -> None:
        """Append a perfect subtree of ``height`` (0 for a leaf hash) at the right end."""
        self.size += 1 << height
        if height % TILE_HEIGHT == 0:
            self._base(height // TILE_HEIGHT, h)
        stack = self.stack
        while stack and stack[-1][0] == height:
            left = stack.pop()[1]
            h = sha256(b"\x01" + left + h).digest()
            height += 1
            if height % TILE_HEIGHT == 0:
                self._base(height // TILE_HEIGHT, h)
        stack.append((height, h))

    def push(self, data: bytes) -> bytes:
        """Append one entry's bytes; returns its leaf hash."""
        lh = sha256(b"\x00" + data).digest()
        self.push_hash(lh, 0)
        return lh

    def root(self, tail: list[bytes] | None = None) -> bytes:
        """The root now, or with ``tail`` leaf hashes appended (tail must fit one tile)."""
        return self.root_with([h for _, h in pieces(tail, 0)] if tail else [])

    def root_with(self, tail_pieces: list[bytes]) -> bytes:
        """The root with the perfect subtrees ``tail_pieces`` appended (largest first,
        each smaller than the frontier's smallest), as ``left_pieces`` gives them."""
        parts = [h for _, h in self.stack]
        parts.extend(tail_pieces)
        return fold_right(parts) if parts else EMPTY_ROOT

    def resumed(self) -> Frontier:
        """A fresh frontier at this one's size, as ``Frontier(size, edge())`` would be (no
        tiles touched yet), without recomputing the subtrees of its edge."""
        new = Frontier(0, {})
        new.size = self.size
        new.stack = list(self.stack)
        new.bufs = {level: list(buf) for level, buf in self.bufs.items()}
        new.counts = dict(self.counts)
        new.loaded = set(edge_tiles(self.size))
        return new

    def edge(self) -> dict[int, list[bytes]]:
        """The partial tiles now at the right edge, as ``Frontier`` takes them."""
        return {level: list(buf) for level, buf in self.bufs.items() if buf}

    def dirty_tiles(self) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, int, bytes]]]:
        """Tiles to insert and tiles to update since the frontier was loaded."""
        changed = list(self.full)
        for level in sorted(self.touched):
            buf = self.bufs[level]
            if buf:
                changed.append((level, self.counts[level] >> TILE_HEIGHT, b"".join(buf)))
        inserts = [t for t in changed if (t[0], t[1]) not in self.loaded]
        updates = [t for t in changed if (t[0], t[1]) in self.loaded]
        return inserts, updates
