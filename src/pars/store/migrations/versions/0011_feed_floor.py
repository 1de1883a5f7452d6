"""gate: where each feed subscriber begins (Last-Event-ID never resumes before it)

Revision ID: 0011_feed_floor
Revises: 0010_warrants
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_feed_floor"
down_revision: str | Sequence[str] | None = "0010_warrants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gate_feed_floors",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", "user", name=op.f("pk_gate_feed_floors")),
    )


def downgrade() -> None:
    op.drop_table("gate_feed_floors")
