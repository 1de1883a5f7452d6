"""Merkle proofs as properties: generated proofs verify, any single bit flip fails,
and malformed input gives False instead of an exception."""

from __future__ import annotations

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
from pars.audit.tiles import Frontier, left_pieces, levels


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
