"""Audit log tables: leaves, Merkle tiles, signed checkpoints and the head.

Rule: a row of ``audit_leaves`` is written once and never updated or deleted
(expunging a record never touches it); ``audit_tiles`` and ``audit_head`` only
ever grow to the right, under the one-writer lock of ``pars.audit.writer``.

Tiles follow the C2SP tlog-tiles layout: tile (level L, index N) holds, as
concatenated 32-byte hashes, the tree nodes at height 8·L with indices
256·N … 256·N+255; the rightmost tile of a level may be partial. Every perfect
subtree hash is therefore one tile read away, so a proof or a root costs
O(log n) rows.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
)

from pars.store.schema.base import BigId, metadata

audit_leaves = Table(
    "audit_leaves",
    metadata,
    # 0-based leaf index; INTEGER PRIMARY KEY (the rowid) on SQLite.
    Column("idx", BigId, primary_key=True, autoincrement=False),
    # The entry's RFC 8785 bytes exactly as hashed: verify never re-encodes.
    Column("entry", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("time_utc", DateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("agreement_id", String(64), nullable=True),
    Column("user", String(200), nullable=True),
    Index("ix_audit_leaves_agreement_time", "agreement_id", "time_utc"),
    Index("ix_audit_leaves_user_time", "user", "time_utc"),
    Index("ix_audit_leaves_time", "time_utc"),
)

audit_tiles = Table(
    "audit_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("time_utc", DateTime, nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    # Always 1: the row the writer lock is about.
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("origin", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("verifier_key", String(400), nullable=False),
    Column("updated_utc", DateTime, nullable=False),
)

# Free text a partner typed, kept OUTSIDE the leaves so it can be erased (CONTRACT
# section 5): the entry holds the commitment SHA-256(salt ‖ text), this table the
# text and its salt. ``key`` says where in the entry the commitment sits
# (``justification``, ``filters.<name>``, ``sort.<i>`` ...; see pars.audit.texts).
# Rows are deleted (erasure, expungement, retention), never updated.
audit_texts = Table(
    "audit_texts",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("key", String(200), primary_key=True),
    Column("text", Text, nullable=False),
    Column("salt", LargeBinary(16), nullable=False),
    Column("time_utc", DateTime, nullable=False),  # the entry's time: retention counts from it
    Index("ix_audit_texts_time", "time_utc"),
)

# Which arrests an entry with texts names, so expunging an arrest finds the texts
# of every entry naming it without decoding the log.
audit_text_arrests = Table(
    "audit_text_arrests",
    metadata,
    Column("arrest_id", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
)
