"""Real witnesses for the publishing tests: ``pars witness serve`` as a subprocess, or the
witness's ASGI app on uvicorn in a thread; both on 127.0.0.1, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pars.audit.cosignature import cosigner_verifier_key
from pars.audit.note import VerifierKey, public_key_bytes, signer_key
from pars.witness.app import create_app
from pars.witness.core import StateFile, Witness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class WitnessKeys:
    """A witness's signing key (and key file) and its verifier key (type 0x04)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self.private = Ed25519PrivateKey.generate()
        self.vkey = cosigner_verifier_key(name, public_key_bytes(self.private))
        folder.mkdir(parents=True, exist_ok=True)
        self.key_file = folder / f"{name.replace('/', '_')}.key"
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (signer_key(name, self.private) + "\n").encode())
        os.close(fd)
        self.state = folder / f"{name.replace('/', '_')}.state.json"


class ThreadWitness:
    """The witness app on uvicorn in a thread; ``stop`` and ``start`` again on the same port."""

    def __init__(self, keys: WitnessKeys, log_vkey: str, port: int | None = None) -> None:
        self.keys = keys
        self.log_vkey = log_vkey
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._state: StateFile | None = None

    def start(self) -> ThreadWitness:
        self._state = StateFile(self.keys.state)
        self._state.lock()
        witness = Witness(self.keys.name, self.keys.private, [VerifierKey.parse(self.log_vkey)], self._state)
        config = uvicorn.Config(create_app(witness), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._state is not None:
            self._state.close()
        self._server = self._thread = self._state = None


@contextmanager
def witness_process(keys: WitnessKeys, log_vkey: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``pars witness serve`` in its own process group, killed with it whatever happens."""
    proc = subprocess.Popen(
        [
            sys.executable, "-c", "from pars.cli import main; main()", "witness", "serve",
            "--key", str(keys.key_file), "--log", log_vkey, "--state", str(keys.state),
            "--host", "127.0.0.1", "--port", str(port),
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        yield proc
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def silent_listener() -> Iterator[str]:
    """A port that accepts connections and never answers: a witness that hangs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()
