"""Old home of the stored log, kept as names only: it is now ``pars.audit.proofs``
(reads, proofs, stored checkpoints, entries), ``pars.audit.writer`` (the append) and
``pars.audit.setup`` (``init_log``). Import from those; this module goes once no
caller uses it (main's ``pars.cli.serve`` imports ``read_head`` from here).
"""

from pars.audit.proofs import (
    AuditWriteError,
    Head,
    LogEntry,
    consistency_proof,
    get_entry,
    inclusion_proof,
    latest_checkpoint,
    log_size,
    read_head,
    read_nodes,
    root_at,
    stored_checkpoint,
)
from pars.audit.setup import LogSetup, init_log
from pars.audit.writer import (
    LOCK_KEY,
    Appended,
    AppendedLeaf,
    AuditLog,
    checkpoint_interval_seconds,
    receipt,
)

__all__ = [
    "LOCK_KEY",
    "Appended",
    "AppendedLeaf",
    "AuditLog",
    "AuditWriteError",
    "Head",
    "LogEntry",
    "LogSetup",
    "checkpoint_interval_seconds",
    "consistency_proof",
    "get_entry",
    "inclusion_proof",
    "init_log",
    "latest_checkpoint",
    "log_size",
    "read_head",
    "read_nodes",
    "receipt",
    "root_at",
    "stored_checkpoint",
]
