# ruff: noqa: E501  (the specs' examples are quoted verbatim, long lines and all)
"""Every rule of the C2SP specs in ``shared/specs`` that the pure modules implement.

signed-note, tlog-checkpoint, tlog-cosignature, tlog-proof and tlog-tiles, with
the specs' own examples where they give keys and signatures. (tlog-witness's
rules are in ``test_witness.py``.)
"""

from __future__ import annotations

import base64
import contextlib
import struct
import subprocess
import sys
from hashlib import sha256

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pars.audit.cosignature import (
    CosignatureError,
    CosignerKey,
    cosign,
    cosigned_message,
    require_quorum,
    valid_cosignatures,
    verify_cosignature,
)
from pars.audit.merkle import leaf_hash
from pars.audit.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    CheckpointError,
    Signature,
    VerifierKey,
    add_signatures,
    b64decode_strict,
    checkpoint_body,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint_body,
    parse_note,
    parse_signer_key,
    public_key_bytes,
    sign_checkpoint,
    sign_note,
    signature_line,
    signer_key,
    verifier_key,
    verify_checkpoint,
    verify_note,
)
from pars.audit.tilepath import (
    ENTRIES,
    Tile,
    TilePathError,
    decode_bundle,
    encode_bundle,
    encode_index,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)
from pars.audit.tlogproof import TlogProofError, VerifiedProof, format_proof, parse_proof, verify_proof
from pars.witness.client import request_body
from tests.c2sp_support import MemoryLog

# -- signed-note -------------------------------------------------------------------------------

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
POEM = (
    "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
    "\u2014 quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)


def _key(name: str = "example.org/k") -> tuple[str, Ed25519PrivateKey, str]:
    k = Ed25519PrivateKey.generate()
    return name, k, verifier_key(name, public_key_bytes(k))


def test_spec_example_verifier_key_verifies_spec_example_note() -> None:
    assert verify_note(SPEC_NOTE, SPEC_VKEY) == "This is an example message.\n"
    key = VerifierKey.parse(SPEC_VKEY)
    assert key.key_id == key_id("example.com/foo", key.public_key) == bytes.fromhex("530d903a")
    assert str(key) == SPEC_VKEY
    tampered = SPEC_NOTE.replace("example message", "example massage")
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_note(tampered, SPEC_VKEY)


def test_text_may_hold_empty_lines_the_last_one_separates() -> None:
    note = parse_note(POEM)
    assert note.text.endswith("ed è subito sera.\n") and "\n\n" in note.text
    assert [s.name for s in note.signatures] == ["quasimodo.example/salvatore"]
    assert note.signatures[0].key_id == base64.b64decode("NnugSw==")
    name, k, vkey = _key()
    text = "one\n\ntwo\n\n\nthree\n"
    assert verify_note(sign_note(text, name, k), vkey) == text


@pytest.mark.parametrize(
    "bad",
    [
        "no final newline\n\n\u2014 a AAAAAAAA",
        "no blank line\n\u2014 a AAAAAAAA\n",
        "text\n\n",  # no signature line
        "text\n\n\u2014 a AAAAAAAA\n\n",  # a blank line after the signatures
        "text\n\n- a AAAAAAAA\n",  # hyphen, not em dash
        "text\n\n\u2014 a\n",  # no signature
        "text\n\n\u2014  AAAAAAAA\n",  # empty name
        "text\n\n\u2014 a+b AAAAAAAA\n",  # '+' in the name
        "text\n\n\u2014 a AAAA\n",  # under 5 bytes
        "text\n\n\u2014 a AAAAAAA\n",  # not padded base64
        "text\n\n\u2014 a AAAA AAAA\n",
        "tab\there\n\n\u2014 a AAAAAAAA\n",
        "cr\r\n\n\u2014 a AAAAAAAA\n",
        "nul\x00\n\n\u2014 a AAAAAAAA\n",
        "lone surrogate \ud800\n\n\u2014 a AAAAAAAA\n",
    ],
)
def test_malformed_notes_are_rejected(bad: str) -> None:
    with pytest.raises(CheckpointError):
        parse_note(bad)


def test_invalid_utf8_is_rejected_and_del_is_not_a_control_character() -> None:
    name, k, vkey = _key()
    with pytest.raises(CheckpointError, match="UTF-8"):
        parse_note(b"\xff\n\n\xe2\x80\x94 a AAAAAAAA\n")
    text = "delete \x7f is not below U+0020\n"
    assert verify_note(sign_note(text, name, k).encode().decode(), vkey) == text
    assert open_note(sign_note(text, name, k).encode(), [VerifierKey.parse(vkey)]).text == text


@pytest.mark.parametrize("name", ["", "a b", "a\u00a0b", "a\u3000b", "a+b", "tab\tname"])
def test_key_names_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(CheckpointError):
        verifier_key(name, bytes(32))


def test_unknown_signers_are_ignored_known_bad_ones_reject() -> None:
    name, k, vkey = _key()
    text = "hello\n"
    note = sign_note(text, name, k)
    other = Ed25519PrivateKey.generate()
    same_name_other_key = signature_line(text, name, other)  # same name, other ID: unknown
    assert verify_note(note + same_name_other_key, vkey) == text
    own = parse_note(note).signatures[0]
    same_id_other_name = own.line.replace(f" {name} ", " example.org/other ")  # other name, same ID
    opened = open_note(note + same_id_other_name, [VerifierKey.parse(vkey)])
    assert len(opened.verified) == 1 and len(opened.unverified) == 1
    with pytest.raises(CheckpointError, match="no signature"):
        verify_note(sign_note(text, name, other), vkey)  # only an unknown signer
    forged = base64.b64encode(own.key_id + bytes(64)).decode()
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_note(note + f"\u2014 {name} {forged}\n", vkey)  # a valid one beside a bad one
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_note(f"{text}\n\u2014 {name} {forged}\n" + note.split("\n\n")[1], vkey)


def test_duplicates_count_once_and_signature_limits() -> None:
    name, k, vkey = _key()
    note = sign_note("t\n", name, k)
    line = note.split("\n\n")[1]
    opened = open_note(note + line + line, [VerifierKey.parse(vkey)])
    assert len(opened.verified) == 1
    assert add_signatures(note, [line]) == note  # nothing new to add
    strangers = "".join(signature_line("t\n", f"w{i}", Ed25519PrivateKey.generate()) for i in range(15))
    assert verify_note(note + strangers, vkey) == "t\n"  # 16 signatures: MUST be accepted
    many = "".join(signature_line("t\n", f"w{i}", Ed25519PrivateKey.generate()) for i in range(100))
    with pytest.raises(CheckpointError, match="too many"):
        verify_note(note + many, vkey)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.replace("+530d903a+", "+530D903A+"),  # hex is lowercase
        lambda v: v.replace("+530d903a+", "+530d903b+"),  # ID must match
        lambda v: v.replace("+530d903a+", "+530d90+"),
        lambda v: v.replace("+Aeky", "+Beky"),  # type 0x05... not Ed25519
        lambda v: v.replace("example.com/foo", "example.com/bar"),
        lambda v: v[:-4],
        lambda v: v + "A",
        lambda v: v.split("+")[0],
    ],
)
def test_verifier_key_rules(mutate: object) -> None:
    assert callable(mutate)
    with pytest.raises(CheckpointError):
        VerifierKey.parse(mutate(SPEC_VKEY))


