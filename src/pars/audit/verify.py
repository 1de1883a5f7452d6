"""``verify_log``: recompute the whole log from storage and name the first disagreement.

Streams the leaves in index order, one chunk of whole tiles at a time (memory
does not grow with the log), and checks, in order of index:

- ``missing``: the leaf indices run 0, 1, 2 … with no gap, up to the head size;
- ``entry``: SHA-256(0x00 ‖ stored entry bytes) equals the stored leaf hash;
- ``subtree``: every stored tile hash equals the recomputed subtree hash;
- ``checkpoint_signature``: every stored checkpoint is signed by the log key and
  says what its row says;
- ``consistency``: every checkpoint's root is the root of the recomputed tree at
  its size (so any two checkpoints are consistent), and the head agrees.

Rule: nothing stored is trusted; the only trusted input is the verifier key
(from the key directory unless given), and the first problem stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from hashlib import sha256
from typing import Any

from sqlalchemy import Connection, text

from pars.audit.extends import Kept, departure
from pars.audit.keys import load_keys
from pars.audit.merkle import EMPTY_ROOT
from pars.audit.note import CheckpointError, VerifierKey, open_note, parse_checkpoint_body
from pars.audit.scan import Chunk, log_chunks, snapshot
from pars.audit.tiles import TILE_HEIGHT, TILE_WIDTH, Frontier, edge_tiles, left_pieces, levels, split
from pars.store.db import Store

#: Leaves per read: whole tiles, so every full level-0 tile is checked in one go.
CHUNK = 64 * TILE_WIDTH
#: SHA-256 already fed 0x00: a copy fed the entry is SHA-256(0x00 ‖ entry) without
#: joining the bytes or making a new hash object.
_LEAF_PREFIX = sha256(b"\x00")


@dataclass(frozen=True, slots=True)
class Problem:
    """The first disagreement: the 0-based leaf index it concerns, its kind, and why."""

    index: int
    kind: str
    message: str
    #: For ``fork`` and ``cut`` (``verify --checkpoint``): the kept checkpoint's size it concerns.
    size: int | None = None


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    size: int
    root_hex: str | None
    leaves_checked: int
    checkpoints_checked: int
    problem: Problem | None
    #: The largest signed size whose leaves, tiles and checkpoint all checked: the whole
    #: ``size`` when ``ok``, else the last stored checkpoint before the problem (0 if none).
    verified_size: int = 0
    #: The kept checkpoints (``verify --checkpoint``) the stored log was checked to extend.
    kept: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Failed(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _fail(index: int, kind: str, message: str) -> _Failed:
    return _Failed(Problem(index, kind, message))


def _first_diff(a: list[bytes], b: list[bytes]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


class _Run:
    def __init__(self, conn: Connection, vkey: str, origin: str, size: int) -> None:
        self.conn = conn
        self.vkey = vkey
        self.key: VerifierKey | None = None
        self.origin = origin
        self.size = size
        self.upper = Frontier(0, {})  # tile roots (height 8) and everything above
        self.leaves = 0
        self.checkpoints = 0
        self.last_good = 0  # size of the last checkpoint that agreed
        self.tail: list[bytes] = []  # perfect subtrees of the last, partial level-0 tile

    def rows(self, sql: str, **params: Any) -> list[Any]:
        return list(self.conn.execute(text(sql), params).all())

    def chunk(self, data: Chunk) -> None:
        start, end = data.start, data.end
        # One pass over the rows: a second one costs as much again in cache misses.
        computed: list[bytes] = []
        stored: list[bytes] = []
        keep, keep_stored, start_leaf = computed.append, stored.append, _LEAF_PREFIX.copy
        for entry, leaf in data.rows:
            h = start_leaf()
            h.update(entry)
            keep(h.digest())
            keep_stored(leaf)
        if len(computed) != end - start:
            for offset, idx in enumerate([*data.indices(), end]):
                if idx != start + offset:
                    i = start + offset
                    raise _fail(i, "missing", f"no stored leaf at index {i} (log size {self.size})")
        if computed != stored:
            i = start + _first_diff(computed, stored)
            raise _fail(i, "entry", f"leaf {i}: stored entry bytes do not hash to the stored leaf hash")
        tiles, cps = data.tiles, data.checkpoints
        cp_i = 0
        for ts in range(start, end, TILE_WIDTH):
            te = min(ts + TILE_WIDTH, end)
            part = computed[ts - start : te - start]
            blob = tiles.get(ts // TILE_WIDTH)
            if blob is None or blob != b"".join(part):
                have = split(blob) if blob is not None and len(blob) % 32 == 0 else []
                i = ts + _first_diff(part, have)
                raise _fail(i, "subtree", f"leaf {i}: stored tile hash differs from the entry's hash")
            # Every node inside the tile, once: the tile's root and the right edge of
            # every checkpoint that ends in it are read off these levels.
            nodes = levels(part)
            while cp_i < len(cps) and cps[cp_i][0] <= te:
                self.checkpoint(cps[cp_i], left_pieces(nodes, cps[cp_i][0] - ts))
                cp_i += 1
            if te - ts == TILE_WIDTH:
                self.upper.push_hash(nodes[TILE_HEIGHT][0], TILE_HEIGHT)
                self.compare_upper()
            else:
                self.tail = left_pieces(nodes, te - ts)
        self.leaves = end

    def checkpoint(self, row: tuple[int, bytes, str], tail: list[bytes]) -> None:
        """Check one stored checkpoint; ``tail`` is the right edge below the last full tile."""
        size, root, note = row
        try:
            if self.key is None:  # parsed once for the run, not once per checkpoint
                self.key = VerifierKey.parse(self.vkey)
            origin, signed_size, signed_root = parse_checkpoint_body(open_note(note, [self.key]).text)
        except CheckpointError as exc:
            raise _fail(
                max(size - 1, 0), "checkpoint_signature", f"checkpoint at size {size}: {exc}"
            ) from None
        if (origin, signed_size, signed_root) != (self.origin, size, root):
            raise _fail(
                max(size - 1, 0),
                "checkpoint_signature",
                f"checkpoint at size {size}: signed note does not match its stored row",
            )
        if self.upper.root_with(tail) != root:
            raise _fail(
                self.last_good,
                "consistency",
                f"checkpoint at size {size} is not consistent with the log: an entry in "
                f"[{self.last_good}, {size}) differs from what was signed",
            )
        self.last_good = size
        self.checkpoints += 1

    def compare_upper(self) -> None:
        if not self.upper.full:
            return
        for level, idx, blob in self.upper.full:
            self.compare_tile(level, idx, blob)
        self.upper.full.clear()

    def compare_tile(self, level: int, idx: int, blob: bytes) -> None:
        rows = self.rows("SELECT hashes FROM audit_tiles WHERE level = :l AND idx = :i", l=level, i=idx)
        stored = bytes(rows[0][0]) if rows else b""
        if stored != blob:
            pos = _first_diff(split(blob), split(stored) if len(stored) % 32 == 0 else [])
            i = (idx * TILE_WIDTH + pos) << (8 * level)
            raise _fail(i, "subtree", f"stored subtree hash (tile {level}/{idx}) covering leaf {i} differs")

    def finish(self, head_root: bytes) -> bytes:
        root = self.upper.root_with(self.tail) if self.size else EMPTY_ROOT
        # Partial tiles above level 0 (level 0's partial tile was compared with its chunk).
        for level, idx in edge_tiles(self.size):
            if level > 0:
                self.compare_tile(level, idx, b"".join(self.upper.bufs.get(level, [])))
        extra = self.rows("SELECT MIN(idx) FROM audit_leaves WHERE idx >= :n", n=self.size)
        if extra and extra[0][0] is not None:
            i = int(extra[0][0])
            raise _fail(i, "missing", f"leaf {i} is stored beyond the head size {self.size}")
        beyond = self.rows("SELECT MIN(size) FROM audit_checkpoints WHERE size > :n", n=self.size)
        if beyond and beyond[0][0] is not None:
            raise _fail(
                self.size,
                "missing",
                f"log truncated: a checkpoint at size {beyond[0][0]} but only {self.size} leaves",
            )
        if root != head_root:
            raise _fail(self.last_good, "consistency", "the head's root is not the log's root")
        return root


def verify_log(
    store: Store,
    verifier_key: str | None = None,
    *,
    key_dir: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    kept: Sequence[Kept] = (),
) -> VerifyResult:
    """Recompute the log from storage; ``ok`` is False with the first ``problem`` if not.

    ``verifier_key`` defaults to the public half of the key in ``key_dir``
    (``PARS_KEY_DIR``). ``progress(done, total)`` is called after every chunk.
    """
    vkey = verifier_key or load_keys(key_dir).verifier_key
    with snapshot(store) as conn:
        result = verify_in(store, conn, vkey, progress=progress)
        if not kept:
            return result
        shown = tuple(
            {"size": k.checkpoint.size, "root_hex": k.checkpoint.root_hex, "cosigned_by": list(k.cosigned_by)}
            for k in kept
        )
        result = replace(result, kept=shown)
        origin = conn.execute(text("SELECT origin FROM audit_head WHERE id = 1")).scalar()
        other = [k for k in kept if origin is not None and k.checkpoint.origin != origin]
        if other:
            cp = other[0].checkpoint
            problem = Problem(
                0, "origin", f"the kept checkpoint is for log {cp.origin!r}, not {origin!r}", cp.size
            )
            return replace(result, ok=False, root_hex=None, problem=problem)
        if not result.ok:
            return result
        gone = departure(conn, result.size, kept)
    if gone is None:
        return result
    problem = Problem(gone.index, gone.kind, gone.message, gone.size)
    return replace(result, ok=False, root_hex=None, problem=problem)


def verify_in(
    store: Store,
    conn: Connection,
    vkey: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """``verify_log`` on the caller's snapshot ``conn`` (from ``scan.snapshot``), so that what
    the caller reads next in it is exactly what was verified."""
    head = conn.execute(text("SELECT origin, size, root FROM audit_head WHERE id = 1")).first()
    if head is None:
        return VerifyResult(True, 0, EMPTY_ROOT.hex(), 0, 0, None, 0)
    run = _Run(conn, vkey, str(head[0]), int(head[1]))
    # The head may itself be truncated: the log is as long as the longest of the
    # head, the stored leaves and the signed checkpoints, so missing leaves are named.
    stored_max = conn.execute(text("SELECT MAX(idx) FROM audit_leaves")).scalar()
    signed_max = conn.execute(text("SELECT MAX(size) FROM audit_checkpoints")).scalar()
    run.size = max(
        run.size,
        0 if stored_max is None else int(stored_max) + 1,
        0 if signed_max is None else int(signed_max),
    )
    try:
        for data in log_chunks(store, conn, run.size, CHUNK):
            run.chunk(data)
            if progress is not None:
                progress(run.leaves, run.size)
        root = run.finish(bytes(head[2]))
    except _Failed as failed:
        return VerifyResult(
            False, run.size, None, run.leaves, run.checkpoints, failed.problem, _good(run, failed.problem)
        )
    if int(head[1]) != run.size:
        problem = Problem(int(head[1]), "consistency", "the head's size is not the log's size")
        return VerifyResult(False, run.size, None, run.leaves, run.checkpoints, problem, _good(run, problem))
    return VerifyResult(True, run.size, root.hex(), run.leaves, run.checkpoints, None, run.size)


def _good(run: _Run, problem: Problem) -> int:
    # A checkpoint that agreed, below the problem's index: everything under it checked.
    return run.last_good if run.last_good <= problem.index else 0
