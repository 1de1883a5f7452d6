"""The audit log room: every access as one entry in an RFC 6962 Merkle log.

Auditors (CONTRACT section 8) need only the pure functions::

    from pars.audit import (leaf_hash, root_hash, verify_inclusion,
                            verify_consistency, verify_checkpoint)

The gate builds an entry, appends it in its own write transaction and returns the
receipt; oversight iterates entries and calls ``verify_log`` for its flag.

Rule: the five auditor functions keep CONTRACT section 8's names and signatures;
everything else here may grow, never those.
"""

from pars.audit.entry import (
    AuditEntry,
    build_entry,
    format_time,
    hash_filters,
    keyed_hash,
)
from pars.audit.keys import LogKeys, create_keys, load_keys
from pars.audit.log import (
    Appended,
    AppendedLeaf,
    AuditLog,
    AuditWriteError,
    LogEntry,
    consistency_proof,
    get_entry,
    inclusion_proof,
    init_log,
    latest_checkpoint,
    log_size,
    receipt,
    root_at,
    stored_checkpoint,
)
from pars.audit.merkle import (
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from pars.audit.note import (
    Checkpoint,
    CheckpointError,
    sign_checkpoint,
    verifier_key,
    verify_checkpoint,
    verify_note,
)
from pars.audit.reader import LogMismatch, LogView, iter_entries, open_log, view_of
from pars.audit.verify import Problem, VerifyResult, verify_log

__all__ = [
    "Appended",
    "AppendedLeaf",
    "AuditEntry",
    "AuditLog",
    "AuditWriteError",
    "Checkpoint",
    "CheckpointError",
    "LogEntry",
    "LogKeys",
    "LogMismatch",
    "LogView",
    "Problem",
    "VerifyResult",
    "build_entry",
    "consistency_proof",
    "create_keys",
    "format_time",
    "get_entry",
    "hash_filters",
    "inclusion_proof",
    "init_log",
    "iter_entries",
    "keyed_hash",
    "latest_checkpoint",
    "leaf_hash",
    "load_keys",
    "log_size",
    "node_hash",
    "open_log",
    "receipt",
    "root_at",
    "root_hash",
    "sign_checkpoint",
    "stored_checkpoint",
    "verifier_key",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
    "verify_note",
    "view_of",
]
