"""The C2SP modules on the known answers in ``c2sp_kat.json`` (Go sumdb/note, tlog, formats/note).

Every signature is re-made byte for byte from the vector's signer key (Ed25519 is
deterministic; cosignatures use the timestamp the vector shows), and every
``tampered_root_must_fail`` checkpoint must be refused by every verifier.
Vectors come from ``PARS_VECTORS_DIR`` (or ``../shared/vectors``); without them the
tests skip, unless ``PARS_REQUIRE_VECTORS`` is set, where they fail.
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
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_note,
)
from pars.audit.cosignature import (
    CosignatureError,
    CosignerKey,
    cosign,
    cosigner_verifier_key,
    require_quorum,
    valid_cosignatures,
    verify_cosignature,
)
from pars.audit.merkle import consistency_proof
from pars.audit.note import (
    Verifier,
    VerifierKey,
    open_note,
    parse_signer_key,
    public_key_bytes,
    sign_checkpoint,
    sign_note,
    signer_key,
    verifier_key,
)
from pars.audit.tlogproof import TlogProofError, format_proof, parse_proof, verify_proof
from tests.c2sp_support import MemoryLog

FILE = "c2sp_kat.json"


def _vectors_dir() -> Path | None:
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "vectors"]
    if os.environ.get("PARS_VECTORS_DIR"):
        candidates.insert(0, Path(os.environ["PARS_VECTORS_DIR"]))
    return next((c for c in candidates if (c / FILE).is_file()), None)


VECTORS = _vectors_dir()
SKIP = f"{FILE} not found in ../shared/vectors nor PARS_VECTORS_DIR"
KAT: dict[str, Any] = json.loads((VECTORS / FILE).read_text()) if VECTORS else {}


def _cases(key: str) -> list[Any]:
    cases = KAT.get(key, [])
    if not cases:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP))]
    return [pytest.param(c, id=f"{key}-{i}") for i, c in enumerate(cases)]


def test_vectors_are_present_when_required() -> None:
    if VECTORS is None:
        if os.environ.get("PARS_REQUIRE_VECTORS"):
            pytest.fail(SKIP + " (PARS_REQUIRE_VECTORS is set)")
        pytest.skip(SKIP)
    for key in ("log", "witnesses", "checkpoints", "consistency", "tlog_proofs", "approvals"):
        assert KAT[key], key


def _log() -> tuple[str, str, str]:
    return KAT["log"]["origin"], KAT["log"]["signer_key"], KAT["log"]["verifier_key"]


def _witness_vkeys() -> list[str]:
    return [w["verifier_key_cosignature"] for w in KAT["witnesses"]]


@pytest.mark.skipif(VECTORS is None, reason=SKIP)
def test_log_keys() -> None:
    origin, signer, vkey = _log()
    name, key = parse_signer_key(signer)
    assert name == origin
    assert verifier_key(name, public_key_bytes(key)) == vkey
    assert signer_key(name, key) == signer
    assert str(VerifierKey.parse(vkey)) == vkey


@pytest.mark.parametrize("w", _cases("witnesses"))
def test_witness_keys(w: dict[str, Any]) -> None:
    name, key = parse_signer_key(w["signer_key"])
    assert name == w["name"]
    pub = public_key_bytes(key)
    assert cosigner_verifier_key(name, pub) == w["verifier_key_cosignature"]
    assert verifier_key(name, pub) == w["verifier_key_ed25519"]
    assert str(CosignerKey.parse(w["verifier_key_cosignature"])) == w["verifier_key_cosignature"]
    # A key of one type is not a key of the other: the key ID commits to the type byte.
    with pytest.raises(CheckpointError):
        VerifierKey.parse(w["verifier_key_cosignature"])
    with pytest.raises(CheckpointError):
        CosignerKey.parse(w["verifier_key_ed25519"])


@pytest.mark.parametrize("cp", _cases("checkpoints"))
def test_checkpoint(cp: dict[str, Any]) -> None:
    origin, signer, vkey = _log()
    root = bytes.fromhex(cp["root_hex"])
    for note in (cp["signed"], cp["cosigned"]):
        assert verify_checkpoint(note, vkey) == (origin, cp["size"], root)
    name, key = parse_signer_key(signer)
    assert sign_checkpoint(origin, cp["size"], root, name, key).note == cp["signed"]
    assert MemoryLog().grow(cp["size"]).root().hex() == cp["root_hex"]


@pytest.mark.parametrize("cp", _cases("checkpoints"))
def test_cosignatures(cp: dict[str, Any]) -> None:
    _, _, vkey = _log()
    text = verify_note(cp["signed"], vkey)
    lines = []
    for w, ts in zip(KAT["witnesses"], cp["cosignature_timestamps"], strict=True):
        assert verify_cosignature(cp["cosigned"], w["verifier_key_cosignature"]) == ts
        name, key = parse_signer_key(w["signer_key"])
        lines.append(cosign(text, name, key, ts))
    assert cp["signed"] + "".join(lines) == cp["cosigned"]
    expected = {w["name"]: ts for w, ts in zip(KAT["witnesses"], cp["cosignature_timestamps"], strict=True)}
    assert valid_cosignatures(cp["cosigned"], _witness_vkeys()) == expected
    assert require_quorum(cp["cosigned"], vkey, _witness_vkeys(), 2) == expected
    # The log's and both witnesses' keys together, through the one note verifier.
    keys: list[Verifier] = [VerifierKey.parse(vkey), *(CosignerKey.parse(k) for k in _witness_vkeys())]
    assert len(open_note(cp["cosigned"], keys).verified) == 3
    # The log-signed note alone has no cosignature.
    with pytest.raises(CosignatureError):
        require_quorum(cp["signed"], vkey, _witness_vkeys(), 1)


@pytest.mark.parametrize("cp", _cases("checkpoints"))
def test_tampered_root_must_fail(cp: dict[str, Any]) -> None:
    _, _, vkey = _log()
    bad = cp["tampered_root_must_fail"]
    with pytest.raises(CheckpointError):
        verify_checkpoint(bad, vkey)
    for w in _witness_vkeys():
        with pytest.raises(CheckpointError):
            verify_cosignature(bad, w)
    with pytest.raises(CheckpointError):
        require_quorum(bad, vkey, _witness_vkeys(), 0)
    with pytest.raises(CheckpointError):
        open_note(bad, [CosignerKey.parse(k) for k in _witness_vkeys()])


@pytest.mark.parametrize("case", _cases("consistency"))
def test_consistency(case: dict[str, Any]) -> None:
    proof = [bytes.fromhex(h) for h in case["proof_hex"]]
    old_root, new_root = bytes.fromhex(case["old_root_hex"]), bytes.fromhex(case["new_root_hex"])
    assert verify_consistency(case["old"], case["new"], old_root, new_root, proof)
    log = MemoryLog().grow(case["new"])
    assert consistency_proof(log.leaves, case["old"], case["new"]) == proof
    assert log.root(case["old"]) == old_root
    if proof:
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not verify_consistency(case["old"], case["new"], old_root, new_root, flipped)
    assert not verify_consistency(case["old"], case["new"], new_root, old_root, proof) or old_root == new_root


@pytest.mark.parametrize("case", _cases("tlog_proofs"))
def test_tlog_proof(case: dict[str, Any]) -> None:
    _, _, vkey = _log()
    entry = case["entry"].encode()
    assert leaf_hash(entry).hex() == case["leaf_hash_hex"]
    parsed = parse_proof(case["tlog_proof"])
    assert parsed.index == case["index"] and parsed.extra is None
    assert format_proof(parsed.index, list(parsed.proof), parsed.checkpoint) == case["tlog_proof"]
    _, size, root = verify_checkpoint(parsed.checkpoint, vkey)
    assert size == case["size"]
    assert verify_inclusion(leaf_hash(entry), case["index"], size, list(parsed.proof), root)
    ok = verify_proof(case["tlog_proof"], log_key=vkey, entry=entry, witness_keys=_witness_vkeys(), quorum=2)
    assert (ok.index, ok.size, ok.leaf_hash.hex()) == (case["index"], case["size"], case["leaf_hash_hex"])
    assert set(ok.cosignatures) == {w["name"] for w in KAT["witnesses"]}
    with pytest.raises(TlogProofError, match="inclusion"):
        verify_proof(case["tlog_proof"], log_key=vkey, entry=entry + b" ")
    other = (case["index"] + 1) % case["size"]
    if other != case["index"]:
        moved = case["tlog_proof"].replace(f"index {case['index']}\n", f"index {other}\n")
        with pytest.raises(TlogProofError):
            verify_proof(moved, log_key=vkey, entry=entry)


@pytest.mark.parametrize("case", _cases("approvals"))
def test_approval_notes_verify(case: dict[str, Any]) -> None:
    """The approvals engineer owns 9.1; the note code must verify and re-make these notes."""
    text = verify_note(case["note"], case["verifier_key"])
    assert text.split("\n")[2:5] == [case["agreement_id"], case["version"], case["party"]]
    name, key = parse_signer_key(case["signer_key"])
    assert name == case["party"]
    assert sign_note(text, name, key) == case["note"]
    assert verifier_key(name, public_key_bytes(key)) == case["verifier_key"]
    others = [a["verifier_key"] for a in KAT["approvals"] if a["party"] != case["party"]]
    for other in others:
        with pytest.raises(CheckpointError):
            verify_note(case["note"], other)
