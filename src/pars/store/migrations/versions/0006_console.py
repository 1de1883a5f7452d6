"""console: sessions in the store (hashed session ids), so they survive restarts and span processes

Revision ID: 0006_console
Revises: 0005_gate
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_console"
down_revision: str | Sequence[str] | None = "0005_gate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("session_sha256", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("created_utc", sa.DateTime(), nullable=False),
        sa.Column("seen_utc", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["gate_tokens.token_id"],
            name=op.f("fk_console_sessions_token_id_gate_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_sha256", name=op.f("pk_console_sessions")),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_console_sessions_seen", ["seen_utc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_console_sessions_seen")
    op.drop_table("console_sessions")
