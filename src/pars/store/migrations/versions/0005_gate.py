"""gate: API tokens (hashed) and the rate-limit request counter

Revision ID: 0005_gate
Revises: 0004_merge
Create Date: 2026-11-29 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_gate"
down_revision: str | Sequence[str] | None = "0004_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gate_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=True),
        sa.Column("created_utc", sa.DateTime(), nullable=False),
        sa.Column("revoked_utc", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_gate_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_gate_tokens_token_sha256")),
    )
    op.create_table(
        "gate_requests",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("at_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_requests")),
    )
    with op.batch_alter_table("gate_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gate_requests_agreement_user_at", ["agreement_id", "user", "at_utc"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("gate_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_gate_requests_agreement_user_at")
    op.drop_table("gate_requests")
    op.drop_table("gate_tokens")
