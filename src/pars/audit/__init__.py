"""The audit log room: every access as one entry in an RFC 6962 Merkle log.

Auditors (CONTRACT section 8) need only the pure functions::

    from pars.audit import (leaf_hash, root_hash, verify_inclusion,
                            verify_consistency, verify_checkpoint)

The gate builds an entry, appends it in its own write transaction and returns the
receipt; oversight iterates entries and calls ``verify_log`` for its flag.

The C2SP pieces (signed notes, cosignatures, tlog-proof, tile paths) are pure
too. Storage names (``AuditLog``, ``iter_entries``...) load on first use.

Rule: the five auditor functions keep CONTRACT section 8's names and signatures,
and importing them (or the C2SP modules) never imports SQLAlchemy, psycopg or
``pars.store``; everything else here may grow, never those.
"""

from typing import TYPE_CHECKING, Any

from pars.audit.cosignature import (
    CosignatureError,
    CosignerKey,
    cosign,
    cosigner_verifier_key,
    require_quorum,
    valid_cosignatures,
    verify_cosignature,
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
    VerifierKey,
    open_note,
    sign_checkpoint,
    verifier_key,
    verify_checkpoint,
    verify_note,
)
from pars.audit.tilepath import Tile, TilePathError, decode_bundle, encode_bundle, parse_tile_path, tile_path
from pars.audit.tlogproof import (
    TlogProof,
    TlogProofError,
    VerifiedProof,
    format_proof,
    parse_proof,
    verify_proof,
)

if TYPE_CHECKING:
    from pars.audit.entry import (
        AuditEntry,
        build_entry,
        format_time,
        hash_filters,
        keyed_hash,
    )
    from pars.audit.keys import LogKeys, create_keys, load_keys
    from pars.audit.proofs import (
        AuditWriteError,
        LogEntry,
        consistency_proof,
        get_entry,
        inclusion_proof,
        latest_checkpoint,
        log_size,
        root_at,
        stored_checkpoint,
    )
    from pars.audit.reader import LogMismatch, LogView, iter_entries, open_log, view_of
    from pars.audit.setup import init_log
    from pars.audit.verify import Problem, VerifyResult, verify_log
    from pars.audit.writer import Appended, AppendedLeaf, AuditLog, receipt

#: Names whose modules need the store (SQLAlchemy, psycopg) or the records room:
#: imported on first use, so the auditor API above stays light.
_LAZY = {
    **dict.fromkeys(["AuditEntry", "build_entry", "format_time", "hash_filters", "keyed_hash"], "entry"),
    **dict.fromkeys(["LogKeys", "create_keys", "load_keys"], "keys"),
    **dict.fromkeys(["Appended", "AppendedLeaf", "AuditLog", "receipt"], "writer"),
    **dict.fromkeys(
        [
            "AuditWriteError",
            "LogEntry",
            "consistency_proof",
            "get_entry",
            "inclusion_proof",
            "latest_checkpoint",
            "log_size",
            "root_at",
            "stored_checkpoint",
        ],
        "proofs",
    ),
    "init_log": "setup",
    **dict.fromkeys(["Problem", "VerifyResult", "verify_log"], "verify"),
    **dict.fromkeys(["LogMismatch", "LogView", "iter_entries", "open_log", "view_of"], "reader"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pars.audit' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"pars.audit.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Appended",
    "AppendedLeaf",
    "AuditEntry",
    "AuditLog",
    "AuditWriteError",
    "Checkpoint",
    "CheckpointError",
    "CosignatureError",
    "CosignerKey",
    "LogEntry",
    "LogKeys",
    "LogMismatch",
    "LogView",
    "Problem",
    "Tile",
    "TilePathError",
    "TlogProof",
    "TlogProofError",
    "VerifiedProof",
    "VerifierKey",
    "VerifyResult",
    "build_entry",
    "consistency_proof",
    "cosign",
    "cosigner_verifier_key",
    "create_keys",
    "decode_bundle",
    "encode_bundle",
    "format_proof",
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
    "open_note",
    "parse_proof",
    "parse_tile_path",
    "receipt",
    "require_quorum",
    "root_at",
    "root_hash",
    "sign_checkpoint",
    "stored_checkpoint",
    "tile_path",
    "valid_cosignatures",
    "verifier_key",
    "verify_checkpoint",
    "verify_consistency",
    "verify_cosignature",
    "verify_inclusion",
    "verify_log",
    "verify_note",
    "verify_proof",
    "view_of",
]
