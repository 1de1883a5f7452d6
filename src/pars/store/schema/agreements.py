"""Agreement tables: versions (immutable, content-hashed), approvals, terminations,
the parties' approval keys, and the warrants registry.

Times are kept as written (``*_at`` text with offset) and as naive UTC (``*_utc``)
for comparisons. Rule: rows here are only ever inserted, never updated or
deleted: history is the point (a termination is a new row, not an edit).
"""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Table,
    Text,
)

from pars.store.schema.base import BigId, metadata

agreements = Table(
    "agreements",
    metadata,
    Column("agreement_id", String(64), primary_key=True),
    Column("partner", String(32), nullable=False, index=True),
    Column("created_at", String(40), nullable=False),
    Column("created_utc", DateTime, nullable=False),
)

agreement_versions = Table(
    "agreement_versions",
    metadata,
    Column("agreement_id", String(64), ForeignKey("agreements.agreement_id"), primary_key=True),
    Column("number", Integer, primary_key=True),
    # SHA-256 of the RFC 8785 canonical form of the normalized document.
    Column("hash", String(64), nullable=False, unique=True),
    # The canonical JSON itself: re-hashing it gives ``hash``.
    Column("document", Text, nullable=False),
    Column("applied_at", String(40), nullable=False),
    Column("applied_utc", DateTime, nullable=False),
    Column("applied_by", String(100), nullable=False),
)

agreement_approvals = Table(
    "agreement_approvals",
    metadata,
    Column("agreement_id", String(64), primary_key=True),
    Column("version_number", Integer, primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("at", String(40), nullable=False),
    Column("at_utc", DateTime, nullable=False),
    Column("by", String(100), nullable=False),
    # The party's signed approval note (CONTRACT 9.1), verbatim, and the registered
    # verifier key it verified against. A row without a note never counts.
    Column("note", Text, nullable=True),
    Column("verifier_key", String(200), nullable=True),
    ForeignKeyConstraint(
        ["agreement_id", "version_number"],
        ["agreement_versions.agreement_id", "agreement_versions.number"],
    ),
)

agreement_terminations = Table(
    "agreement_terminations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "agreement_id",
        String(64),
        ForeignKey("agreements.agreement_id"),
        nullable=False,
        index=True,
    ),
    # The last second served.
    Column("effective_at", String(40), nullable=False),
    Column("effective_utc", DateTime, nullable=False),
    Column("reason", Text, nullable=False),
    # True when --force-past allowed an effective time before the recording time.
    Column("forced", Boolean, nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("recorded_utc", DateTime, nullable=False),
    Column("by", String(100), nullable=False),
    # The newest version when recorded: only later versions can be renewals.
    Column("after_version", Integer, nullable=False),
)

party_keys = Table(
    "party_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # The approving party (a name in an agreement's ``approvals.of``); its newest row
    # is its current key, older rows are keys it replaced.
    Column("party", String(64), nullable=False, index=True),
    Column("verifier_key", String(200), nullable=False),
    # The raw Ed25519 public key (hex): one key never approves for two parties.
    Column("public_key", String(64), nullable=False, unique=True),
    Column("added_at", String(40), nullable=False),
    Column("added_utc", DateTime, nullable=False),
    Column("added_by", String(100), nullable=False),
)

#: A warrant is on file for one agreement's requests (CONTRACT section 7). Rows from
#: before 0010_warrants have agreement_id "" and unlock nothing: no agreement has that id.
warrants = Table(
    "warrants",
    metadata,
    Column("reference", String(200), primary_key=True),
    Column("arrest_id", String(64), primary_key=True, index=True),
    Column("agreement_id", String(64), primary_key=True, server_default=""),
    Column("issued_by", String(200), nullable=False),
    Column("expires_at", String(40), nullable=True),
    Column("expires_utc", DateTime, nullable=True),
    Column("added_at", String(40), nullable=False),
    Column("added_utc", DateTime, nullable=False),
    Column("added_by", String(100), nullable=False),
)