# -- signed-note: every refusal by its exact message, and the limits at their edges -------------

_SIG6 = base64.b64encode(bytes(6)).decode()  # 8 characters, no padding
_MALFORMED = "signed note has a malformed signature line"
_NOT_B64 = "signed note has a signature that is not base64"
_NO_BLANK = "signed note has no blank line before its signatures"


def _message(f: object) -> str:
    assert callable(f)
    with pytest.raises(ValueError) as info:  # CheckpointError is a ValueError too
        f()
    return str(info.value)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (b"\xff\n\n\xe2\x80\x94 a AAAAAAAA\n", "signed note is not valid UTF-8"),
        (bytearray(b"t\n\n\xe2\x80\x94 a \xc3\n"), "signed note is not valid UTF-8"),
        ("t \ud800\n\n\u2014 a AAAAAAAA\n", "signed note is not valid UTF-8"),
        (5, "a signed note must be text"),
        ("tab\there\n\n\u2014 a AAAAAAAA\n", "signed note contains control characters"),
        ("no blank line\n\u2014 a AAAAAAAA\n", _NO_BLANK),
        ("no final newline\n\n\u2014 a AAAAAAAA", _NO_BLANK),
        ("text\n\n", _NO_BLANK),
        ("text\n\n- a AAAAAAAA\n", _MALFORMED),
        ("text\n\n\u2014 a\n", _MALFORMED),
        ("text\n\n\u2014  AAAAAAAA\n", _MALFORMED),
        ("text\n\n\u2014 a \n", _MALFORMED),
        ("text\n\n\u2014 a+b AAAAAAAA\n", _MALFORMED),
        ("text\n\n\u2014 a AAAAAAA\n", _NOT_B64),
        ("text\n\n\u2014 a AAAA AAAA\n", _NOT_B64),  # the name ends at the first space
        ("text\n\n\u2014 a AA-_AAAA\n", _NOT_B64),  # URL alphabet
        (f"text\n\n\u2014 a {_SIG6}====\n", _NOT_B64),  # padding a decoder would skip
        ("text\n\n\u2014 a AAAA\n", "signed note has a signature that is too short"),  # 3 bytes
        ("text\n\n\u2014 a AAAAAA==\n", "signed note has a signature that is too short"),  # 4 bytes
    ],
)
def test_note_refusals_say_why(note: object, message: str) -> None:
    assert _message(lambda: parse_note(note)) == message  # type: ignore[arg-type]


