"""Gate tables: API tokens (stored only as SHA-256) and the per-user request counter.

``gate_tokens`` holds one row per issued token: its public id, the SHA-256 of the
secret, the role (``partner``, ``custodian`` or ``oversight``), the user and, for
a partner, the one agreement it is bound to. ``gate_requests`` holds one row per
partner search or read, written in the same transaction as its audit entry, so
the rate limit is counted exactly under concurrency.

Rule: the token itself is never stored; only ``token_sha256`` is.
"""

from sqlalchemy import BigInteger, Column, DateTime, Index, String, Table

from pars.store.schema.base import BigId, metadata

gate_tokens = Table(
    "gate_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("user", String(200), nullable=False),
    Column("agreement_id", String(64), nullable=True),
    Column("created_utc", DateTime, nullable=False),
    Column("revoked_utc", DateTime, nullable=True),
)

gate_requests = Table(
    "gate_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("agreement_id", String(64), nullable=False),
    Column("user", String(200), nullable=False),
    Column("at_utc", DateTime, nullable=False),
    Index("ix_gate_requests_agreement_user_at", "agreement_id", "user", "at_utc"),
)

#: Where each subscriber's feed begins: the newest event ``seq`` when this
#: (agreement, user) first opened the feed. ``Last-Event-ID`` never resumes from
#: before it (CONTRACT section 4), so a new subscriber cannot replay the past.
gate_feed_floors = Table(
    "gate_feed_floors",
    metadata,
    Column("agreement_id", String(64), primary_key=True),
    Column("user", String(200), primary_key=True),
    Column("first_seq", BigInteger, nullable=False),
    Column("first_utc", DateTime, nullable=False),
)
