"""Console tables: one row per signed-in browser, keyed by the SHA-256 of its session id.

``console_sessions`` lets every ``pars serve`` process (and a restarted one) find
the session a browser's cookie names. A row holds the SHA-256 of the random
session id, the ``token_id`` of the custodian or oversight token it was opened
with (the token is re-checked in ``gate_tokens`` on every request, so a revoked
token ends its sessions), and when it was opened and last used.

Rule: neither the session id nor the token is ever stored; only
``session_sha256`` and ``token_id`` are.
"""

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table

from pars.store.schema.base import metadata

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_sha256", String(64), primary_key=True),
    Column("token_id", String(32), ForeignKey("gate_tokens.token_id", ondelete="CASCADE"), nullable=False),
    Column("created_utc", DateTime, nullable=False),
    # Last use, to the granularity of ``pars.console.session.TOUCH``; idle expiry counts from it.
    Column("seen_utc", DateTime, nullable=False),
    Index("ix_console_sessions_seen", "seen_utc"),
)