def test_note_limits_at_their_edges() -> None:
    # Five bytes is the shortest signature line: a key ID and one byte.
    five = parse_note("t\n\n\u2014 a " + base64.b64encode(bytes(range(5))).decode() + "\n")
    assert five.signatures == (Signature("a", bytes(range(4)), b"\x04"),)
    # A note whose text is one empty line: the blank line is then the note's first two characters.
    name, k, vkey = _key()
    assert verify_note(sign_note("\n", name, k), vkey) == "\n"
    # MAX_SIGNATURES signature lines are taken, one more is not.
    note = sign_note("t\n", name, k)
    others = [signature_line("t\n", f"w{i}", Ed25519PrivateKey.generate()) for i in range(MAX_SIGNATURES)]
    assert verify_note(note + "".join(others[: MAX_SIGNATURES - 1]), vkey) == "t\n"
    assert (
        _message(lambda: verify_note(note + "".join(others), vkey)) == "signed note has too many signatures"
    )
    # A note of exactly MAX_NOTE_BYTES characters is read, one more is not.
    line = signature_line("t\n", name, k)
    text = "a" * (MAX_NOTE_BYTES - len(line) - 2) + "\n"
    full = sign_note(text, name, k)
    assert len(full) == MAX_NOTE_BYTES
    assert verify_note(full, vkey) == text
    assert _message(lambda: parse_note(full + "x")) == "signed note is too large"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "checkpoint text needs origin, size and root lines"),
        ("o\n1\n", "checkpoint text needs origin, size and root lines"),
        ("o\n1\n" + "A" * 43 + "=", "checkpoint text needs origin, size and root lines"),
        ("\n1\n" + "A" * 43 + "=\n", "checkpoint origin line is empty or padded"),
        (" o\n1\n" + "A" * 43 + "=\n", "checkpoint origin line is empty or padded"),
        ("o\n01\n" + "A" * 43 + "=\n", "checkpoint size is not a decimal uint64"),
        ("o\n18446744073709551616\n" + "A" * 43 + "=\n", "checkpoint size is not a decimal uint64"),
        ("o\n1\n" + "A" * 42 + "!=\n", "checkpoint root is not base64"),
        ("o\n1\n" + "A" * 40 + "\n", "checkpoint root is not a 32-byte hash"),
        ("o\n1\n" + "A" * 43 + "=\n\next\n", "checkpoint has an empty extension line"),
        ("o\n1\n" + "A" * 43 + "=\next\n\n", "checkpoint has an empty extension line"),
    ],
)
def test_checkpoint_body_refusals_say_why(body: str, message: str) -> None:
    assert _message(lambda: parse_checkpoint_body(body)) == message
    top = "o\n18446744073709551615\n" + "A" * 43 + "=\n"  # 2^64 - 1: the largest size
    assert parse_checkpoint_body(top) == ("o", (1 << 64) - 1, bytes(32))


_SPEC_B64 = SPEC_VKEY.split("+")[2]


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        (5, "verifier key must be a string name+keyid+base64"),
        ("name", "verifier key is not of the form name+keyid+base64"),
        ("x y+530d903a+" + _SPEC_B64, "verifier key is not of the form name+keyid+base64"),
        ("example.com/foo+530D903A+" + _SPEC_B64, "verifier key: key ID must be 8 lowercase hex digits"),
        ("example.com/foo+530d903a00+" + _SPEC_B64, "verifier key: key ID must be 8 lowercase hex digits"),
        ("example.com/foo+530d903a+AQ=", "verifier key: key ID or key is not hex/base64"),
        ("example.com/foo+530d903a+", "verifier key: no key material"),
        ("example.com/foo+530d903a+AQ==", "verifier key: only Ed25519 keys (type 0x01) are supported"),
        ("example.com/foo+530d903b+" + _SPEC_B64, "verifier key: key ID does not match name and key"),
    ],
)
def test_verifier_key_refusals_say_why(vkey: object, message: str) -> None:
    assert _message(lambda: VerifierKey.parse(vkey)) == message  # type: ignore[arg-type]


def test_key_name_and_text_refusals_say_why() -> None:
    k = Ed25519PrivateKey.generate()
    bad = "key name 'a b' must be non-empty, without spaces or '+'"
    assert _message(lambda: verifier_key("a b", bytes(32))) == bad
    assert _message(lambda: signature_line("t\n", "a b", k)) == bad
    assert _message(lambda: signer_key("a b", k)) == bad
    assert _message(lambda: signature_line("t", "a", k)) == "note text must end with a newline"
    assert _message(lambda: b64decode_strict("AAA")) == "not base64"
    assert _message(lambda: b64decode_strict("AA-A")) == "not base64"
    assert _message(lambda: b64decode_strict("AAAA====")) == "not base64"
    assert b64decode_strict("AAAA") == bytes(3) and b64decode_strict("") == b""


def test_signer_keys_round_trip_and_bad_ones_never_echo_the_key() -> None:
    k = Ed25519PrivateKey.generate()
    text = signer_key("example.org/w", k)
    prefix, word, name, kid, b64 = text.split("+", 4)
    assert (prefix, word, name) == ("PRIVATE", "KEY", "example.org/w")
    assert kid == key_id("example.org/w", public_key_bytes(k)).hex()
    assert base64.b64decode(b64) == b"\x01" + k.private_bytes_raw()
    got_name, got = parse_signer_key(text + "\n")
    assert got_name == "example.org/w" and got.private_bytes_raw() == k.private_bytes_raw()
    seed = base64.b64encode(b"\x01" + k.private_bytes_raw()).decode()
    other_kid = key_id("example.org/v", public_key_bytes(k)).hex()
    for bad in [
        text.replace("PRIVATE", "private"),
        text.replace("+KEY+", "+KEX+"),
        text.replace(kid, other_kid),
        f"PRIVATE+KEY+example.org/v w+{kid}+{seed}",
        f"PRIVATE+KEY+example.org/w+{kid}+" + base64.b64encode(b"\x04" + k.private_bytes_raw()).decode(),
        f"PRIVATE+KEY+example.org/w+{kid}+" + base64.b64encode(b"\x01" + bytes(31)).decode(),
        f"PRIVATE+KEY+example.org/w+{kid}+{seed}=",
        "PRIVATE+KEY+example.org/w",
        None,
    ]:
        message = _message(lambda bad=bad: parse_signer_key(bad))
        assert message == "not an Ed25519 signer key PRIVATE+KEY+name+keyid+base64"
        assert seed not in message


