"""The log side of C2SP tlog-witness: ask one witness to cosign a checkpoint.

Usage (what publishing does for each configured witness)::

    answer = add_checkpoint("http://127.0.0.1:7380", old_size, proof, note, timeout=5)
    match answer:
        case Cosigned(lines):   # note + "".join(lines) carries the cosignature(s)
        case Conflict(size):    # the witness has cosigned ``size``: retry from there
        case Refused(status, message) | Unreachable(message): ...

``url`` is the witness's *submission prefix*; the request goes to
``<url>/add-checkpoint`` with the body the spec defines (``old N``, the consistency
proof from N to the checkpoint's size as base64 lines, a blank line, the
checkpoint note). Give ``witness_key`` (its ``name+keyid+base64`` vkey, type 0x04)
and only cosignature lines that verify under it are kept; a 200 whose lines do not
verify then comes back as ``Refused``.

Rule: this never raises for anything the witness or the network does; every
outcome is one of the four answers. Only a bad argument (a proof hash that is not
32 bytes, a negative size) raises ``ValueError``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

#: The spec caps a consistency proof at 63 lines.
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_SIZE_BODY = re.compile(r"(0|[1-9][0-9]{0,19})\n")
#: A witness answer is a few signature lines; anything longer is not one.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Cosigned:
    """200: the witness's signature lines (``— name base64\\n`` each), to append to the note."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Conflict:
    """409: the witness's latest cosigned size differs from ``old_size``; resend from ``size``."""

    size: int


@dataclass(frozen=True, slots=True)
class Refused:
    """Any other answer: the HTTP status and the witness's message (or why it was unusable)."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class Unreachable:
    """No HTTP answer at all (connection refused, timeout...)."""

    message: str


WitnessAnswer = Cosigned | Conflict | Refused | Unreachable


def request_body(old_size: int, proof: Sequence[bytes], checkpoint_note: str) -> bytes:
    """The ``add-checkpoint`` body, byte for byte as tlog-witness defines it."""
    if isinstance(old_size, bool) or not isinstance(old_size, int) or old_size < 0:
        raise ValueError("old_size must be a non-negative integer")
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
    lines = [f"old {old_size}\n"]
    for i, h in enumerate(proof):
        if not isinstance(h, bytes | bytearray) or len(h) != 32:
            raise ValueError(f"proof[{i}] is not a 32-byte hash")
        lines.append(base64.b64encode(bytes(h)).decode() + "\n")
    lines.append("\n")
    return ("".join(lines) + checkpoint_note).encode()


def add_checkpoint(
    url: str,
    old_size: int,
    proof: list[bytes],
    checkpoint_note: str,
    *,
    timeout: float,
    witness_key: str | None = None,
    client: httpx.Client | None = None,
) -> WitnessAnswer:
    """POST ``checkpoint_note`` to ``<url>/add-checkpoint`` and classify the answer.

    ``client`` lets a caller reuse one connection pool (keep-alive, as the spec
    recommends) or pass an ``httpx.Client(transport=...)`` in tests.
    """
    body = request_body(old_size, proof, checkpoint_note)
    if witness_key is not None:
        from pars.audit.cosignature import CosignerKey

        CosignerKey.parse(witness_key)  # a bad key is the caller's error (ValueError), not the witness's
    target = url.rstrip("/") + "/add-checkpoint"
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own:
                response = own.post(target, content=body)
        else:
            response = client.post(target, content=body, timeout=timeout)
    except httpx.HTTPError as exc:
        return Unreachable(f"{target}: {type(exc).__name__}: {exc}")
    return classify(
        response.status_code,
        response.headers.get("content-type", ""),
        response.content,
        checkpoint_note,
        witness_key,
    )


def classify(
    status: int, content_type: str, content: bytes, checkpoint_note: str, witness_key: str | None
) -> WitnessAnswer:
    """Turn one HTTP answer into a ``WitnessAnswer`` (pure; ``add_checkpoint`` uses it)."""
    text = content[:MAX_ANSWER_BYTES].decode("utf-8", errors="replace")
    if len(content) > MAX_ANSWER_BYTES:
        return Refused(status, "answer too large")
    if status == 409:
        if content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE and _SIZE_BODY.fullmatch(text):
            return Conflict(int(text))
        return Refused(status, f"409 without a {SIZE_CONTENT_TYPE} size: {text.strip()[:200]}")
    if status != 200:
        return Refused(status, text.strip()[:500])
    if not text.endswith("\n") or not text.startswith("\u2014 "):
        return Refused(status, "200 but the body is not signature lines")
    lines = tuple(line + "\n" for line in text[:-1].split("\n"))
    if any(not line.startswith("\u2014 ") for line in lines):
        return Refused(status, "200 but the body is not signature lines")
    if witness_key is not None:
        from pars.audit.cosignature import CosignatureError, verify_cosignature

        note = checkpoint_note + "".join(lines)
        try:
            verify_cosignature(note, witness_key)
        except CosignatureError as exc:
            return Refused(status, f"cosignature does not verify: {exc}")
        lines = tuple(line for line in lines if _line_by(line, witness_key))
    return Cosigned(lines)


def _line_by(line: str, witness_key: str) -> bool:
    from pars.audit.cosignature import CosignerKey

    key = CosignerKey.parse(witness_key)
    name, _, b64 = line[2:-1].partition(" ")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        return False
    return name == key.name and raw[:4] == key.key_id
