"""agreements: versions, approvals, terminations and the warrants registry

Revision ID: 0003_agreements
Revises: 0001_records
Create Date: 2026-11-29 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_agreements"
down_revision: str | Sequence[str] | None = "0001_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("created_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", name=op.f("pk_agreements")),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreements_partner"), ["partner"], unique=False)

    op.create_table(
        "agreement_versions",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.String(length=40), nullable=False),
        sa.Column("applied_utc", sa.DateTime(), nullable=False),
        sa.Column("applied_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.agreement_id"],
            name=op.f("fk_agreement_versions_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("agreement_id", "number", name=op.f("pk_agreement_versions")),
        sa.UniqueConstraint("hash", name=op.f("uq_agreement_versions_hash")),
    )
    op.create_table(
        "agreement_approvals",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("at_utc", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id", "version_number"],
            ["agreement_versions.agreement_id", "agreement_versions.number"],
            name=op.f("fk_agreement_approvals_agreement_id_agreement_versions"),
        ),
        sa.PrimaryKeyConstraint(
            "agreement_id", "version_number", "role", name=op.f("pk_agreement_approvals")
        ),
    )
    op.create_table(
        "agreement_terminations",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("effective_at", sa.String(length=40), nullable=False),
        sa.Column("effective_utc", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.Column("recorded_utc", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("after_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.agreement_id"],
            name=op.f("fk_agreement_terminations_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_terminations")),
    )
    with op.batch_alter_table("agreement_terminations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_terminations_agreement_id"), ["agreement_id"], unique=False
        )

    op.create_table(
        "warrants",
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("arrest_id", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.String(length=40), nullable=True),
        sa.Column("expires_utc", sa.DateTime(), nullable=True),
        sa.Column("added_at", sa.String(length=40), nullable=False),
        sa.Column("added_utc", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("reference", "arrest_id", name=op.f("pk_warrants")),
    )
    with op.batch_alter_table("warrants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warrants_arrest_id"), ["arrest_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warrants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warrants_arrest_id"))
    op.drop_table("warrants")
    with op.batch_alter_table("agreement_terminations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_terminations_agreement_id"))
    op.drop_table("agreement_terminations")
    op.drop_table("agreement_approvals")
    op.drop_table("agreement_versions")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_partner"))
    op.drop_table("agreements")
