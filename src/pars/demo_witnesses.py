"""The demo's witnesses and its insider: real ``pars witness serve`` processes, and a cut log.

    with local_witnesses(folder / "witnesses", log_vkey) as witnesses:   # started, in the background
        wait_ready(witnesses)                 # when the story needs them
        with configured(witnesses, quorum=2):  # PARS_WITNESSES / PARS_WITNESS_QUORUM for this process
            Publisher(store, log, witness_config()).round()
    # every witness process stopped, by its process group, whatever happened

    cut_tail(store, k)   # what a custodian holding the database could do: the log ends at k

Each witness is its own process (the courts' and a civic group's), with its own
signing key (made here, mode 0600) and state file, listening on 127.0.0.1 only.

Rule: the demo starts these processes and stops every one of them; ``cut_tail`` is
the one place the demo writes the store below the public APIs, on purpose, to show
the cut being caught.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from sqlalchemy import delete, select, update

from pars.audit.publish import ENV_QUORUM, ENV_WITNESSES
from pars.audit.tiles import Frontier
from pars.clock import to_utc_naive
from pars.errors import ConfigError
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_leaves, audit_tiles
from pars.store.schema.publish import audit_cosignatures, audit_published

#: Who runs a witness in the story: (short name, key name).
WITNESSES = (
    ("courts", "courts.city.example/witness"),
    ("civic", "civicwatch.example/witness"),
)
#: Seconds a witness process gets to start answering (a loaded machine imports slowly).
START_TIMEOUT = 90.0


@dataclass
class LocalWitness:
    """One witness process: its key name, cosigner verifier key, address and state file."""

    short: str
    name: str
    vkey: str
    key_file: Path
    state_file: Path
    port: int
    log_origin: str
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_vkey: str) -> None:
        err = open(self.state_file.with_suffix(".log"), "ab")  # noqa: SIM115 - the child holds it
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-c", "from pars.cli import main; main()", "witness", "serve",
                 "--key", str(self.key_file), "--log", log_vkey, "--state", str(self.state_file),
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # its own process group: stopped as one
            )  # fmt: skip
        finally:
            err.close()

    def ready(self) -> bool:
        """True once it answers HTTP (its GET of the log's checkpoint)."""
        import httpx

        probe = f"{self.url}/{sha256(self.log_origin.encode()).hexdigest()}/checkpoint"
        try:
            httpx.get(probe, timeout=1.0)
        except httpx.HTTPError:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 5 s; waits for it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
        proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_witness_key(folder: Path, short: str, name: str) -> tuple[Path, str]:
    """A new witness signing key in ``folder/<short>.key`` (0600); returns it and its vkey."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pars.audit.cosignature import cosigner_verifier_key
    from pars.audit.note import public_key_bytes, signer_key

    key = Ed25519PrivateKey.generate()
    path = folder / f"{short}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (signer_key(name, key) + "\n").encode())
    finally:
        os.close(fd)
    return path, cosigner_verifier_key(name, public_key_bytes(key))


@contextlib.contextmanager
def local_witnesses(folder: Path, log_vkey: str, log_origin: str) -> Iterator[list[LocalWitness]]:
    """Make the witnesses' keys in ``folder`` and start their processes; stop them all on exit."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    started: list[LocalWitness] = []
    try:
        for short, name in WITNESSES:
            key_file, vkey = make_witness_key(folder, short, name)
            w = LocalWitness(short, name, vkey, key_file, folder / f"{short}.state", _free_port(), log_origin)
            started.append(w)
            w.start(log_vkey)
        yield started
    finally:
        for w in started:
            w.stop()


def wait_ready(witnesses: Sequence[LocalWitness], timeout: float = START_TIMEOUT) -> None:
    """Block until every witness answers; ``ConfigError`` naming one that exited or is too slow."""
    deadline = time.monotonic() + timeout
    for w in witnesses:
        while not w.ready():
            if w.proc is None or w.proc.poll() is not None:
                log = w.state_file.with_suffix(".log")
                raise ConfigError(f"witness {w.name} exited on start; see {log}")
            if time.monotonic() > deadline:
                raise ConfigError(f"witness {w.name} did not answer on {w.url} within {timeout:.0f}s")
            time.sleep(0.05)


@contextlib.contextmanager
def configured(witnesses: Sequence[LocalWitness], quorum: int) -> Iterator[None]:
    """The log's witnesses (``PARS_WITNESSES``, ``PARS_WITNESS_QUORUM``) set for this process, then
    put back as they were: publishing, evidence and status read them from there."""
    saved = {k: os.environ.get(k) for k in (ENV_WITNESSES, ENV_QUORUM)}
    os.environ[ENV_WITNESSES] = ",".join(f"{w.vkey}={w.url}" for w in witnesses)
    os.environ[ENV_QUORUM] = str(quorum)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cut_tail(store: Store, k: int) -> int:
    """The insider's cut: delete the leaves from index ``k`` on, every tile (rebuilt for size
    ``k``), newer checkpoints with their cosignatures and published marks, and reset the head
    to size ``k`` and its root. Returns the number of entries removed. The caller re-signs.

    Nothing here is an API: it is what anyone holding the database could type.
    """
    with store.write() as conn:
        head = conn.execute(select(audit_head.c.size)).scalar_one()
        if not 0 < k < head:
            raise ValueError(f"k: cut inside the log (1 to {head - 1})")
        frontier = Frontier(0, {})
        for (h,) in conn.execute(
            select(audit_leaves.c.leaf_hash).where(audit_leaves.c.idx < k).order_by(audit_leaves.c.idx)
        ):
            frontier.push_hash(bytes(h))
        conn.execute(delete(audit_leaves).where(audit_leaves.c.idx >= k))
        conn.execute(delete(audit_tiles))
        inserts, _ = frontier.dirty_tiles()
        for level, idx, blob in inserts:
            conn.execute(audit_tiles.insert().values(level=level, idx=idx, hashes=blob))
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.size > k))
        conn.execute(delete(audit_cosignatures).where(audit_cosignatures.c.size > k))
        conn.execute(delete(audit_published).where(audit_published.c.size > k))
        conn.execute(
            update(audit_head).values(
                size=k, root=frontier.root(), updated_utc=to_utc_naive(datetime.now(UTC))
            )
        )
        return int(head) - k
