"""Publishing the log to witnesses: cosignatures, each witness's state, published sizes.

Rule: a cosignature row is kept only after it verified against the witness's key
configured when it came back; ``audit_published`` marks a stored checkpoint that
reached the quorum and is never updated or deleted. A witness's refusal stays in
``audit_witnesses`` (``refusing_since``) until that witness cosigns again.
"""

from sqlalchemy import BigInteger, Column, DateTime, String, Table, Text

from pars.store.schema.base import metadata

audit_cosignatures = Table(
    "audit_cosignatures",
    metadata,
    # The stored checkpoint (audit_checkpoints.size) this cosigns.
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    # The witness's verifier key (name+keyid+base64), as configured in PARS_WITNESSES.
    Column("witness_key", String(400), primary_key=True),
    # The note signature line exactly as the witness sent it, without its newline.
    Column("signature", Text, nullable=False),
    # The cosignature's own timestamp (POSIX seconds, tlog-cosignature).
    Column("timestamp", BigInteger, nullable=False),
    Column("received_utc", DateTime, nullable=False),
)

audit_witnesses = Table(
    "audit_witnesses",
    metadata,
    Column("witness_key", String(400), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", String(1000), nullable=False),
    # The size of the newest checkpoint this witness cosigned for us (None: never).
    Column("cosigned_size", BigInteger, nullable=True),
    Column("last_attempt_utc", DateTime, nullable=True),
    Column("last_success_utc", DateTime, nullable=True),
    # Why the last attempt failed (unreachable, a bad cosignature...); None after a success.
    Column("last_error", Text, nullable=True),
    # Set when the witness refused consistency (a fork or a cut): an alarm until it cosigns.
    Column("refusing_since", DateTime, nullable=True),
    Column("refusal", Text, nullable=True),
)

audit_published = Table(
    "audit_published",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("published_utc", DateTime, nullable=False),
)