def test_open_note_keeps_every_line_and_names_its_keys() -> None:
    name, k, vkey = _key("example.org/a")
    key = VerifierKey.parse(vkey)
    text = "hello\n"
    stranger = signature_line(text, "example.org/x", Ed25519PrivateKey.generate())
    own = signature_line(text, name, k)
    # An unknown line first, then the known one: both are read, each kept where it belongs.
    opened = open_note(text + "\n" + stranger + own + stranger, [key, key])
    assert opened.text == text
    assert opened.verified == (parse_note(text + "\n" + own).signatures[0],)
    assert opened.unverified == (parse_note(text + "\n" + stranger).signatures[0],)
    forged = own[:-6] + ("A" if own[-6] != "A" else "B") + own[-5:]
    assert _message(lambda: open_note(text + "\n" + stranger + forged, [key])) == (
        "signature by example.org/a does not verify"
    )
    _, _, vkey_b = _key("example.org/b")
    two = [VerifierKey.parse(vkey_b), key]
    assert _message(lambda: open_note(text + "\n" + stranger, two)) == (
        "no signature by example.org/a, example.org/b on this note"
    )
    assert _message(lambda: open_note(text + "\n" + stranger, [])) == "no signature by no key on this note"
    twin = VerifierKey(key.name, key.key_id, public_key_bytes(Ed25519PrivateKey.generate()))
    assert _message(lambda: open_note(text + "\n" + own, [key, twin])) == (
        f"two different keys share the name example.org/a and key ID {key.key_id.hex()}"
    )


def test_add_signatures_appends_only_new_lines() -> None:
    name, k, _ = _key()
    note = sign_note("t\n", name, k)
    w1 = signature_line("t\n", "w1", Ed25519PrivateKey.generate())
    w2 = signature_line("t\n", "w2", Ed25519PrivateKey.generate())
    assert add_signatures(note, [w1.rstrip("\n")]) == note + w1  # a line without its newline
    assert add_signatures(note, [w1, w2, w1]) == note + w1 + w2
    assert add_signatures(note + w1, [w2, w1]) == note + w1 + w2


def test_checkpoints_carry_their_fields() -> None:
    name, k, vkey = _key("example.org/log")
    root = sha256(b"r").digest()
    cp = sign_checkpoint("example.org/log", 7, root, name, k)
    assert (cp.origin, cp.size, cp.root, cp.root_hex) == ("example.org/log", 7, root, root.hex())
    assert cp.note.startswith(checkpoint_body("example.org/log", 7, root) + "\n\u2014 example.org/log ")
    w = Ed25519PrivateKey.generate()
    wkey = CosignerKey.of("w.example", public_key_bytes(w))
    cosigned = cp.note + cosign(checkpoint_body("example.org/log", 7, root), "w.example", w, 99)
    opened_cp, opened = open_checkpoint(cosigned, [VerifierKey.parse(vkey), wkey])
    assert opened_cp == Checkpoint("example.org/log", 7, root, cosigned)
    assert [s.name for s in opened.verified] == ["example.org/log", "w.example"]
    bad = sign_note("example.org/log\n07\n" + base64.b64encode(root).decode() + "\n", name, k)
    assert _message(lambda: open_checkpoint(bad, [VerifierKey.parse(vkey)])) == (
        "checkpoint size is not a decimal uint64"
    )


# -- tlog-checkpoint -----------------------------------------------------------------------------

SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_spec_checkpoint_body() -> None:
    origin, size, root = parse_checkpoint_body(SOFA)
    assert (origin, size, base64.b64encode(root).decode()) == (
        "example.com/behind-the-sofa",
        20852163,
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
    )
    assert parse_checkpoint_body("o\n0\n" + base64.b64encode(sha256(b"").digest()).decode() + "\n")[1] == 0


