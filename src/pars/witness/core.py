"""A C2SP witness: decide ``add-checkpoint`` requests and keep what was cosigned.

``Witness.add_checkpoint(body)`` returns the HTTP answer tlog-witness prescribes:

- 400: the body is not ``old N``, proof lines, a blank line and a checkpoint; or
  the old size is above the checkpoint's;
- 404: the checkpoint's origin is not a configured log;
- 403: no valid signature by the log's key(s), or a bad one by them;
- 409 (``text/x.tlog.size``): ``old N`` is not the size last cosigned; the body
  says which;
- 422: size 0 with a root other than SHA-256(""), a proof with old size 0, a
  consistency proof that fails, the same size with another root;
- 200: the cosignature line, once the new size and root are on disk.

State, per log origin: the size, root and note last cosigned, in one JSON file
written with ``pars.durable.write_atomic``. An exclusive ``flock`` on
``<state>.lock`` keeps a second witness process off the same state. A validly
signed checkpoint refused as a fork or a cut is appended to ``<state>.refused``
(JSON lines): with the cosigned one it is the proof that the log misbehaved.

Rule: check and persist happen under the log's lock, and the answer is built only
after the state is on disk: a witness never cosigns two different trees of one
size, nor a tree that does not extend the last one it cosigned — kill -9 included.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pars.audit.cosignature import CosignerKey, cosign
from pars.audit.merkle import EMPTY_ROOT, verify_consistency
from pars.audit.note import (
    CheckpointError,
    VerifierKey,
    b64decode_strict,
    open_note,
    parse_checkpoint_body,
    parse_note,
    public_key_bytes,
)
from pars.durable import write_atomic
from pars.errors import ConfigError

MAX_PROOF_LINES = 63
#: An add-checkpoint body is a size line, at most 63 hashes and a small note.
MAX_BODY_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT = "text/plain; charset=utf-8"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        return cls(status, TEXT, (message.rstrip("\n") + "\n").encode())


@dataclass(frozen=True, slots=True)
class LogState:
    """What the witness last cosigned for one log."""

    size: int
    root: bytes
    checkpoint: str  # the note as submitted, plus this witness's cosignature


class _Refusal(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.decode())
        self.answer = answer


def _refuse(status: int, message: str) -> _Refusal:
    return _Refusal(Answer.text(status, message))


class StateFile:
    """The witness's state on disk, locked against a second process for its lifetime."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_file: IO[bytes] | None = None

    def lock(self) -> None:
        handle = open(self.path.with_name(self.path.name + ".lock"), "ab")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConfigError(f"{self.path}: another witness process holds this state file") from None
        self._lock_file = handle

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def load(self) -> dict[str, LogState]:
        """The saved state; a missing file is a witness that never cosigned, a bad one stops it."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw)
            if doc.get("version") != STATE_VERSION:
                raise ValueError("unknown version")
            out: dict[str, LogState] = {}
            for origin, entry in doc["logs"].items():
                root = b64decode_strict(entry["root"])
                size = entry["size"]
                if not isinstance(size, int) or size < 0 or len(root) != 32:
                    raise ValueError(origin)
                out[origin] = LogState(size, root, str(entry["checkpoint"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Never start from scratch over a damaged file: that would let the log fork us.
            raise ConfigError(f"{self.path}: witness state is unreadable ({exc}); restore it") from None
        return out

    @property
    def refused_path(self) -> Path:
        return self.path.with_name(self.path.name + ".refused")

    def record_refusal(self, origin: str, old: int, note: str, reason: str) -> None:
        """Append a refused (validly signed) checkpoint to ``<state>.refused``, one JSON line each."""
        line = json.dumps({"origin": origin, "old": old, "reason": reason.strip(), "checkpoint": note})
        fd = os.open(self.refused_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def save(self, logs: dict[str, LogState]) -> None:
        doc = {
            "version": STATE_VERSION,
            "logs": {
                origin: {
                    "size": s.size,
                    "root": base64.b64encode(s.root).decode(),
                    "checkpoint": s.checkpoint,
                }
                for origin, s in sorted(logs.items())
            },
        }
        write_atomic(self.path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode())


class Witness:
    """One witness key cosigning for a fixed set of logs (each known by its verifier keys)."""

    def __init__(
        self,
        name: str,
        private_key: Ed25519PrivateKey,
        log_keys: Iterable[str | VerifierKey],
        state: StateFile,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.private_key = private_key
        self.key = CosignerKey.of(name, public_key_bytes(private_key))
        self.logs: dict[str, list[VerifierKey]] = {}
        for k in log_keys:
            key = k if isinstance(k, VerifierKey) else VerifierKey.parse(k)
            self.logs.setdefault(key.name, []).append(key)
        if not self.logs:
            raise ConfigError("a witness needs at least one log key (--log)")
        self.state = state
        self.clock = clock
        self._cosigned = state.load()
        self._locks = {origin: threading.Lock() for origin in self.logs}
        self._write_lock = threading.Lock()

    def cosigned(self, origin: str) -> LogState | None:
        return self._cosigned.get(origin)

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer one ``add-checkpoint`` request body (see the module docstring)."""
        try:
            return self._add(body)
        except _Refusal as refusal:
            return refusal.answer

    def latest_checkpoint(self, origin_hash: str) -> Answer:
        """``GET /<sha256(origin) hex>/checkpoint``: the last cosigned checkpoint, or 404."""
        for origin in self.logs:
            if sha256(origin.encode()).hexdigest() == origin_hash:
                state = self._cosigned.get(origin)
                if state is not None:
                    return Answer(200, TEXT, state.checkpoint.encode())
        return Answer.text(404, "no checkpoint cosigned for that origin")

    def _add(self, body: bytes) -> Answer:
        old, proof, note = _parse_request(body)
        try:
            text = parse_note(note).text
            origin, size, root = parse_checkpoint_body(text)
        except CheckpointError as exc:
            raise _refuse(400, f"checkpoint: {exc}") from None
        keys = self.logs.get(origin)
        if keys is None:
            raise _refuse(404, f"unknown log origin {origin!r}")
        try:
            open_note(note, keys)
        except CheckpointError as exc:
            raise _refuse(403, f"checkpoint signature: {exc}") from None
        with self._locks[origin]:
            last = self._cosigned.get(origin)
            try:
                return self._extend(origin, last, old, proof, note, text, size, root)
            except _Refusal as refusal:
                if refusal.answer.status == 422 or (last is not None and size < last.size):
                    # A validly signed checkpoint that forks or cuts what we cosigned: keep
                    # it, it may prove that the log misbehaved (tlog-witness: MAY log it).
                    self.state.record_refusal(origin, old, note, refusal.answer.body.decode())
                raise

    def _extend(
        self,
        origin: str,
        last: LogState | None,
        old: int,
        proof: list[bytes],
        note: str,
        text: str,
        size: int,
        root: bytes,
    ) -> Answer:
        if old > size:
            raise _refuse(400, f"old size {old} is larger than the checkpoint size {size}")
        last_size = last.size if last else 0
        if old != last_size:
            raise _Refusal(Answer(409, SIZE_CONTENT_TYPE, f"{last_size}\n".encode()))
        if size == 0 and root != EMPTY_ROOT:
            raise _refuse(422, "a checkpoint of size 0 must have the root SHA-256 of the empty string")
        if old == 0:
            if proof:
                raise _refuse(422, "old size 0 takes no consistency proof")
        elif old == size:
            if last is None or root != last.root or proof:
                raise _refuse(422, f"size {size} was cosigned with another root: refusing a fork")
        elif last is None or not verify_consistency(old, size, last.root, root, proof):
            raise _refuse(422, f"consistency proof from size {old} to {size} does not verify")
        line = cosign(text, self.name, self.private_key, self._timestamp())
        new = LogState(size, root, note + line)
        with self._write_lock:
            logs = dict(self._cosigned)
            logs[origin] = new
            self.state.save(logs)  # on disk before anyone sees the cosignature
            self._cosigned = logs
        return Answer(200, TEXT, line.encode())

    def _timestamp(self) -> int:
        return max(1, int(self.clock()))


def _parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    if len(body) > MAX_BODY_BYTES:
        raise _refuse(413, f"request body is over {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(400, "request body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise _refuse(400, "request body needs an old size line, proof lines, a blank line and a checkpoint")
    lines = head.split("\n")
    if not _OLD.fullmatch(lines[0]):
        raise _refuse(400, "first line must be 'old N' (decimal, no leading zeroes)")
    old = int(lines[0][4:])
    if old >= 1 << 64:
        raise _refuse(400, "old size is beyond 2^64 - 1")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise _refuse(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for i, line in enumerate(lines[1:], start=1):
        try:
            h = b64decode_strict(line)
        except (ValueError, binascii.Error):
            raise _refuse(400, f"proof line {i} is not base64") from None
        if len(h) != 32:
            raise _refuse(400, f"proof line {i} is not a 32-byte hash")
        proof.append(h)
    return old, proof, note
