"""C2SP signed notes and tlog-checkpoints with Ed25519 (key type 0x01).

A checkpoint is the note text ``origin\\nsize\\nbase64(root)\\n`` (optional
extension lines may follow), a blank line, then signature lines
``— <name> base64(keyid ‖ signature)``. The key ID is
SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]; a verifier key is written
``name+hex(keyid)+base64(0x01 ‖ public key)``.

``open_note(note, verifiers)`` is the one verification: it checks a note against
a set of keys of any kind that has a ``Verifier`` shape (Ed25519 signers here,
witness cosigners in ``pars.audit.cosignature``), exactly as signed-note says.

Pure. Rule: a note is accepted only with at least one valid signature by a given
key; lines from unknown keys (name or ID differ) are ignored, a bad signature
from a known key rejects the whole note, and every problem raises
``CheckpointError``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pars.errors import ParsError

ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash and a space, as the spec writes it
#: The spec asks verifiers to accept at least 16 signatures; Go's sumdb/note stops at 100.
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,19})$")
#: ASCII control characters other than the newline: the spec forbids those below U+0020.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


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


def valid_key_name(name: str) -> bool:
    """signed-note: key names are non-empty, without Unicode spaces or ``+``."""
    return (
        isinstance(name, str)
        and bool(name)
        and not any(c.isspace() or c == "+" for c in name)
        and not _CONTROL.search(name)
    )


def key_id(name: str, public_key: bytes, sig_type: int = ED25519) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ type ‖ pubkey)[:4]."""
    return sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding (RFC 4648 section 4): no whitespace, no URL alphabet."""
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        raise ValueError("not base64")
    return base64.b64decode(text, validate=True)


class Verifier(Protocol):
    """What ``open_note`` needs of a key: its name and ID, and a check of one signature."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Does ``signature`` (the bytes after the 4-byte key ID) sign the note ``text``?"""
        ...