@pytest.mark.parametrize(
    "body",
    [
        "",
        "o\n1\n",
        "\n1\n" + "A" * 43 + "=\n",  # empty origin
        "o\n01\n" + "A" * 43 + "=\n",  # leading zero
        "o\n-1\n" + "A" * 43 + "=\n",
        "o\n18446744073709551616\n" + "A" * 43 + "=\n",  # 2^64
        "o\n1\n" + "A" * 40 + "\n",  # not 32 bytes
        "o\n1\n" + "A" * 43 + "=\n\next\n",  # an empty extension line
        "o\n1\n" + "A" * 43 + "=",  # no final newline
    ],
)
def test_checkpoint_body_rules(body: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint_body(body)


def test_extension_lines_are_signed_and_cosigned() -> None:
    name, k, vkey = _key("example.org/log")
    text = "example.org/log\n3\n" + base64.b64encode(bytes(32)).decode() + "\nextension one\n"
    note = sign_note(text, name, k)
    assert verify_checkpoint(note, vkey)[1] == 3
    w = Ed25519PrivateKey.generate()
    wkey = CosignerKey.of("w.example", public_key_bytes(w))
    line = cosign(text, "w.example", w, 1_700_000_000)
    assert verify_cosignature(note + line, wkey) == 1_700_000_000
    altered = note.replace("extension one", "extension two") + line
    with pytest.raises(CheckpointError):
        verify_cosignature(altered, wkey)


# -- tlog-cosignature ----------------------------------------------------------------------------


def test_spec_cosignature_example_carries_its_timestamp() -> None:
    line = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    raw = base64.b64decode(line)
    assert len(raw) == 4 + 8 + 64
    assert struct.unpack(">Q", raw[4:12])[0] == 1679315147  # the "time 1679315147" of the spec's message
    assert cosigned_message(SOFA, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_cosignature_is_ed25519_over_the_v1_message_with_key_type_4() -> None:
    w = Ed25519PrivateKey.generate()
    pub = public_key_bytes(w)
    line = cosign(SOFA, "w.example/1", w, 1679315147)
    name, b64 = line[2:-1].split(" ")
    raw = base64.b64decode(b64)
    assert name == "w.example/1"
    assert raw[:4] == sha256(b"w.example/1\n\x04" + pub).digest()[:4]
    assert raw[4:12] == struct.pack(">Q", 1679315147)
    w.public_key().verify(raw[12:], b"cosignature/v1\ntime 1679315147\n" + SOFA.encode())
    vkey = str(CosignerKey.of("w.example/1", pub))
    assert vkey.split("+")[2].startswith("B")  # base64 of 0x04 ...
    assert CosignerKey.parse(vkey).public_key == pub
    # An ordinary (type 0x01) note signature by the same key is not a cosignature.
    plain = signature_line(SOFA, "w.example/1", w)
    assert valid_cosignatures(SOFA + "\n" + plain, [vkey]) == {}


def test_cosignature_timestamps() -> None:
    w = Ed25519PrivateKey.generate()
    vkey = CosignerKey.of("w", public_key_bytes(w))
    for bad in (0, -1, 1 << 63, True):
        with pytest.raises(CosignatureError):
            cosign(SOFA, "w", w, bad)
    assert verify_cosignature(SOFA + "\n" + cosign(SOFA, "w", w, (1 << 63) - 1), vkey) == (1 << 63) - 1
    # A signature whose timestamp is 2^63 (signed over its own message) is still refused.
    ts = 1 << 63
    sig = w.sign(f"cosignature/v1\ntime {ts}\n".encode() + SOFA.encode())
    b64 = base64.b64encode(vkey.key_id + struct.pack(">Q", ts) + sig).decode()
    with pytest.raises(CosignatureError):
        verify_cosignature(SOFA + f"\n\u2014 w {b64}\n", vkey)
    # Moving the timestamp breaks the signature: it is part of the signed message.
    good = cosign(SOFA, "w", w, 1000)
    raw = bytearray(base64.b64decode(good[4:-1]))
    raw[11] ^= 1
    moved = SOFA + f"\n\u2014 w {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CosignatureError):
        verify_cosignature(moved, vkey)


def test_quorum_counts_distinct_configured_witnesses() -> None:
    log = MemoryLog().grow(5)
    note = log.checkpoint()
    text = parse_note(note).text
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    vkeys = [str(CosignerKey.of(f"w{i}", public_key_bytes(k))) for i, k in enumerate(keys)]
    two = (
        note
        + cosign(text, "w0", keys[0], 10)
        + cosign(text, "w1", keys[1], 11)
        + cosign(text, "w0", keys[0], 12)
    )
    assert require_quorum(two, log.vkey, vkeys, 2) == {"w0": 10, "w1": 11}
    with pytest.raises(CosignatureError, match="2 of the required 3"):
        require_quorum(two, log.vkey, vkeys, 3)
    with pytest.raises(CosignatureError, match="more than"):
        require_quorum(two, log.vkey, vkeys[:1], 2)
    with pytest.raises(CheckpointError):
        require_quorum(two, MemoryLog(log.origin).vkey, vkeys, 0)  # not the log's key
    stranger = Ed25519PrivateKey.generate()
    unknown = note + cosign(text, "w2", stranger, 13)  # name of a witness, other key: ignored
    assert require_quorum(unknown, log.vkey, vkeys, 0) == {}


def test_cosignature_refusals_say_why() -> None:
    w = Ed25519PrivateKey.generate()
    pub = public_key_bytes(w)
    vkey = str(CosignerKey.of("w", pub))
    stamp = "a cosignature timestamp is a POSIX time between 1 and 2^63 - 1"
    for bad in (0, -1, 1 << 63, True, "5"):
        assert _message(lambda bad=bad: cosign(SOFA, "w", w, bad)) == stamp
    # 1 is the first POSIX time a witness may sign with.
    assert verify_cosignature(SOFA + "\n" + cosign(SOFA, "w", w, 1), vkey) == 1
    assert _message(lambda: cosigned_message(SOFA[:-1], 5)) == "checkpoint text must end with a newline"
    assert _message(lambda: CosignerKey.of("a b", pub)) == (
        "witness name 'a b' must be non-empty, without spaces or '+'"
    )
    assert _message(lambda: CosignerKey.parse(verifier_key("w", pub))) == (
        "witness key: only Ed25519 cosigner keys (type 0x04) are supported"
    )
    other_id = key_id("v", pub, 0x04).hex()
    assert _message(lambda: CosignerKey.parse(vkey.replace(vkey.split("+")[1], other_id))) == (
        "witness key: key ID does not match name and key"
    )
    assert _message(lambda: CosignerKey.parse("w")) == "witness key is not of the form name+keyid+base64"
    signed = SOFA + "\n" + cosign(SOFA, "w", w, 7)
    forged = signed[:-6] + ("A" if signed[-6] != "A" else "B") + signed[-5:]
    assert _message(lambda: valid_cosignatures(forged, [vkey])) == "cosignature by w does not verify"
    assert _message(lambda: verify_cosignature(SOFA + "\n" + cosign(SOFA, "v", w, 7), vkey)) == (
        "no cosignature by witness w on this checkpoint"
    )


def test_a_timestamp_with_its_top_bit_set_is_never_read_as_negative() -> None:
    # 0xff..ff is 2^64 - 1 (over the bound), not -1: a signature over "time -1" is refused.
    w = Ed25519PrivateKey.generate()
    vkey = CosignerKey.of("w", public_key_bytes(w))
    sig = w.sign(b"cosignature/v1\ntime -1\n" + SOFA.encode())
    b64 = base64.b64encode(vkey.key_id + b"\xff" * 8 + sig).decode()
    assert _message(lambda: verify_cosignature(SOFA + f"\n\u2014 w {b64}\n", vkey)) == (
        "cosignature by w does not verify"
    )


def test_quorum_refusals_say_why() -> None:
    log = MemoryLog().grow(3)
    note = log.checkpoint()
    text = parse_note(note).text
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    vkeys = [str(CosignerKey.of(f"w{i}", public_key_bytes(k))) for i, k in enumerate(keys)]
    for bad in (-1, True, "1", 1.0):
        assert _message(lambda bad=bad: require_quorum(note, log.vkey, vkeys, bad)) == (
            "quorum must be a non-negative integer"
        )
    assert _message(lambda: require_quorum(note, log.vkey, vkeys, 1)) == (
        "0 of the required 1 witness cosignatures (valid: none)"
    )
    both = note + cosign(text, "w1", keys[1], 5) + cosign(text, "w0", keys[0], 6)
    three = [*vkeys, str(CosignerKey.of("w2", bytes(32)))]
    assert _message(lambda: require_quorum(both, log.vkey, three, 3)) == (
        "2 of the required 3 witness cosignatures (valid: w0, w1)"
    )
    assert require_quorum(both, log.vkey, vkeys, 2) == {"w0": 6, "w1": 5}


# -- tlog-proof ----------------------------------------------------------------------------------


def test_tlog_proof_format_and_extra() -> None:
    log = MemoryLog().grow(9)
    from pars.audit.merkle import inclusion_proof

    proof = inclusion_proof(log.leaves, 5)
    text = format_proof(5, proof, log.checkpoint(), extra=b"context")
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "extra " + base64.b64encode(b"context").decode()
    assert lines[2] == "index 5"
    assert lines[3 : 3 + len(proof)] == [base64.b64encode(h).decode() for h in proof]
    assert lines[3 + len(proof)] == ""
    assert text.endswith(log.checkpoint())
    ok = verify_proof(text, log_key=log.vkey, entry=log.entry(5))
    assert ok.extra == b"context" and ok.index == 5 and ok.size == 9
    # The extra line is not authenticated: changing it changes nothing verified.
    other = text.replace(lines[1], "extra " + base64.b64encode(b"lies").decode())
    assert verify_proof(other, log_key=log.vkey, leaf_hash=leaf_hash(log.entry(5))).extra == b"lies"
    assert parse_proof(format_proof(0, [], log.checkpoint(1))).proof == ()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
        lambda t: t.replace("index 5", "index 05"),
        lambda t: t.replace("index 5", "index5"),
        lambda t: t.replace("index 5\n", ""),
        lambda t: t.replace("index 5\n", "index 5\nnot base64\n"),
        lambda t: t.replace("index 5\n", "index 5\nAAAA\n"),
        lambda t: t.replace("\n\n", "\n", 1),
        lambda t: t.replace("index 5", "extra !!\nindex 5"),
        lambda t: t.split("\n\n")[0] + "\n\n",
    ],
)
def test_tlog_proof_malformed(mutate: object) -> None:
    assert callable(mutate)
    log = MemoryLog().grow(9)
    from pars.audit.merkle import inclusion_proof

    text = format_proof(5, inclusion_proof(log.leaves, 5), log.checkpoint())
    with pytest.raises(TlogProofError):
        parse_proof(mutate(text))


