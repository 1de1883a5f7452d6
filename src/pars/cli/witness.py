"""``pars witness keygen|serve``: a C2SP witness that any party can run (CONTRACT 9.2).

Rule: thin. Keys are Go sumdb/note signer keys (``PRIVATE+KEY+...``, file mode
0600); the witness's verifier key is the type 0x04 cosigner vkey that logs and
verifiers configure.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pars.cli.common import console, err_console
from pars.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

app = typer.Typer(
    name="witness",
    help="A C2SP witness (tlog-witness, tlog-cosignature): cosigns a log's checkpoints only "
    "when they extend what it cosigned before.",
    no_args_is_help=True,
)


@app.command("keygen")
def keygen(
    name: Annotated[str, typer.Argument(help="The witness's key name, e.g. witness.example.org/courts.")],
    out: Annotated[Path, typer.Option("--out", help="File for the signing key (created, mode 0600).")],
) -> None:
    """Create a witness signing key in FILE and print its verifier key (type 0x04)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pars.audit.cosignature import cosigner_verifier_key
    from pars.audit.note import CheckpointError, public_key_bytes, signer_key, valid_key_name

    if not valid_key_name(name):
        raise InvalidInput("NAME: a key name is non-empty, with no spaces and no '+'")
    key = Ed25519PrivateKey.generate()
    try:
        text = signer_key(name, key)
    except CheckpointError as exc:
        raise InvalidInput(f"NAME: {exc}") from None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"--out: {out} exists; a key is never overwritten") from None
    try:
        os.write(fd, (text + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    typer.echo(cosigner_verifier_key(name, public_key_bytes(key)))


def _load_key(path: Path) -> tuple[str, Ed25519PrivateKey]:
    from pars.audit.note import CheckpointError, parse_signer_key

    try:
        mode = path.stat().st_mode
        raw = path.read_text()
    except OSError as exc:
        raise ConfigError(f"--key: cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"--key: {path} is readable by others; run chmod 600 on it")
    try:
        return parse_signer_key(raw)
    except CheckpointError as exc:
        raise ConfigError(f"--key: {path}: {exc}") from None


@app.command("serve")
def serve(
    key: Annotated[Path, typer.Option("--key", help="The witness signing key file (from keygen).")],
    log: Annotated[
        list[str],
        typer.Option("--log", help="A log's verifier key name+keyid+base64 (its name is the origin)."),
    ],
    state: Annotated[Path, typer.Option("--state", help="State file: the size and root cosigned per log.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7380,
) -> None:
    """Serve POST /add-checkpoint (and GET /<sha256(origin)>/checkpoint) for the given logs."""
    import uvicorn

    from pars.audit.note import CheckpointError, VerifierKey
    from pars.witness.app import create_app
    from pars.witness.core import StateFile, Witness

    name, private = _load_key(key)
    try:
        log_keys = [VerifierKey.parse(k) for k in log]
    except CheckpointError as exc:
        raise InvalidInput(f"--log: {exc}") from None
    state_file = StateFile(state)
    state_file.lock()
    try:
        witness = Witness(name, private, log_keys, state_file)
        err_console.print(
            f"witness {witness.key} on http://{host}:{port} for " + ", ".join(sorted(witness.logs)),
            highlight=False,
            soft_wrap=True,
        )
        uvicorn.run(create_app(witness), host=host, port=port, access_log=False, log_level="warning")
    finally:
        state_file.close()
    console.print("witness stopped", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="witness")
