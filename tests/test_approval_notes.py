"""Signed approval notes (CONTRACT 9.1), pure: the KAT from Go's sumdb/note byte for byte,
strict parsing, and every way a note can fail to verify."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pars.agreements.approval_note import (
    ApprovalNote,
    ApprovalRefused,
    MalformedNote,
    SignerKey,
    approval_text,
    parse_approval_text,
    parse_party_key,
    sign_approval,
    split_note,
    verify_approval,
)
from pars.audit.note import signer_key as note_signer_key
from pars.errors import InvalidInput


def _vectors() -> Path | None:
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "vectors"]
    if os.environ.get("PARS_VECTORS_DIR"):
        candidates.insert(0, Path(os.environ["PARS_VECTORS_DIR"]))
    return next((c for c in candidates if (c / "c2sp_kat.json").is_file()), None)


VECTORS = _vectors()
SKIP = "c2sp_kat.json not found in ../shared/vectors nor PARS_VECTORS_DIR"
if VECTORS is None and os.environ.get("PARS_REQUIRE_VECTORS"):
    raise RuntimeError(SKIP + " (PARS_REQUIRE_VECTORS is set)")
KAT: list[dict[str, Any]] = (
    json.loads((VECTORS / "c2sp_kat.json").read_text())["approvals"] if VECTORS is not None else []
)
ORIGIN = "example.gov/pars/audit"  # the origin the KAT notes name
kat = pytest.mark.skipif(VECTORS is None, reason=SKIP)


@kat
def test_the_kat_covers_the_three_parties() -> None:
    assert sorted(c["party"] for c in KAT) == ["courts", "district_attorney", "police"]


@kat
@pytest.mark.parametrize("case", KAT, ids=lambda c: c["party"])
def test_signing_reproduces_the_kat_byte_for_byte(case: dict[str, Any]) -> None:
    signer = SignerKey.parse(case["signer_key"])
    assert signer.text() == case["signer_key"] + "\n"  # the key file round-trips
    assert signer.verifier_key == case["verifier_key"]
    note = sign_approval(ORIGIN, case["agreement_id"], case["version"], signer)
    assert note == case["note"]


@kat
@pytest.mark.parametrize("case", KAT, ids=lambda c: c["party"])
def test_the_kat_notes_verify_and_say_what_they_approve(case: dict[str, Any]) -> None:
    said = verify_approval(case["note"], case["verifier_key"])
    assert said == ApprovalNote(ORIGIN, case["agreement_id"], case["version"], case["party"])
    assert case["note"].startswith(said.text() + "\n\u2014 " + case["party"] + " ")


@kat
def test_a_kat_note_refused_with_another_partys_key() -> None:
    courts, police = KAT[0], KAT[1]
    with pytest.raises(ApprovalRefused) as refused:
        verify_approval(courts["note"], police["verifier_key"])
    assert refused.value.rule == "approvals.key_name"


@kat
@pytest.mark.parametrize("where", ["text", "signature"])
def test_a_tampered_kat_note_is_refused(where: str) -> None:
    case = KAT[0]
    note: str = case["note"]
    if where == "text":  # approve another version with the same signature
        version: str = case["version"]
        bad = note.replace(version, version[:-1] + ("0" if version[-1] != "0" else "1"))
    else:  # flip one base64 character of the signature
        head, sig = note[:-10], note[-10:]
        bad = head + ("A" if sig[0] != "A" else "B") + sig[1:]
    with pytest.raises(ApprovalRefused) as refused:
        verify_approval(bad, case["verifier_key"])
    assert refused.value.rule == "approvals.signature"


# --- strict parsing (no KAT needed) -----------------------------------------------------

H = "ab" * 32
GOOD = f"pars-approval/v1\nexample.gov/log\nice-2017\n{H}\ncourts\n"


def test_the_five_lines_round_trip() -> None:
    assert approval_text("example.gov/log", "ice-2017", H, "courts") == GOOD
    assert parse_approval_text(GOOD) == ApprovalNote("example.gov/log", "ice-2017", H, "courts")


@pytest.mark.parametrize(
    "text",
    [
        GOOD[:-1],  # no final newline
        GOOD + "extra\n",  # six lines
        GOOD.replace("courts\n", ""),  # four lines
        GOOD.replace("pars-approval/v1", "pars-approval/v2"),
        GOOD.replace(H, H.upper()),  # hash in uppercase hex
        GOOD.replace(H, H[:-2]),  # short hash
        GOOD.replace("ice-2017", "ICE 2017"),
        GOOD.replace("courts", "courts "),  # padded party
        GOOD.replace("courts", "the courts"),
        GOOD.replace("example.gov/log", " example.gov/log"),
        GOOD.replace("example.gov/log", ""),
        GOOD.replace("\n", "\r\n"),
    ],
)
def test_anything_but_the_five_exact_lines_is_malformed(text: str) -> None:
    with pytest.raises(MalformedNote, match=r"^note: "):
        parse_approval_text(text)


def test_the_note_must_carry_exactly_one_signature_by_the_party() -> None:
    courts, police = SignerKey.generate("courts"), SignerKey.generate("police")
    note = sign_approval("example.gov/log", "ice-2017", H, courts)
    assert split_note(note).signer_name == "courts"
    twice = note + note.splitlines(keepends=True)[-1]
    with pytest.raises(ApprovalRefused, match="exactly one signature"):
        verify_approval(twice, courts.verifier_key)
    with pytest.raises(MalformedNote):
        verify_approval(note.replace("\n\n", "\n"), courts.verifier_key)
    # police's key signing a note that claims to be the courts' approval
    from pars.audit.note import sign_note

    forged = sign_note(GOOD, "police", police.private_key)
    with pytest.raises(ApprovalRefused) as refused:
        verify_approval(forged, police.verifier_key)
    assert refused.value.rule == "approvals.key_name"
    # a key named courts but not the registered one
    other = SignerKey.generate("courts")
    with pytest.raises(ApprovalRefused) as refused:
        verify_approval(sign_approval("example.gov/log", "ice-2017", H, other), courts.verifier_key)
    assert refused.value.rule == "approvals.signature"


def test_signer_keys_parse_strictly_and_never_show_their_secret() -> None:
    key = SignerKey.generate("district_attorney")
    again = SignerKey.parse(key.text())
    assert again.verifier_key == key.verifier_key
    assert "PRIVATE" not in repr(key) and key.text().split("+")[4] not in repr(key)
    text = key.text().strip()
    for bad in [
        text.replace("PRIVATE+KEY", "PUBLIC+KEY"),
        text.replace("district_attorney", "courts"),  # key ID no longer matches the name
        text[:-4] + "AAAA",
        key.verifier_key,
        "",
        # a well-formed signed-note signer key whose name is no party name
        note_signer_key("city.example/courts", Ed25519PrivateKey.generate()),
    ]:
        with pytest.raises(InvalidInput, match=r"^key: "):
            SignerKey.parse(bad)


def test_a_party_key_must_be_named_after_its_party() -> None:
    key = SignerKey.generate("courts")
    assert parse_party_key("courts", key.verifier_key).name == "courts"
    with pytest.raises(ApprovalRefused) as refused:
        parse_party_key("police", key.verifier_key)
    assert refused.value.rule == "approvals.key_name"
    with pytest.raises(InvalidInput, match=r"^key: "):
        parse_party_key("courts", "courts+00000000+AAAA")
    with pytest.raises(InvalidInput, match=r"^party: "):
        parse_party_key("the courts", key.verifier_key)


def test_the_module_is_pure() -> None:
    """An auditor's tool imports it without the store (no SQLAlchemy from this module itself)."""
    import ast

    import pars.agreements.approval_note as mod

    tree = ast.parse(Path(mod.__file__).read_text())
    imported = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not {m for m in imported if m.startswith(("sqlalchemy", "pars.store", "pars.web", "pars.cli"))}


PARTY_KEY = SignerKey.generate("courts")
SIGNED = sign_approval("example.gov/log", "ice-2017", H, PARTY_KEY)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(), st.text(alphabet="pars-aplov/1\n\u2014 courtsAB=+0123456789abcdef", max_size=300))
)
def test_any_text_is_refused_with_a_rule_never_a_crash(text: str) -> None:
    if text == SIGNED:  # only the genuine note verifies
        return
    with pytest.raises((MalformedNote, ApprovalRefused)) as refused:
        verify_approval(text, PARTY_KEY.verifier_key)
    assert getattr(refused.value, "rule", "").startswith("approvals.")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(SIGNED) - 1), st.characters(codec="utf-8"))
def test_any_one_character_change_is_refused(at: int, char: str) -> None:
    changed = SIGNED[:at] + char + SIGNED[at + 1 :]
    if changed == SIGNED:
        return
    with pytest.raises((MalformedNote, ApprovalRefused)):
        verify_approval(changed, PARTY_KEY.verifier_key)
