"""audit texts: the free text of entries outside the leaves, erasable (CONTRACT section 5)

Revision ID: 0009_texts
Revises: 0008_parties
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_texts"
down_revision: str | Sequence[str] | None = "0008_parties"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_texts",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=16), nullable=False),
        sa.Column("time_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("idx", "key", name=op.f("pk_audit_texts")),
    )
    with op.batch_alter_table("audit_texts", schema=None) as batch_op:
        batch_op.create_index("ix_audit_texts_time", ["time_utc"], unique=False)
    op.create_table(
        "audit_text_arrests",
        sa.Column("arrest_id", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("arrest_id", "idx", name=op.f("pk_audit_text_arrests")),
    )


def downgrade() -> None:
    op.drop_table("audit_text_arrests")
    with op.batch_alter_table("audit_texts", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_texts_time")
    op.drop_table("audit_texts")
