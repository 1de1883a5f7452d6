"""publish: witnesses' cosignatures, each witness's state, and the published sizes

Revision ID: 0007_publish
Revises: 0006_console
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_publish"
down_revision: str | Sequence[str] | None = "0006_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness_key", sa.String(length=400), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("received_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness_key", name=op.f("pk_audit_cosignatures")),
    )
    op.create_table(
        "audit_witnesses",
        sa.Column("witness_key", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("cosigned_size", sa.BigInteger(), nullable=True),
        sa.Column("last_attempt_utc", sa.DateTime(), nullable=True),
        sa.Column("last_success_utc", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("refusing_since", sa.DateTime(), nullable=True),
        sa.Column("refusal", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("witness_key", name=op.f("pk_audit_witnesses")),
    )
    op.create_table(
        "audit_published",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("published_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_published")),
    )


def downgrade() -> None:
    op.drop_table("audit_published")
    op.drop_table("audit_witnesses")
    op.drop_table("audit_cosignatures")