def _split_vkey(text: object, what: str) -> tuple[str, bytes, bytes]:
    """Name, key ID and raw ``type ‖ key`` of ``name+hex(keyid)+base64(type ‖ key)``."""
    if not isinstance(text, str):
        raise CheckpointError(f"{what} must be a string name+keyid+base64")
    parts = text.strip().split("+", 2)  # base64 may itself hold "+"
    if len(parts) != 3 or not valid_key_name(parts[0]):
        raise CheckpointError(f"{what} is not of the form name+keyid+base64")
    name, hex_id, b64 = parts
    try:
        kid = bytes.fromhex(hex_id) if re.fullmatch(r"[0-9a-f]{8}", hex_id) else b""
        raw = b64decode_strict(b64)
    except ValueError:
        raise CheckpointError(f"{what}: key ID or key is not hex/base64") from None
    if len(kid) != 4:
        raise CheckpointError(f"{what}: key ID must be 8 lowercase hex digits")
    if not raw:
        raise CheckpointError(f"{what}: no key material")
    return name, kid, raw


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A parsed verifier key ``name+keyid+base64(0x01‖pubkey)``."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        name, kid, raw = _split_vkey(text, "verifier key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise CheckpointError("verifier key: only Ed25519 keys (type 0x01) are supported")
        if key_id(name, raw[1:]) != kid:
            raise CheckpointError("verifier key: key ID does not match name and key")
        try:
            Ed25519PublicKey.from_public_bytes(raw[1:])
        except ValueError:
            raise CheckpointError("verifier key: not a valid Ed25519 public key") from None
        return cls(name, kid, raw[1:])

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string for an Ed25519 public key under ``name``."""
    if not valid_key_name(name):
        raise CheckpointError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return str(VerifierKey(name, key_id(name, public_key), public_key))


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# -- signer keys ---------------------------------------------------------------------------


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The signer key text ``PRIVATE+KEY+name+hex(keyid)+base64(0x01 ‖ seed)`` (Go's sumdb/note)."""
    if not valid_key_name(name):
        raise CheckpointError(f"key name {name!r} must be non-empty, without spaces or '+'")
    kid = key_id(name, public_key_bytes(private_key)).hex()
    b64 = base64.b64encode(bytes([ED25519]) + private_key.private_bytes_raw()).decode()
    return f"PRIVATE+KEY+{name}+{kid}+{b64}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """Name and Ed25519 key of a signer key; ``CheckpointError`` if it is not one.

    The message never repeats the key (it is a secret).
    """
    try:
        prefix, word, name, kid, b64 = text.strip().split("+", 4)
        blob = b64decode_strict(b64)
        if prefix != "PRIVATE" or word != "KEY" or len(blob) != 33 or blob[0] != ED25519:
            raise ValueError
        if not valid_key_name(name):
            raise ValueError
        key = Ed25519PrivateKey.from_private_bytes(blob[1:])
        if key_id(name, public_key_bytes(key)).hex() != kid:
            raise ValueError
    except (ValueError, AttributeError):
        raise CheckpointError("not an Ed25519 signer key PRIVATE+KEY+name+keyid+base64") from None
    return name, key


# -- notes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: ``— name base64(key_id ‖ signature)``."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed signed note: its text (final newline included) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note that verified: signatures by known keys (each key once) and the others."""

    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into text and signature lines; check the format, not signatures."""
    if isinstance(note, bytes | bytearray):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("signed note is not valid UTF-8") from None
    if not isinstance(note, str):
        raise CheckpointError("a signed note must be text")
    if len(note) > MAX_NOTE_BYTES:
        raise CheckpointError("signed note is too large")
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError("signed note is not valid UTF-8") from None
    if _CONTROL.search(note):
        raise CheckpointError("signed note contains control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n") or split + 2 == len(note):
        raise CheckpointError("signed note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("signed note has too many signatures")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(SIG_PREFIX):
        raise CheckpointError("signed note has a malformed signature line")
    name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
    if not sep or not valid_key_name(name) or not b64:
        raise CheckpointError("signed note has a malformed signature line")
    try:
        raw = b64decode_strict(b64)
    except (ValueError, binascii.Error):
        raise CheckpointError("signed note has a signature that is not base64") from None
    if len(raw) < 5:
        raise CheckpointError("signed note has a signature that is too short")
    return Signature(name, raw[:4], raw[4:])


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Verify ``note`` against a set of keys, as signed-note says.

    Lines whose (name, key ID) match no key are kept as ``unverified``; every line
    of a known key must verify (a bad one rejects the note); a key that signed
    twice counts once; with no valid signature from a known key the note is
    rejected.
    """
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        slot = (v.name, v.key_id)
        if slot in known and known[slot] != v:
            raise CheckpointError(f"two different keys share the name {v.name} and key ID {v.key_id.hex()}")
        known[slot] = v
    parsed = parse_note(note)
    text = parsed.text.encode()
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in parsed.signatures:
        slot = (sig.name, sig.key_id)
        key = known.get(slot)
        if key is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if not key.verify(text, sig.signature):
            raise CheckpointError(f"signature by {sig.name} does not verify")
        if slot not in seen:
            seen.add(slot)
            verified.append(sig)
    if not verified:
        names = ", ".join(sorted({name for name, _ in known})) or "no key"
        raise CheckpointError(f"no signature by {names} on this note")
    return OpenedNote(parsed.text, tuple(verified), tuple(unverified))


def signature_line(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """One Ed25519 signature line ``— name base64(keyid ‖ sig)\\n`` over ``text``."""
    if not text.endswith("\n"):
        raise ValueError("note text must end with a newline")
    if not valid_key_name(name):
        raise CheckpointError(f"key name {name!r} must be non-empty, without spaces or '+'")
    sig = private_key.sign(text.encode())
    return Signature(name, key_id(name, public_key_bytes(private_key)), sig).line


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """A signed note: ``text`` (ending in a newline), a blank line, one signature line."""
    return f"{text}\n{signature_line(text, name, private_key)}"


def add_signatures(note: str, lines: Iterable[str]) -> str:
    """``note`` with more signature lines appended, skipping lines it already carries."""
    have = set(parse_note(note).signatures)
    out = note
    for line in lines:
        if not line.endswith("\n"):
            line += "\n"
        sig = _parse_signature_line(line[:-1])
        if sig not in have:
            have.add(sig)
            out += sig.line
    return out


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
    return open_note(note, [VerifierKey.parse(verifier_key)]).text


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
        root = b64decode_strict(root_text)
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


def open_checkpoint(note: str, verifiers: Iterable[Verifier]) -> tuple[Checkpoint, OpenedNote]:
    """A checkpoint verified against several keys (a log's, and witnesses' too)."""
    opened = open_note(note, verifiers)
    origin, size, root = parse_checkpoint_body(opened.text)
    return Checkpoint(origin, size, root, note), opened
