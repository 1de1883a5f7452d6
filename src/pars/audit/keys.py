"""The log's secrets: its Ed25519 signing key and the HMAC key for personal filters.

Both live in files outside the database, in the key directory ``PARS_KEY_DIR``
(default ``./pars-keys``, beside the default ``pars.db``), each mode 0600:

- ``log-signing.key``: ``PRIVATE+KEY+<name>+<keyid>+base64(0x01 ‖ seed)``, the
  signed-note signer format; ``<name>`` is the key name on every checkpoint.
- ``log-hmac.key``: 32 random bytes.

``pars init`` creates them when missing and never overwrites them. The log origin
comes from ``PARS_LOG_ORIGIN`` (default ``pars.local/audit``) the first time the
log is initialised and is fixed in the database from then on.

Rule: secrets are never logged, printed or put in an error message; ``LogKeys``
shows only its public parts.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pars.audit.note import ED25519, key_id, public_key_bytes, verifier_key
from pars.errors import ConfigError

ENV_KEY_DIR = "PARS_KEY_DIR"
DEFAULT_KEY_DIR = "pars-keys"
ENV_ORIGIN = "PARS_LOG_ORIGIN"
DEFAULT_ORIGIN = "pars.local/audit"
SIGNING_KEY_FILE = "log-signing.key"
HMAC_KEY_FILE = "log-hmac.key"
HMAC_KEY_SIZE = 32


def key_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The key directory: the argument, else ``PARS_KEY_DIR``, else ``./pars-keys``."""
    return Path(directory or os.environ.get(ENV_KEY_DIR) or DEFAULT_KEY_DIR)


def configured_origin() -> str:
    """The origin a new log takes (``PARS_LOG_ORIGIN``); an existing log keeps its own."""
    origin = os.environ.get(ENV_ORIGIN) or DEFAULT_ORIGIN
    if not origin or any(c.isspace() or c == "+" or not c.isprintable() for c in origin):
        raise ConfigError(f"{ENV_ORIGIN}: a log origin has no spaces or '+', like example.org/log")
    return origin


@dataclass(frozen=True)
class LogKeys:
    """The signing key (with its name) and the HMAC key; repr shows neither."""

    name: str
    signing_key: Ed25519PrivateKey = field(repr=False)
    hmac_key: bytes = field(repr=False)

    @property
    def public_key(self) -> bytes:
        return public_key_bytes(self.signing_key)

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.name, self.public_key)


def _write_secret(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite a key; 0600 from the start, whatever the umask.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_secret(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path}: audit key file missing; run `pars init` or set {ENV_KEY_DIR}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: key file is readable by others; run chmod 600 on it")
    return path.read_bytes()


def _signer_text(name: str, key: Ed25519PrivateKey) -> bytes:
    seed = key.private_bytes_raw()
    kid = key_id(name, public_key_bytes(key)).hex()
    b64 = base64.b64encode(bytes([ED25519]) + seed).decode()
    return f"PRIVATE+KEY+{name}+{kid}+{b64}\n".encode()


def _parse_signer(path: Path, raw: bytes) -> tuple[str, Ed25519PrivateKey]:
    try:
        prefix, word, name, kid, b64 = raw.decode().strip().split("+", 4)
        blob = base64.b64decode(b64, validate=True)
        if prefix != "PRIVATE" or word != "KEY" or len(blob) != 33 or blob[0] != ED25519:
            raise ValueError
        key = Ed25519PrivateKey.from_private_bytes(blob[1:])
        if key_id(name, public_key_bytes(key)).hex() != kid:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{path}: not a PARS log signing key") from None
    return name, key


def create_keys(
    directory: str | os.PathLike[str] | None = None, name: str | None = None
) -> tuple[LogKeys, list[Path]]:
    """Create whichever key files are missing; return the keys and the files created.

    ``name`` (default: the configured origin) names a new signing key only.
    """
    d = key_dir(directory)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    created: list[Path] = []
    signing = d / SIGNING_KEY_FILE
    if not signing.exists():
        _write_secret(signing, _signer_text(name or configured_origin(), Ed25519PrivateKey.generate()))
        created.append(signing)
    hmac_path = d / HMAC_KEY_FILE
    if not hmac_path.exists():
        _write_secret(hmac_path, secrets.token_bytes(HMAC_KEY_SIZE))
        created.append(hmac_path)
    return load_keys(d), created


def load_keys(directory: str | os.PathLike[str] | None = None) -> LogKeys:
    """Read both keys; ``ConfigError`` if missing, malformed or readable by others."""
    d = key_dir(directory)
    signing = d / SIGNING_KEY_FILE
    name, key = _parse_signer(signing, _read_secret(signing))
    hmac_path = d / HMAC_KEY_FILE
    hmac_key = _read_secret(hmac_path)
    if len(hmac_key) != HMAC_KEY_SIZE:
        raise ConfigError(f"{hmac_path}: HMAC key must be exactly {HMAC_KEY_SIZE} bytes")
    return LogKeys(name, key, hmac_key)
