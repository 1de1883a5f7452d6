"""parties: each approving party's registered Ed25519 key; approvals keep their signed note

Revision ID: 0008_parties
Revises: 0007_publish
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_parties"
down_revision: str | Sequence[str] | None = "0007_publish"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "party_keys",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("party", sa.String(length=64), nullable=False),
        sa.Column("verifier_key", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.String(length=40), nullable=False),
        sa.Column("added_utc", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_party_keys_public_key")),
    )
    with op.batch_alter_table("party_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_keys_party"), ["party"], unique=False)
    # Approvals recorded before CONTRACT 9.1 are a custodian's say-so, with no signed
    # note: they can never count again, and their rows would block the party's signed
    # approval of the same version (the key is agreement, version, party). The audit
    # log keeps each of them as an admin "approve" entry; the parties sign anew.
    op.execute(sa.text("DELETE FROM agreement_approvals"))
    with op.batch_alter_table("agreement_approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("verifier_key", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agreement_approvals", schema=None) as batch_op:
        batch_op.drop_column("verifier_key")
        batch_op.drop_column("note")
    with op.batch_alter_table("party_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_keys_party"))
    op.drop_table("party_keys")
