"""C2SP signed notes and tlog-checkpoints with Ed25519 (key type 0x01).

A checkpoint is the note text ``origin\\nsize\\nbase64(root)\\n`` (optional
extension lines may follow), a blank line, then signature lines
``— <name> base64(keyid ‖ signature)``. The key ID is
SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]; a verifier key is written
``name+hex(keyid)+base64(0x01 ‖ public key)``.

Pure. Rule: a note is accepted only with at least one valid signature by the
given key; lines from unknown keys are ignored, a bad signature from the known
key rejects the note, and every problem raises ``CheckpointError``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pars.errors import ParsError

ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash and a space, as the spec writes it
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,19})$")
#: Control characters other than the newline (one regex scan, not a call per character).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


class CheckpointError(ParsError, ValueError):
    """A signed note or checkpoint that must not be trusted (the message says why)."""

    code = "bad_checkpoint"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A verified (or freshly signed) tree head: what a signed note commits to."""

    origin: str
    size: int
    root: bytes
    note: str

    @property
    def root_hex(self) -> str:
        return self.root.hex()


def _valid_name(name: str) -> bool:
    return bool(name) and all(c.isprintable() and not c.isspace() and c != "+" for c in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey)[:4]."""
    return sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _b64decode(text: str) -> bytes:
    # Strict standard base64 with padding: no whitespace, no URL alphabet.
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        raise ValueError("not base64")
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A parsed verifier key ``name+keyid+base64(0x01‖pubkey)``."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        if not isinstance(text, str):
            raise CheckpointError("verifier key must be a string name+keyid+base64")
        parts = text.strip().split("+", 2)  # base64 may itself hold "+"
        if len(parts) != 3 or not _valid_name(parts[0]):
            raise CheckpointError("verifier key is not of the form name+keyid+base64")
        name, hex_id, b64 = parts
        try:
            kid = bytes.fromhex(hex_id) if re.fullmatch(r"[0-9a-f]{8}", hex_id) else b""
            raw = _b64decode(b64)
        except ValueError:
            raise CheckpointError("verifier key: key ID or key is not hex/base64") from None
        if len(kid) != 4:
            raise CheckpointError("verifier key: key ID must be 8 lowercase hex digits")
        if len(raw) != 33 or raw[0] != ED25519:
            raise CheckpointError("verifier key: only Ed25519 keys (type 0x01) are supported")
        if key_id(name, raw[1:]) != kid:
            raise CheckpointError("verifier key: key ID does not match name and key")
        return cls(name, kid, raw[1:])

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string for an Ed25519 public key under ``name``."""
    if not _valid_name(name):
        raise CheckpointError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return str(VerifierKey(name, key_id(name, public_key), public_key))


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """A signed note: ``text`` (ending in a newline), a blank line, one signature line."""
    if not text.endswith("\n"):
        raise ValueError("note text must end with a newline")
    sig = private_key.sign(text.encode())
    kid = key_id(name, public_key_bytes(private_key))
    return f"{text}\n{SIG_PREFIX}{name} {base64.b64encode(kid + sig).decode()}\n"


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_checkpoint(
    origin: str, size: int, root: bytes, name: str, private_key: Ed25519PrivateKey
) -> Checkpoint:
    """Sign the tree head (origin, size, root) as a C2SP checkpoint."""
    note = sign_note(checkpoint_body(origin, size, root), name, private_key)
    return Checkpoint(origin, size, root, note)


def verify_note(note: str, verifier_key: str) -> str:
    """The text of ``note`` if it carries a valid signature by ``verifier_key``.

    Raises ``CheckpointError`` otherwise.
    """
    key = VerifierKey.parse(verifier_key)
    if not isinstance(note, str):
        raise CheckpointError("a signed note must be text")
    if len(note) > MAX_NOTE_BYTES:
        raise CheckpointError("signed note is too large")
    if _CONTROL.search(note):
        raise CheckpointError("signed note contains control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckpointError("signed note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("signed note has too many signatures")
    try:
        public = Ed25519PublicKey.from_public_bytes(key.public_key)
    except ValueError:
        raise CheckpointError("verifier key: not a valid Ed25519 public key") from None
    verified = False
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError("signed note has a malformed signature line")
        name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not _valid_name(name) or " " in b64:
            raise CheckpointError("signed note has a malformed signature line")
        try:
            raw = _b64decode(b64)
        except (ValueError, binascii.Error):
            raise CheckpointError("signed note has a signature that is not base64") from None
        if len(raw) < 5:
            raise CheckpointError("signed note has a signature that is too short")
        if name != key.name or raw[:4] != key.key_id:
            continue  # another signer (a witness, say): not ours to judge
        try:
            public.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError(f"signature by {name} does not verify") from None
        verified = True
    if not verified:
        raise CheckpointError(f"no signature by {key.name} on this note")
    return text


def parse_checkpoint_body(text: str) -> tuple[str, int, bytes]:
    """Origin, size and root of a checkpoint's note text (signature not checked)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint text needs origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin or origin != origin.strip():
        raise CheckpointError("checkpoint origin line is empty or padded")
    if not _DECIMAL.match(size_text) or int(size_text) >= 1 << 64:
        raise CheckpointError("checkpoint size is not a decimal uint64")
    try:
        root = _b64decode(root_text)
    except (ValueError, binascii.Error):
        raise CheckpointError("checkpoint root is not base64") from None
    if len(root) != 32:
        raise CheckpointError("checkpoint root is not a 32-byte hash")
    if any(line == "" for line in lines[3:-1]):
        raise CheckpointError("checkpoint has an empty extension line")
    return origin, int(size_text), root


def verify_checkpoint(note: str, verifier_key: str) -> tuple[str, int, bytes]:
    """Origin, size and root of a checkpoint signed by ``verifier_key``.

    Raises ``CheckpointError`` on a bad or missing signature or a malformed note.
    """
    return parse_checkpoint_body(verify_note(note, verifier_key))
