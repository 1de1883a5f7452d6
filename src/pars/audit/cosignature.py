"""C2SP tlog-cosignature v1: a witness's timestamped Ed25519 cosignature (type 0x04).

A cosigner (witness) key is a signed-note verifier key of type 0x04::

    witness.example/courts+a6206f49+BGSXnismS1OlhKINSplK8RalK0bzYmJkoq0cA4XoYZHs

with key ID SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]. Its signature line on a
checkpoint is ``— name base64(keyid ‖ u64 timestamp ‖ Ed25519 signature)`` where the
signature covers exactly::

    cosignature/v1
    time <timestamp>
    <the checkpoint's note text, extension lines included>

Usage::

    line = cosign(checkpoint_text, "witness.example/w1", key, timestamp=now)
    ts = verify_cosignature(note + line, witness_vkey)          # its timestamp
    valid = valid_cosignatures(note, witness_vkeys)             # {name: timestamp}
    require_quorum(note, witness_vkeys, 2)

Pure. Rule: a cosignature counts only when its name and key ID match a configured
key and its signature verifies over the message above; a line from a configured
key that fails to verify rejects the note (signed-note), never silently drops.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pars.audit.note import (
    CheckpointError,
    Signature,
    VerifierKey,
    _split_vkey,
    key_id,
    open_note,
    parse_checkpoint_body,
    parse_note,
    public_key_bytes,
    valid_key_name,
)

COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
#: tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1.
MAX_TIMESTAMP = (1 << 63) - 1
SIGNATURE_SIZE = 8 + 64


class CosignatureError(CheckpointError):
    """A cosignature (or a quorum of them) that does not hold; the message says which."""

    code = "bad_cosignature"


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]."""
    return key_id(name, public_key, COSIGNATURE_V1)


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 v1 cosignature signs (header, time line, note text)."""
    if not checkpoint_text.endswith("\n"):
        raise CosignatureError("checkpoint text must end with a newline")
    return f"{HEADER}time {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True, slots=True)
class CosignerKey:
    """A witness's public key: vkey ``name+keyid+base64(0x04 ‖ pubkey)``.

    It is a ``pars.audit.note.Verifier``: ``open_note`` checks cosignatures with it.
    """

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> CosignerKey:
        name, kid, raw = _split_vkey(text, "witness key")
        if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
            raise CosignatureError("witness key: only Ed25519 cosigner keys (type 0x04) are supported")
        if cosigner_key_id(name, raw[1:]) != kid:
            raise CosignatureError("witness key: key ID does not match name and key")
        try:
            Ed25519PublicKey.from_public_bytes(raw[1:])
        except ValueError:
            raise CosignatureError("witness key: not a valid Ed25519 public key") from None
        return cls(name, kid, raw[1:])

    @classmethod
    def of(cls, name: str, public_key: bytes) -> CosignerKey:
        if not valid_key_name(name):
            raise CosignatureError(f"witness name {name!r} must be non-empty, without spaces or '+'")
        return cls(name, cosigner_key_id(name, public_key), public_key)

    def timestamp_of(self, text: bytes, signature: bytes) -> int | None:
        """The timestamp of a valid cosignature of ``text`` by this key, else None."""
        if len(signature) != SIGNATURE_SIZE:
            return None
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp > MAX_TIMESTAMP:
            return None
        message = HEADER.encode() + f"time {timestamp}\n".encode() + text
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature[8:], message)
        except (InvalidSignature, ValueError):
            return None
        return int(timestamp)

    def verify(self, text: bytes, signature: bytes) -> bool:
        return self.timestamp_of(text, signature) is not None

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"


def cosigner_verifier_key(name: str, public_key: bytes) -> str:
    """The type 0x04 vkey of a witness's Ed25519 public key."""
    return str(CosignerKey.of(name, public_key))


def _as_key(key: str | CosignerKey) -> CosignerKey:
    return key if isinstance(key, CosignerKey) else CosignerKey.parse(key)


def cosign(checkpoint_text: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The signature line ``— name base64(keyid ‖ timestamp ‖ sig)\\n`` over a checkpoint's text.

    ``checkpoint_text`` is the note text (origin, size, root, extension lines, final
    newline), not the signed note. A witness never cosigns with timestamp 0.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 < timestamp <= MAX_TIMESTAMP:
        raise CosignatureError("a cosignature timestamp is a POSIX time between 1 and 2^63 - 1")
    parse_checkpoint_body(checkpoint_text)
    key = CosignerKey.of(name, public_key_bytes(private_key))
    sig = private_key.sign(cosigned_message(checkpoint_text, timestamp))
    return Signature(name, key.key_id, struct.pack(">Q", timestamp) + sig).line


def valid_cosignatures(note: str, witness_keys: Iterable[str | CosignerKey]) -> dict[str, int]:
    """``{witness name: timestamp}`` for every given witness that validly cosigned ``note``.

    Lines from other keys are ignored; a line from one of ``witness_keys`` that
    does not verify raises ``CosignatureError`` (the note is malformed).
    """
    keys = [_as_key(k) for k in witness_keys]
    parsed = parse_note(note)
    parse_checkpoint_body(parsed.text)
    by_slot = {(k.name, k.key_id): k for k in keys}
    text = parsed.text.encode()
    out: dict[str, int] = {}
    for sig in parsed.signatures:
        key = by_slot.get((sig.name, sig.key_id))
        if key is None:
            continue
        ts = key.timestamp_of(text, sig.signature)
        if ts is None:
            raise CosignatureError(f"cosignature by {sig.name} does not verify")
        out.setdefault(sig.name, ts)
    return out


def verify_cosignature(note: str, witness_key: str | CosignerKey) -> int:
    """The timestamp of ``witness_key``'s valid cosignature on the checkpoint ``note``.

    Raises ``CosignatureError`` when it has none or a bad one.
    """
    key = _as_key(witness_key)
    found = valid_cosignatures(note, [key])
    if key.name not in found:
        raise CosignatureError(f"no cosignature by witness {key.name} on this checkpoint")
    return found[key.name]


def require_quorum(
    note: str, log_key: str | VerifierKey, witness_keys: Iterable[str | CosignerKey], quorum: int
) -> dict[str, int]:
    """Check the log's signature and at least ``quorum`` cosignatures from ``witness_keys``.

    Returns ``{witness: timestamp}`` of the valid ones. A quorum larger than the
    number of distinct witnesses can never be met and is an error, as is a
    negative one.
    """
    keys = [_as_key(k) for k in witness_keys]
    names = {k.name for k in keys}
    if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 0:
        raise CosignatureError("quorum must be a non-negative integer")
    if quorum > len(names):
        raise CosignatureError(f"quorum {quorum} is more than the {len(names)} witnesses given")
    log = log_key if isinstance(log_key, VerifierKey) else VerifierKey.parse(log_key)
    open_note(note, [log])
    valid = valid_cosignatures(note, keys)
    if len(valid) < quorum:
        have = ", ".join(sorted(valid)) or "none"
        raise CosignatureError(f"{len(valid)} of the required {quorum} witness cosignatures (valid: {have})")
    return valid
