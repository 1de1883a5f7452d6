"""warrants: each warrant is on file for one agreement (CONTRACT section 7)

A warrant unlocks ``warrant_required`` groups only for requests under the
agreement it was filed for. Warrants filed before this revision name no
agreement: they get ``agreement_id = ''``, which no agreement has, so they
unlock nothing until filed again with ``pars warrants add --agreement``.

Revision ID: 0010_warrants
Revises: 0009_texts
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_warrants"
down_revision: str | Sequence[str] | None = "0009_texts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("warrants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("agreement_id", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.drop_constraint("pk_warrants", type_="primary")
        batch_op.create_primary_key("pk_warrants", ["reference", "arrest_id", "agreement_id"])


def downgrade() -> None:
    # Keeps one row per (reference, arrest): the same warrant filed for two agreements
    # cannot be told apart any more, and an unbound warrant unlocked every agreement.
    op.execute(
        "DELETE FROM warrants WHERE agreement_id <> (SELECT MIN(w.agreement_id) FROM warrants w "
        "WHERE w.reference = warrants.reference AND w.arrest_id = warrants.arrest_id)"
    )
    with op.batch_alter_table("warrants", schema=None) as batch_op:
        batch_op.drop_constraint("pk_warrants", type_="primary")
        batch_op.create_primary_key("pk_warrants", ["reference", "arrest_id"])
        batch_op.drop_column("agreement_id")
