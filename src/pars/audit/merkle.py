"""RFC 6962 / RFC 9162 Merkle tree hashing, proof planning and proof verification.

Pure: values in, values out. The proof *planners* say which ranges of leaves a
proof needs (``inclusion_ranges``, ``consistency_ranges``); the in-memory helpers
here and the stored log (``pars.audit.proofs``) both fill those ranges, so proofs from
storage are the same bytes as proofs from a list of leaf hashes.

Rule: the verifiers never raise and never trust their input — wrong types, wrong
lengths, negative or huge numbers all give ``False``.

>>> root = root_hash([leaf_hash(b"a"), leaf_hash(b"b")])
>>> verify_inclusion(leaf_hash(b"b"), 1, 2, [leaf_hash(b"a")], root)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()
#: Sizes and indices are uint64 in every RFC 9162 encoding; beyond that is malformed.
MAX_SIZE = 1 << 64
#: A proof for a tree of < 2**64 leaves never has more than 2 * 64 nodes.
MAX_PROOF_NODES = 128

Range = tuple[int, int]
#: A perfect subtree: (height, index at that height); covers [index << height, (index+1) << height).
Node = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): the hash of one log entry."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"leaf_hash takes bytes, not {type(data).__name__}")
    return sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node."""
    return sha256(b"\x01" + left + right).digest()


def _check_hashes(hashes: object, what: str) -> list[bytes]:
    if not isinstance(hashes, list | tuple):
        raise TypeError(f"{what} must be a list of 32-byte hashes")
    out: list[bytes] = []
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ValueError(f"{what}[{i}] is not a 32-byte hash")
        out.append(bytes(h))
    return out


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree (``len(hashes)`` a power of two), bottom-up."""
    level = list(hashes)
    while len(level) > 1:
        level = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def fold_right(subtrees: Sequence[bytes]) -> bytes:
    """Root of a range given its perfect subtrees left to right (largest first).

    This is MTH of a left-balanced range: the last two combine first.
    """
    acc = subtrees[-1]
    for h in reversed(subtrees[:-1]):
        acc = sha256(b"\x01" + h + acc).digest()
    return acc


def root_hash(leaf_hashes: list[bytes]) -> bytes:
    """MTH of a list of leaf hashes (RFC 6962 2.1); size 0 gives SHA-256 of b""."""
    hashes = _check_hashes(leaf_hashes, "leaf_hashes")
    if not hashes:
        return EMPTY_ROOT
    return _range_root(hashes, 0, len(hashes))


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees making up [start, end), largest first.

    Only meaningful for ranges that occur in RFC 6962 trees, where ``start`` is a
    multiple of the largest power of two not above ``end - start``.
    """
    nodes: list[Node] = []
    pos = start
    remaining = end - start
    while remaining:
        height = remaining.bit_length() - 1
        nodes.append((height, pos >> height))
        pos += 1 << height
        remaining -= 1 << height
    return nodes


def _range_root(hashes: Sequence[bytes], start: int, end: int) -> bytes:
    parts = [perfect_root(hashes[i << h : (i + 1) << h]) for h, i in range_nodes(start, end)]
    return fold_right(parts)


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Leaf ranges whose roots form PATH(index, D[0:size]), bottom-up (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not below size {size}")
    out: list[Range] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m = start + k, m - k
    out.reverse()
    return out


def consistency_ranges(old: int, new: int) -> list[Range]:
    """Leaf ranges whose roots form PROOF(old, D[0:new]) (RFC 9162 2.1.4.1), 0 < old <= new."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    out: list[Range] = []
    start, end, m, whole = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                out.append((start, end))
            break
        k = _split(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m, whole = start + k, m - k, False
    out.reverse()
    return out


def fill(ranges: Sequence[Range], node: Callable[[Node], bytes]) -> list[bytes]:
    """Turn planned ranges into proof hashes, asking ``node`` for each perfect subtree."""
    return [fold_right([node(n) for n in range_nodes(a, b)]) for a, b in ranges]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """PATH(index, D[0:size]) computed from all the leaf hashes in memory."""
    n = len(leaf_hashes) if size is None else size
    return [_range_root(leaf_hashes, a, b) for a, b in inclusion_ranges(index, n)]


def consistency_proof(leaf_hashes: Sequence[bytes], old: int, new: int | None = None) -> list[bytes]:
    """PROOF(old, D[0:new]) computed from all the leaf hashes in memory."""
    n = len(leaf_hashes) if new is None else new
    return [_range_root(leaf_hashes, a, b) for a, b in consistency_ranges(old, n)]


def _is_uint64(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < MAX_SIZE


def _is_hash(x: object) -> bool:
    return isinstance(x, bytes | bytearray) and len(x) == HASH_SIZE


def _proof_ok(proof: object) -> bool:
    return (
        isinstance(proof, list | tuple) and len(proof) <= MAX_PROOF_NODES and all(_is_hash(p) for p in proof)
    )


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: is ``leaf_hash`` at ``index`` in the tree of ``size`` with ``root``?

    Take ``size`` and ``root`` from a verified checkpoint: a proof alone does not
    fix the tree it belongs to.
    """
    if not (
        _is_hash(leaf_hash) and _is_uint64(index) and _is_uint64(size) and _proof_ok(proof) and _is_hash(root)
    ):
        return False
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(bytes(p), r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, bytes(p))
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == bytes(root)


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2: is the tree (size1, root1) a prefix of (size2, root2)?

    Equal sizes verify only with an empty proof and equal roots; size 0 never
    verifies (RFC 9162 defines proofs for 0 < size1 only).
    """
    if not (
        _is_uint64(size1) and _is_uint64(size2) and _is_hash(root1) and _is_hash(root2) and _proof_ok(proof)
    ):
        return False
    r1, r2 = bytes(root1), bytes(root2)
    path = [bytes(p) for p in proof]
    if size1 == 0 or size1 > size2:
        return False
    if size1 == size2:
        return not path and r1 == r2
    if not path:
        return False
    if size1 & (size1 - 1) == 0:
        path.insert(0, r1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == r1 and sr == r2 and sn == 0