def test_tlog_proof_verify_steps() -> None:
    log = MemoryLog().grow(9)
    from pars.audit.merkle import inclusion_proof

    text = format_proof(5, inclusion_proof(log.leaves, 5), log.checkpoint())
    with pytest.raises(TlogProofError, match="checkpoint"):
        verify_proof(text, log_key=MemoryLog(log.origin).vkey, entry=log.entry(5))
    with pytest.raises(TlogProofError, match="origin"):
        verify_proof(text, log_key=log.vkey, entry=log.entry(5), origin="example.gov/other")
    w = CosignerKey.of("w", public_key_bytes(Ed25519PrivateKey.generate()))
    with pytest.raises(TlogProofError, match="witnesses"):
        verify_proof(text, log_key=log.vkey, entry=log.entry(5), witness_keys=[w], quorum=1)
    with pytest.raises(TlogProofError, match="exactly one"):
        verify_proof(text, log_key=log.vkey)
    bigger = MemoryLog(log.origin, log.key).grow(10)  # a proof against another size does not verify
    moved = text.replace(log.checkpoint(), bigger.checkpoint())
    with pytest.raises(TlogProofError, match="inclusion"):
        verify_proof(moved, log_key=log.vkey, entry=log.entry(5))


def _proof_text(log: MemoryLog, index: int = 5) -> str:
    from pars.audit.merkle import inclusion_proof

    return format_proof(index, inclusion_proof(log.leaves, index), log.checkpoint())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.encode()[:3] + b"\xff" + t.encode()[3:], "tlog-proof is not valid UTF-8"),
        (lambda t: 5, "tlog-proof must be text"),
        (lambda t: t.split("\n\n")[0] + "\n", "tlog-proof has no blank line before its checkpoint"),
        (
            lambda t: t.replace("tlog-proof@v1", "tlog-proof@v2"),
            "tlog-proof must start with the line c2sp.org/tlog-proof@v1",
        ),
        (lambda t: t.replace("index 5", "extra !!\nindex 5"), "tlog-proof extra line is not base64"),
        (
            lambda t: t.replace("index 5", "index 05"),
            "tlog-proof needs the line 'index N' (decimal, no leading zeroes)",
        ),
        (
            lambda t: t.replace("index 5\n", ""),
            "tlog-proof needs the line 'index N' (decimal, no leading zeroes)",
        ),
        (
            lambda t: t.split("\n")[0] + "\n\n" + t.split("\n\n", 1)[1],
            "tlog-proof needs the line 'index N' (decimal, no leading zeroes)",
        ),
        (lambda t: t.replace("index 5", "index 18446744073709551616"), "tlog-proof index is beyond 2^64 - 1"),
        (lambda t: t.replace("index 5\n", "index 5\nnot base64\n"), "tlog-proof hash line 1 is not base64"),
        (lambda t: t.replace("\n\n", "\nAAAA\n\n", 1), "tlog-proof hash line 5 is not a 32-byte hash"),
        (
            lambda t: t.replace("\n\n", "\n" + (base64.b64encode(bytes(32)).decode() + "\n") * 61 + "\n", 1),
            "tlog-proof has more than 64 hashes",
        ),
        (
            lambda t: t.split("\n\n")[0] + "\n\nno checkpoint\n\n\u2014 a AAAAAAAA\n",
            "tlog-proof checkpoint: checkpoint text needs origin, size and root lines",
        ),
        (
            lambda t: t.split("\n\n")[0] + "\n\n",
            "tlog-proof checkpoint: signed note has no blank line before its signatures",
        ),
    ],
)
def test_tlog_proof_refusals_say_why(mutate: object, message: str) -> None:
    assert callable(mutate)
    log = MemoryLog().grow(9)
    text = _proof_text(log)
    assert len(parse_proof(text).proof) == 4
    assert _message(lambda: parse_proof(mutate(text))) == message


