"""Witness keys and Ed25519 cosignatures (C2SP tlog-cosignature, type 0x04), as a log
checks what a witness sent back. Pure.

A witness verifier key is ``name+hex(keyid)+base64(0x04 ‖ 32-byte key)`` with
keyid = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4]. A cosignature line is
``— name base64(keyid ‖ u64 timestamp ‖ Ed25519 signature)`` over
``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint's note text.

Rule: lines from other keys are ignored; a line with this key's name and ID whose
signature fails makes the whole answer bad (``CosignatureError``), never counted.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pars.errors import ParsError

COSIGNATURE_V1 = 0x04
_SIG_PREFIX = "\u2014 "
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


class CosignatureError(ParsError, ValueError):
    """A witness key or cosignature that must not be trusted (the message says why)."""

    code = "bad_cosignature"


def _b64(text: str) -> bytes:
    if not _B64.match(text) or len(text) % 4:
        raise CosignatureError("not base64")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CosignatureError("not base64") from None


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public_key).digest()[:4]


@dataclass(frozen=True, slots=True)
class WitnessKey:
    """A parsed witness (cosigner) verifier key; ``text`` is the key as configured."""

    name: str
    key_id: bytes
    public_key: bytes
    text: str

    @classmethod
    def parse(cls, text: str) -> WitnessKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not parts[0] or any(c.isspace() or not c.isprintable() for c in parts[0]):
            raise CosignatureError("witness key is not of the form name+keyid+base64")
        name, hex_id, b64 = parts
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise CosignatureError("witness key: key ID must be 8 lowercase hex digits")
        raw = _b64(b64)
        if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
            raise CosignatureError("witness key: only Ed25519 cosignature keys (type 0x04) are supported")
        if cosigner_key_id(name, raw[1:]) != bytes.fromhex(hex_id):
            raise CosignatureError("witness key: key ID does not match name and key")
        return cls(name, bytes.fromhex(hex_id), raw[1:], text.strip())


def signed_message(body: str, timestamp: int) -> bytes:
    """What a v1 Ed25519 cosignature signs for a checkpoint whose note text is ``body``."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def note_body(note: str) -> str:
    """The note text of a signed note (everything up to and including the blank line's newline)."""
    split = note.find("\n\n")
    if split < 0:
        raise CosignatureError("a signed note needs a blank line before its signatures")
    return note[: split + 1]


def verify_cosignatures(body: str, answer: str, key: WitnessKey) -> list[tuple[str, int]]:
    """The lines of ``answer`` that are valid cosignatures by ``key`` on ``body``, with
    their timestamps. Lines by other keys are skipped; a bad one by ``key`` raises."""
    if not answer.endswith("\n"):
        raise CosignatureError("the witness's answer does not end in a newline")
    public = Ed25519PublicKey.from_public_bytes(key.public_key)
    good: list[tuple[str, int]] = []
    for line in answer[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise CosignatureError("the witness's answer holds a line that is not a signature line")
        name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or " " in b64:
            raise CosignatureError("the witness's answer holds a malformed signature line")
        raw = _b64(b64)
        if name != key.name or raw[:4] != key.key_id:
            continue  # another key's: not ours to count
        if len(raw) != 4 + 8 + 64:
            raise CosignatureError(f"cosignature by {name} is not keyid, timestamp and an Ed25519 signature")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp == 0 or timestamp >= 1 << 63:
            raise CosignatureError(f"cosignature by {name} has no valid timestamp")
        try:
            public.verify(raw[12:], signed_message(body, timestamp))
        except InvalidSignature:
            raise CosignatureError(f"cosignature by {name} does not verify for this checkpoint") from None
        good.append((line, timestamp))
    return good
