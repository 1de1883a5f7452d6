"""Setting the log up: its keys and its head row (``pars init``).

Rule: idempotent; it creates only what is missing and refuses a key directory
whose key is not the one the log was started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pars.audit.keys import create_keys
from pars.audit.writer import AuditLog
from pars.errors import ConfigError
from pars.store.db import Store


@dataclass
class LogSetup:
    """What ``init_log`` did, for ``pars init`` to report (no secrets)."""

    origin: str
    verifier_key: str
    created_files: list[str] = field(default_factory=list)


def init_log(store: Store, key_dir: str | None = None) -> LogSetup:
    """Create missing key files and the head row (fixing the origin); idempotent."""
    keys, created = create_keys(key_dir)
    log = AuditLog(keys)
    with store.write() as conn:
        AuditLog.lock(conn)
        head = log.ensure_head(conn)
    if head.verifier_key != keys.verifier_key:
        raise ConfigError(
            "the key in the key directory is not the key this log was started with "
            f"({head.verifier_key}); point PARS_KEY_DIR at the log's keys"
        )
    return LogSetup(head.origin, keys.verifier_key, [str(p) for p in created])