def test_tlog_proof_bounds() -> None:
    log = MemoryLog().grow(9)
    cp = log.checkpoint()
    top = (1 << 64) - 1
    hashes = [sha256(bytes([i])).digest() for i in range(64)]
    text = format_proof(top, hashes, cp)
    parsed = parse_proof(text.encode())
    assert (parsed.index, parsed.proof, parsed.checkpoint, parsed.extra) == (top, tuple(hashes), cp, None)
    assert parsed.format() == text
    with_extra = parse_proof(format_proof(3, hashes[:2], cp, extra=b""))
    assert with_extra.extra == b"" and with_extra.format() == format_proof(3, hashes[:2], cp, extra=b"")
    index_error = "index must be an integer between 0 and 2^64 - 1"
    for bad in (-1, 1 << 64, True, "1", 1.0):
        assert _message(lambda bad=bad: format_proof(bad, [], cp)) == index_error
    proof_error = "proof must be at most 64 hashes of 32 bytes"
    assert _message(lambda: format_proof(1, [*hashes, hashes[0]], cp)) == proof_error
    assert _message(lambda: format_proof(1, [bytes(31)], cp)) == proof_error
    assert _message(lambda: format_proof(1, [], "no note")) == _NO_BLANK


def test_tlog_proof_verified_fields_and_refusals_say_why() -> None:
    from pars.audit.merkle import inclusion_proof

    log = MemoryLog().grow(9)
    text = _proof_text(log)
    w = Ed25519PrivateKey.generate()
    wkey = CosignerKey.of("w.example", public_key_bytes(w))
    cosigned = log.checkpoint() + cosign(parse_note(log.checkpoint()).text, "w.example", w, 42)
    proof = parse_proof(format_proof(5, inclusion_proof(log.leaves, 5), cosigned, extra=b"x"))
    ok = verify_proof(
        proof, log_key=VerifierKey.parse(log.vkey), entry=log.entry(5), witness_keys=[wkey], quorum=1
    )
    assert ok == VerifiedProof(5, leaf_hash(log.entry(5)), log.origin, 9, log.root(), {"w.example": 42}, b"x")
    other = verify_proof(text, log_key=log.vkey, leaf_hash=leaf_hash(log.entry(5)), origin=log.origin)
    assert (other.cosignatures, other.extra) == ({}, None)
    lh = leaf_hash(log.entry(5))
    assert _message(lambda: verify_proof(text, log_key=log.vkey, entry=log.entry(5), leaf_hash=lh)) == (
        "give exactly one of entry and leaf_hash"
    )
    assert (
        _message(lambda: verify_proof(text, log_key=log.vkey, leaf_hash=lh[:31]))
        == "leaf_hash must be 32 bytes"
    )
    stranger = MemoryLog(log.origin)
    assert _message(lambda: verify_proof(text, log_key=stranger.vkey, entry=log.entry(5))) == (
        f"checkpoint: no signature by {log.origin} on this note"
    )
    assert _message(lambda: verify_proof(text, log_key=log.vkey, entry=log.entry(5), origin="o.example")) == (
        f"checkpoint origin {log.origin!r} is not the log's 'o.example'"
    )
    assert (
        _message(
            lambda: verify_proof(text, log_key=log.vkey, entry=log.entry(5), witness_keys=[wkey], quorum=1)
        )
        == "witnesses: 0 of the required 1 witness cosignatures (valid: none)"
    )
    assert _message(lambda: verify_proof(text, log_key=log.vkey, entry=log.entry(4))) == (
        "inclusion: entry 5 is not in the tree of size 9 with this proof"
    )


# -- tlog-tiles ----------------------------------------------------------------------------------


