"""The auditor API on every published RFC 6962/9162 and C2SP vector.

Vectors live in ``../shared/vectors`` (or ``PARS_VECTORS_DIR``): valid cases must
verify, cases flagged ``valid: false`` must be rejected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pars.audit import (
    CheckpointError,
    leaf_hash,
    root_hash,
    verifier_key,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_note,
)

FILES = ("rfc6962_public.json", "rfc6962_upstream.json")


def _vectors_dir() -> Path | None:
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "vectors"]
    if os.environ.get("PARS_VECTORS_DIR"):
        candidates.insert(0, Path(os.environ["PARS_VECTORS_DIR"]))
    for c in candidates:
        if all((c / f).is_file() for f in FILES):
            return c
    return None


VECTORS = _vectors_dir()
SKIP = "RFC 6962 vectors not found in ../shared/vectors nor PARS_VECTORS_DIR"
if VECTORS is None and os.environ.get("PARS_REQUIRE_VECTORS"):
    # CI must run the vectors, never skip them.
    raise RuntimeError(SKIP + " (PARS_REQUIRE_VECTORS is set)")


def _load(name: str) -> dict[str, Any]:
    if VECTORS is None:
        return {}
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


DATA = {name: _load(name) for name in FILES}


def _cases(key: str) -> list[Any]:
    out = []
    for name, data in DATA.items():
        for i, case in enumerate(data.get(key, [])):
            desc = case.get("desc", "") if isinstance(case, dict) else ""
            out.append(pytest.param(case, id=f"{name.split('_')[1][:-5]}-{i}-{desc[:40]}"))
    if not out:
        out.append(pytest.param(None, marks=pytest.mark.skip(reason=SKIP)))
    return out


def test_vectors_are_present_when_required() -> None:
    # CI sets PARS_REQUIRE_VECTORS=1: there a missing vector file is a failure, not a skip.
    if VECTORS is None:
        if os.environ.get("PARS_REQUIRE_VECTORS"):
            pytest.fail(SKIP + " (PARS_REQUIRE_VECTORS is set)")
        pytest.skip(SKIP)
    assert all(DATA[f] for f in FILES)


def _h(x: str) -> bytes:
    return bytes.fromhex(x)


@pytest.mark.parametrize("case", _cases("inclusion"))
def test_inclusion(case: dict[str, Any]) -> None:
    leaf = leaf_hash(_h(case["leaf_hex"])) if case["leaf_hex"] is not None else _h(case["leaf_hash_hex"])
    proof = [_h(p) for p in case["proof_hex"]]
    got = verify_inclusion(leaf, case["index"], case["size"], proof, _h(case["root_hex"]))
    assert got is case["valid"]


@pytest.mark.parametrize("case", _cases("consistency"))
def test_consistency(case: dict[str, Any]) -> None:
    proof = [_h(p) for p in case["proof_hex"]]
    got = verify_consistency(
        case["size1"], case["size2"], _h(case["root1_hex"]), _h(case["root2_hex"]), proof
    )
    assert got is case["valid"]


def _root_cases() -> list[Any]:
    out = []
    for name, data in DATA.items():
        trees = [(data.get("leaves_hex", []), data.get("roots", []))]
        if "second_tree" in data:
            trees.append((data["second_tree"]["leaves_hex"], data["second_tree"]["roots"]))
        for t, (leaves, roots) in enumerate(trees):
            for r in roots:
                out.append(pytest.param(leaves, r, id=f"{name[8:-5]}-tree{t}-size{r['size']}"))
    return out or [pytest.param(None, None, marks=pytest.mark.skip(reason=SKIP))]


@pytest.mark.parametrize(("leaves", "root"), _root_cases())
def test_root(leaves: list[str], root: dict[str, Any]) -> None:
    hashes = [leaf_hash(_h(x)) for x in leaves[: root["size"]]]
    assert root_hash(hashes).hex() == root["root_hex"]


def _vkey(case: dict[str, Any]) -> str:
    if "vkey" in case:
        return str(case["vkey"])
    return verifier_key(case["key_name"], _h(case["ed25519_public_key_hex"]))


@pytest.mark.parametrize("case", _cases("checkpoints"))
def test_checkpoint(case: dict[str, Any]) -> None:
    vkey = _vkey(case)
    if "origin" not in case:  # a plain signed note (the C2SP example), not a checkpoint
        if case["valid"]:
            assert verify_note(case["note"], vkey).endswith("\n")
        else:
            with pytest.raises(CheckpointError):
                verify_note(case["note"], vkey)
        return
    if case["valid"]:
        origin, size, root = verify_checkpoint(case["note"], vkey)
        assert (origin, size, root.hex()) == (case["origin"], case["size"], case["root_hex"])
    else:
        with pytest.raises(CheckpointError):
            verify_checkpoint(case["note"], vkey)


def test_vkey_in_public_vectors_matches_its_name_and_key() -> None:
    if VECTORS is None:
        pytest.skip(SKIP)
    case = DATA["rfc6962_public.json"]["checkpoints"][0]
    assert verifier_key(case["key_name"], _h(case["ed25519_public_key_hex"])) == case["vkey"]


def _empty_tree_cases() -> list[Any]:
    block = DATA["rfc6962_upstream.json"].get("consistency_from_empty_tree", {})
    cases = [pytest.param(c, id=f"0-to-{c['size2']}") for c in block.get("cases", [])]
    return cases or [pytest.param(None, marks=pytest.mark.skip(reason=SKIP))]


@pytest.mark.parametrize("case", _empty_tree_cases())
def test_consistency_from_empty_tree_follows_rfc_9162_strictly(case: dict[str, Any]) -> None:
    # RFC 9162 defines consistency proofs only for 0 < size1; we follow it (and
    # transparency-dev/merkle), so a proof from the empty tree never verifies.
    strict = case["valid_under"]["transparency-dev/merkle (Go), RFC 9162 strictly"]
    proof = [_h(p) for p in case["proof_hex"]]
    got = verify_consistency(
        case["size1"], case["size2"], _h(case["root1_hex"]), _h(case["root2_hex"]), proof
    )
    assert got is strict


def _excluded() -> list[Any]:
    out = [
        pytest.param(c, id=c["origin"].rsplit("/", 1)[-1])
        for c in DATA["rfc6962_upstream.json"].get("excluded", [])
    ]
    return out or [pytest.param(None, marks=pytest.mark.skip(reason=SKIP))]


@pytest.mark.parametrize("case", _excluded())
def test_excluded_cases_are_skipped_with_their_reason(case: dict[str, Any]) -> None:
    pytest.skip(f"excluded by the vector file: {case['reason']}")
