"""Merkle proofs as properties: generated proofs verify, any single bit flip fails,
and malformed input gives False instead of an exception."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pars.audit import leaf_hash, root_hash, verify_consistency, verify_inclusion
from pars.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    consistency_ranges,
    fill,
    inclusion_proof,
    inclusion_ranges,
    node_hash,
)
from pars.audit.tiles import (
    Frontier,
    edge_tiles,
    edge_width,
    left_pieces,
    levels,
    node_from_tile,
    pieces,
    split,
    tile_of,
)


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _inclusion_shape(index: int, size: int) -> list[bool] | None:
    """Which side each proof node sits on; sizes with the same shape share proofs."""
    if not 0 <= index < size:
        return None
    return [a > index for a, _ in inclusion_ranges(index, size)]


def _consistency_shape(old: int, new: int) -> list[bool] | None:
    if not 0 < old < new:
        return None
    return [a >= old for a, _ in consistency_ranges(old, new)]


def _flip(b: bytes, bit: int) -> bytes:
    arr = bytearray(b)
    arr[bit // 8 % len(arr)] ^= 1 << (bit % 8)
    return bytes(arr)


def test_root_hash_of_nothing_is_sha256_of_nothing() -> None:
    assert root_hash([]) == EMPTY_ROOT
    assert EMPTY_ROOT.hex().startswith("e3b0c442")


def test_root_hash_matches_the_rfc_recursion() -> None:
    def mth(d: list[bytes]) -> bytes:
        if len(d) == 1:
            return d[0]
        k = 1 << ((len(d) - 1).bit_length() - 1)
        return node_hash(mth(d[:k]), mth(d[k:]))

    for n in range(1, 70):
        assert root_hash(_leaves(n)) == mth(_leaves(n))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
    st.integers(0, 10_000),
)
def test_inclusion_proofs_verify_and_every_bit_flip_fails(nm: tuple[int, int], bit: int) -> None:
    n, m = nm
    leaves = _leaves(n)
    root = root_hash(leaves)
    proof = inclusion_proof(leaves, m)
    assert verify_inclusion(leaves[m], m, n, proof, root)
    if proof:
        i = bit % len(proof)
        bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_inclusion(leaves[m], m, n, bad, root)
    assert not verify_inclusion(leaves[m], m, n, proof, _flip(root, bit))
    assert not verify_inclusion(_flip(leaves[m], bit), m, n, proof, root)
    flipped_index = m ^ (1 << (bit % 12))
    assert not verify_inclusion(leaves[m], flipped_index, n, proof, root)
    # A proof does not fix the tree size (hence: take size and root from a signed
    # checkpoint). A flipped size can only pass where its proof has the same shape.
    flipped_size = n ^ (1 << (bit % 12))
    if verify_inclusion(leaves[m], m, flipped_size, proof, root):
        assert _inclusion_shape(m, flipped_size) == _inclusion_shape(m, n)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))), st.integers(0, 10_000)
)
def test_consistency_proofs_verify_and_every_bit_flip_fails(mn: tuple[int, int], bit: int) -> None:
    m, n = mn
    leaves = _leaves(n)
    r1, r2 = root_hash(leaves[:m]), root_hash(leaves)
    proof = consistency_proof(leaves, m)
    assert verify_consistency(m, n, r1, r2, proof)
    if proof:
        i = bit % len(proof)
        bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_consistency(m, n, r1, r2, bad)
    assert not verify_consistency(m, n, _flip(r1, bit), r2, proof)
    assert not verify_consistency(m, n, r1, _flip(r2, bit), proof)
    for s1, s2 in ((m ^ (1 << (bit % 12)), n), (m, n ^ (1 << (bit % 12)))):
        if verify_consistency(s1, s2, r1, r2, proof):
            # As for inclusion: sizes come from signed checkpoints, not from proofs.
            assert _consistency_shape(s1, s2) == _consistency_shape(m, n)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=12))
def test_frontier_gives_the_same_root_as_root_hash(batches: list[int]) -> None:
    leaves: list[bytes] = []
    f = Frontier(0, {})
    for k in batches:
        for _ in range(k):
            data = len(leaves).to_bytes(4, "big")
            leaves.append(f.push(data))
        assert f.size == len(leaves)
        assert f.root() == root_hash(leaves)


BAD: list[Any] = [None, 1.5, "x", b"", b"\x00" * 31, b"\x00" * 33, [b"\x00" * 32], True]
BAD_INT: list[Any] = [-1, 1 << 64, 1 << 200, None, "1", 1.0, True]


def test_verifiers_return_false_on_malformed_input_never_raise() -> None:
    leaves = _leaves(5)
    root = root_hash(leaves)
    proof = inclusion_proof(leaves, 2)
    good = (leaves[2], 2, 5, proof, root)
    for pos, bads in enumerate([BAD, BAD_INT, BAD_INT, [*BAD, [b"x"], [1], "ab", [None]], BAD]):
        for bad in bads:
            args: list[Any] = list(good)
            args[pos] = bad
            assert verify_inclusion(*args) is False, (pos, bad)
    cproof = consistency_proof(leaves, 3)
    cgood = (3, 5, root_hash(leaves[:3]), root, cproof)
    assert verify_consistency(*cgood)
    for pos, bads in enumerate([BAD_INT, BAD_INT, BAD, BAD, [*BAD, [b"x"], "ab", [None]]]):
        for bad in bads:
            cargs: list[Any] = list(cgood)
            cargs[pos] = bad
            assert verify_consistency(*cargs) is False, (pos, bad)
    assert verify_inclusion(leaves[2], 2, 5, [proof[0]] * 1000, root) is False


def test_hashing_functions_reject_wrong_types_clearly() -> None:
    with pytest.raises(TypeError, match="bytes"):
        leaf_hash("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32-byte"):
        root_hash([b"short"])
    with pytest.raises(TypeError):
        root_hash("nope")  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 256), st.integers(0, 1 << 13), st.data())
def test_a_tiles_levels_give_every_prefix_root(width: int, start: int, data: st.DataObject) -> None:
    # verify checks each checkpoint against the frontier plus the right edge read off
    # the levels of its tile: that must be the root of the tree at the checkpoint.
    before = start - start % 256
    leaves = _leaves(before + width)
    upper = Frontier(0, {})
    for tile in range(0, before, 256):
        upper.push_hash(root_hash(leaves[tile : tile + 256]), 8)
    nodes = levels(leaves[before:])
    cut = data.draw(st.integers(1, width))
    assert upper.root_with(left_pieces(nodes, cut)) == root_hash(leaves[: before + cut])
    if width == 256:
        assert nodes[8] == [root_hash(leaves[before:])]


# --- written from the RFC and hashlib alone (mutation testing found these unpinned) ---------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_leaf_and_node_hashes_are_the_rfc_6962_prefixes() -> None:
    assert leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"abc") == _h(b"\x00abc")
    a, b = _h(b"a"), _h(b"b")
    assert node_hash(a, b) == _h(b"\x01" + a + b)
    assert root_hash([leaf_hash(b"x"), leaf_hash(b"y"), leaf_hash(b"z")]) == _h(
        b"\x01" + _h(b"\x01" + _h(b"\x00x") + _h(b"\x00y")) + _h(b"\x00z")
    )


def test_errors_name_what_was_wrong() -> None:
    with pytest.raises(TypeError, match=r"^leaf_hash takes bytes, not str$"):
        leaf_hash("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^leaf_hashes must be a list of 32-byte hashes$"):
        root_hash("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^index 5 is not below size 5$"):
        inclusion_ranges(5, 5)
    with pytest.raises(ValueError, match=r"^no consistency proof from size 0 to size 4$"):
        consistency_ranges(0, 4)


def test_proofs_from_memory_honour_the_size_asked_for() -> None:
    leaves = _leaves(13)
    assert inclusion_proof(leaves, 2, 7) == inclusion_proof(leaves[:7], 2)
    assert inclusion_proof(leaves, 2, 7) != inclusion_proof(leaves, 2)
    assert consistency_proof(leaves, 3, 7) == consistency_proof(leaves[:7], 3)
    assert consistency_proof(leaves, 3, 7) != consistency_proof(leaves, 3)


def test_the_largest_tree_verifies_and_one_past_uint64_does_not() -> None:
    """Index 0 of a tree of 2^64 - 1 leaves: 64 right-hand siblings, folded left to right
    (RFC 9162 section 2.1.3.2 by hand). A size of 2^64 is not a uint64 and must fail."""
    leaf = leaf_hash(b"first")
    proof = [_h(bytes([i])) for i in range(64)]
    root = leaf
    for p in proof:
        root = _h(b"\x01" + root + p)
    assert verify_inclusion(leaf, 0, (1 << 64) - 1, proof, root) is True
    assert verify_inclusion(leaf, 0, 1 << 64, proof, root) is False


def test_fill_builds_proofs_from_stored_subtree_hashes() -> None:
    """The log's proofs come from stored perfect-subtree hashes through ``fill``; asked
    node by node, it gives exactly the proofs computed from all the leaves."""
    leaves = _leaves(21)

    def stored(node: tuple[int, int]) -> bytes:
        height, index = node
        return root_hash(leaves[index << height : (index + 1) << height])

    for size in (1, 2, 5, 8, 13, 21):
        for index in range(size):
            assert fill(inclusion_ranges(index, size), stored) == inclusion_proof(leaves, index, size)
        for old in range(1, size):
            assert fill(consistency_ranges(old, size), stored) == consistency_proof(leaves, old, size)


def test_a_valid_proof_with_nodes_appended_is_refused() -> None:
    """After the path is used up (fn == sn == 0) any further node makes the proof invalid."""
    leaves = _leaves(5)
    root = root_hash(leaves)
    extra = _h(b"extra")
    for index in range(5):
        proof = inclusion_proof(leaves, index)
        assert verify_inclusion(leaves[index], index, 5, proof, root) is True
        assert verify_inclusion(leaves[index], index, 5, [*proof, extra], root) is False
    old_root = root_hash(leaves[:3])
    proof = consistency_proof(leaves, 3)
    assert verify_consistency(3, 5, old_root, root, proof) is True
    assert verify_consistency(3, 5, old_root, root, [*proof, extra]) is False


# --- tiles, from leaf ranges and root_hash alone ------------------------------------------------


@functools.cache
def _heights(n: int) -> list[list[bytes]]:
    """Every perfect subtree over ``_leaves(n)`` by height, pairs hashed with hashlib here."""
    out = [_leaves(n)]
    while len(out[-1]) > 1:
        below = out[-1]
        out.append([_h(b"\x01" + below[i] + below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return out


def _node(n: int, height: int, index: int) -> bytes:
    """Perfect subtree (height, index) of the tree over ``_leaves(n)``."""
    return _heights(n)[height][index]


def _root(n: int, size: int) -> bytes:
    """Root of the first ``size`` leaves: its perfect subtrees, largest first, folded from the right."""
    parts, start = [], 0
    for k in range(size.bit_length() - 1, -1, -1):
        if size >> k & 1:
            parts.append(_node(n, k, start >> k))
            start += 1 << k
    acc = parts.pop() if parts else _h(b"")
    for p in reversed(parts):
        acc = _h(b"\x01" + p + acc)
    return acc


def _tile(n: int, level: int, index: int) -> bytes:
    """Tile (level, index): the hashes at height 8·level numbered 256·index … (those that exist)."""
    return b"".join(_heights(n)[8 * level][256 * index : 256 * (index + 1)])


def test_tile_of_and_node_from_tile_agree_with_leaf_ranges() -> None:
    n = 70_000
    assert _node(n, 3, 5) == root_hash(_leaves(n)[40:48])  # the reference itself, by the RFC recursion
    for height, index in [(0, 0), (0, 255), (0, 256), (0, 69_999), (3, 31), (3, 32), (7, 1), (7, 2),
                          (8, 0), (8, 255), (8, 256), (9, 3), (12, 16), (15, 1), (16, 0)]:  # fmt: skip
        level = height // 8
        first = index << (height - 8 * level)  # its first hash at height 8·level
        assert tile_of((height, index)) == (level, first // 256)
        tile = _tile(n, *tile_of((height, index)))
        assert node_from_tile((height, index), tile) == _node(n, height, index)
    with pytest.raises(ValueError, match=r"^tile too short for the requested subtree$"):
        node_from_tile((1, 127), _tile(n, 0, 0)[: 255 * 32])
    assert node_from_tile((1, 127), _tile(n, 0, 0)) == _node(n, 1, 127)


def test_split_edges_and_pieces() -> None:
    leaves = _leaves(7)
    assert split(b"".join(leaves)) == leaves and split(b"") == []
    with pytest.raises(ValueError, match=r"^a tile's length is not a multiple of 32$"):
        split(bytes(33))
    assert pieces(leaves, 8) == [(10, root_hash(leaves[:4])), (9, root_hash(leaves[4:6])), (8, leaves[6])]
    assert pieces([], 0) == []
    nodes = levels(leaves)
    assert [len(level) for level in nodes] == [7, 3, 1]
    assert nodes[1] == [_node(7, 1, i) for i in range(3)] and nodes[2] == [root_hash(leaves[:4])]
    assert levels([]) == [[]] and levels(leaves[:1]) == [leaves[:1]]
    for width in range(8):
        assert left_pieces(nodes, width) == [h for _, h in pieces(leaves[:width], 0)]


@pytest.mark.parametrize(
    ("size", "edge"),
    [
        (0, []),
        (1, [(0, 0)]),
        (255, [(0, 0)]),
        (256, [(1, 0)]),
        (257, [(0, 1), (1, 0)]),
        (65_536, [(2, 0)]),
        (70_000, [(0, 273), (1, 1), (2, 0)]),
    ],
)
def test_edge_tiles_are_the_partial_ones(size: int, edge: list[tuple[int, int]]) -> None:
    assert edge_tiles(size) == edge
    for level in range(4):
        assert edge_width(size, level) == (size >> (8 * level)) % 256


def test_frontier_restarted_from_its_edge_writes_every_tile_once_then_grows_it() -> None:
    """What the log does per append: load the edge tiles, push, insert new tiles, update
    partial ones; the stored tiles are then exactly the tree's tiles."""
    n = 70_000
    leaves = _leaves(n)
    assert _root(n, 1000) == root_hash(leaves[:1000]) and _root(n, 0) == EMPTY_ROOT
    stored: dict[tuple[int, int], bytes] = {}
    size = 0
    for batch in [1, 254, 1, 1, 300, 64_979, 4_464]:
        edge = {level: split(stored[(level, idx)]) for level, idx in edge_tiles(size)}
        f = Frontier(size, edge)
        assert f.root() == _root(n, size)
        for i in range(size, size + batch):
            f.push_hash(leaves[i])
        size += batch
        assert f.size == size and f.root() == _root(n, size)
        if size % 256 == 0:  # a tail of leaf hashes goes after whole tiles
            assert f.root(leaves[size : size + 5]) == _root(n, size + 5)
        inserts, updates = f.dirty_tiles()
        for level, idx, blob in inserts:
            assert (level, idx) not in stored
            stored[(level, idx)] = blob
        for level, idx, blob in updates:
            assert (level, idx) in stored and blob.startswith(stored[(level, idx)])
            stored[(level, idx)] = blob
        assert f.edge() == {level: split(stored[(level, idx)]) for level, idx in edge_tiles(size)}
    expected = {(level, idx) for level in range(3) for idx in range(((size >> (8 * level)) + 255) // 256)}
    assert set(stored) == expected
    for (level, idx), blob in stored.items():
        assert blob == _tile(n, level, idx), (level, idx)


def test_frontier_push_and_heights() -> None:
    f = Frontier(0, {})
    assert f.root() == EMPTY_ROOT and f.root([]) == EMPTY_ROOT
    assert f.push(b"entry") == hashlib.sha256(b"\x00entry").digest()
    leaves = _leaves(512)
    g = Frontier(0, {})
    g.push_hash(root_hash(leaves[:256]), 8)  # a whole tile's root at height 8
    g.push_hash(root_hash(leaves[256:384]), 7)
    assert g.root_with([root_hash(leaves[384:388])]) == root_hash(leaves[:388])
    g.push_hash(leaves[384])
    assert g.size == 385 and g.root() == root_hash(leaves[:385])
    # verify's upper frontier takes only tile roots (height 8): its tiles are level 1's.
    upper = Frontier(0, {})
    roots = [root_hash(leaves[i : i + 256]) for i in (0, 256)]
    for r in roots:
        upper.push_hash(r, 8)
    assert upper.size == 512 and upper.root() == root_hash(leaves)
    assert upper.dirty_tiles() == ([(1, 0, b"".join(roots))], [])


def test_a_fresh_frontier_numbers_its_first_full_upper_tile_zero() -> None:
    # verify's upper frontier starts empty and takes tile roots: after 256 of them its first
    # level-1 tile is full (tile 1/0) and level 2 holds their root (tile 2/0, one hash).
    roots = [_h(i.to_bytes(2, "big")) for i in range(256)]
    upper = Frontier(0, {})
    for r in roots:
        upper.push_hash(r, 8)
    row = roots
    while len(row) > 1:
        row = [_h(b"\x01" + row[i] + row[i + 1]) for i in range(0, len(row), 2)]
    assert upper.dirty_tiles() == ([(1, 0, b"".join(roots)), (2, 0, row[0])], [])


@pytest.mark.parametrize("size", [1, 255, 256, 257, 600, 65_536, 65_537])
def test_a_resumed_frontier_is_the_frontier_its_edge_gives_and_owns_its_state(size: int) -> None:
    """``Frontier.resumed`` (the writer's next append, without rehashing the edge) must be
    exactly ``Frontier(size, edge())``: same stack, buffers, counts and loaded tiles, no
    tile touched yet; and growing it must not change the frontier it was taken from."""
    leaves = [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(size + 300)]
    grown = Frontier(0, {})
    for h in leaves[:size]:
        grown.push_hash(h)
    resumed, fresh = grown.resumed(), Frontier(size, grown.edge())
    assert (resumed.size, resumed.stack, resumed.loaded) == (fresh.size, fresh.stack, fresh.loaded)
    assert resumed.counts == fresh.counts
    assert {k: v for k, v in resumed.bufs.items() if v} == {k: v for k, v in fresh.bufs.items() if v}
    assert (resumed.full, resumed.touched) == ([], set())
    before = (grown.size, list(grown.stack), {k: list(v) for k, v in grown.bufs.items()}, dict(grown.counts))
    for f in (resumed, fresh):
        for h in leaves[size:]:
            f.push_hash(h)
    assert resumed.root() == fresh.root()
    assert resumed.dirty_tiles() == fresh.dirty_tiles()
    assert (grown.size, grown.stack, grown.bufs, grown.counts) == before  # the original is untouched