def test_spec_tile_index_example() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(ENTRIES, 1234067, 7) == "tile/entries/x001/x234/067.p/7"
    assert parse_tile_path("tile/3/x001/x234/067.p/255") == Tile(3, 1234067, 255)
    assert encode_index(0) == "000" and encode_index(1000) == "x001/000"


def test_spec_tree_of_70000_and_256() -> None:
    tiles = list(tiles_for_size(70_000))
    level0 = [t for t in tiles if t.level == 0]
    assert sum(not t.is_partial for t in level0) == 273
    assert [t.width for t in level0 if t.is_partial] == [112]
    assert [(t.level, t.width) for t in tiles if t.level > 0] == [(1, 256), (1, 17), (2, 1)]
    assert [(t.level, t.index, t.width) for t in tiles_for_size(256)] == [(0, 0, 256), (1, 0, 1)]
    assert [t.path for t in tiles_for_size(300, entries=True)] == [
        "tile/entries/000",
        "tile/entries/001.p/44",
    ]
    assert list(tiles_for_size(0)) == []


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/005",
        "tile/0/5",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/010",
        "tile/0/001/002",
        "tile/0/x001",
        "tile/0/x1/002",
        "tile/0/000/",
        "tile/data/000",
        "tile/0/000.p/",
        "/tile/0/000",
        "tile/entries/",
        "tile/0/0x1",
    ],
)
def test_non_canonical_tile_paths_are_rejected(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


def test_every_path_round_trips() -> None:
    for level in (ENTRIES, 0, 1, 63):
        for index in (0, 1, 999, 1000, 999_999, 1_000_000, 1 << 40):
            for width in (1, 255, 256):
                path = tile_path(level, index, width)
                assert parse_tile_path(path) == Tile(level, index, width)


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"x" * 300, b"y" * 65535]
    blob = encode_bundle(entries)
    assert blob[:2] == b"\x00\x00" and blob[2:5] == b"\x00\x01a" and blob[5:7] == b"\x01\x2c"
    assert decode_bundle(blob) == entries
    assert decode_bundle(blob, count=4) == entries
    with pytest.raises(TilePathError):
        decode_bundle(blob, count=3)
    assert decode_bundle(blob[:2]) == [b""]  # one empty entry is a whole bundle
    for cut in (1, 3, 4, len(blob) - 1):
        with pytest.raises(TilePathError):
            decode_bundle(blob[:cut])
    with pytest.raises(TilePathError):
        encode_bundle([b"z" * 65536])


# -- tlog-witness request body (the client's) -----------------------------------------------------

SPEC_REQUEST = """old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
"""


def test_request_body_matches_the_spec_example() -> None:
    head, _, note = SPEC_REQUEST.partition("\n\n")
    proof = [base64.b64decode(line) for line in head.split("\n")[1:]]
    assert request_body(20852014, proof, note).decode() == SPEC_REQUEST
    assert request_body(0, [], note).startswith(b"old 0\n\nexample.com/")
    with pytest.raises(ValueError, match="63"):
        request_body(1, [bytes(32)] * 64, note)


# -- the auditor API stays light ------------------------------------------------------------------


def test_auditor_api_and_c2sp_modules_import_without_the_store() -> None:
    code = (
        "import sys\n"
        "from pars.audit import leaf_hash, root_hash, verify_inclusion, verify_consistency, verify_checkpoint\n"
        "import pars.audit.note, pars.audit.cosignature, pars.audit.tlogproof, pars.audit.tilepath\n"
        "import pars.audit.merkle, pars.audit.tiles, pars.witness.client, pars.witness.core\n"
        "import pars.audit.monitor\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'psycopg', 'alembic')"
        " or m.startswith('pars.store'))\n"
        "assert not heavy, heavy\n"
        "from pars.audit import AuditLog, iter_entries, verify_log, scan\n"  # still importable, lazily
        "assert 'sqlalchemy' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_sign_checkpoint_round_trip() -> None:
    name, k, vkey = _key("example.org/log")
    cp = sign_checkpoint("example.org/log", 4, bytes(32), name, k)
    assert verify_checkpoint(cp.note, vkey) == ("example.org/log", 4, bytes(32))


# -- no input crashes a parser: it returns or raises the domain error ------------------------------


_NOTE_ALPHABET = st.sampled_from(["\n", "\u2014", " ", "+", "=", "/", "A", "a", "0", "x", "é", "\x7f", "\t"])
_noteish = st.lists(_NOTE_ALPHABET, max_size=80).map("".join) | st.text(max_size=80)


@settings(max_examples=300, deadline=None)
@given(text=_noteish, suffix=_noteish)
def test_parsers_never_crash(text: str, suffix: str) -> None:
    vkey = SPEC_VKEY
    for attempt in (
        lambda: parse_note(text + "\n\n\u2014 " + suffix),
        lambda: verify_note(text, vkey),
        lambda: verify_checkpoint(SOFA + "\n\u2014 " + suffix, vkey),
        lambda: parse_checkpoint_body(text),
        lambda: VerifierKey.parse(text),
        lambda: CosignerKey.parse(text),
        lambda: parse_proof("c2sp.org/tlog-proof@v1\n" + text + "\n\n" + suffix),
        lambda: valid_cosignatures(SOFA + "\n\u2014 " + suffix, []),
    ):
        with contextlib.suppress(CheckpointError):
            attempt()
    with contextlib.suppress(TilePathError):
        parse_tile_path("tile/" + text)
    with contextlib.suppress(TilePathError):
        decode_bundle(text.encode())
