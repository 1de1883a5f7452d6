"""audit: leaves, Merkle tiles, signed checkpoints and the head

Revision ID: 0002_audit
Revises: 0001_records
Create Date: 2026-11-29 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_audit"
down_revision: str | Sequence[str] | None = "0001_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_leaves",
        sa.Column("idx", _BIG_ID, autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("time_utc", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=True),
        sa.Column("user", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_audit_leaves")),
    )
    with op.batch_alter_table("audit_leaves", schema=None) as batch_op:
        batch_op.create_index("ix_audit_leaves_agreement_time", ["agreement_id", "time_utc"], unique=False)
        batch_op.create_index("ix_audit_leaves_user_time", ["user", "time_utc"], unique=False)
        batch_op.create_index("ix_audit_leaves_time", ["time_utc"], unique=False)

    op.create_table(
        "audit_tiles",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_tiles")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("time_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("verifier_key", sa.String(length=400), nullable=False),
        sa.Column("updated_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tiles")
    with op.batch_alter_table("audit_leaves", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_leaves_time")
        batch_op.drop_index("ix_audit_leaves_user_time")
        batch_op.drop_index("ix_audit_leaves_agreement_time")
    op.drop_table("audit_leaves")
