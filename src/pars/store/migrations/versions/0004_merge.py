"""merge the audit and agreements branches into one history

Revision ID: 0004_merge
Revises: 0002_audit, 0003_agreements
Create Date: 2026-11-29
"""

from collections.abc import Sequence

revision: str = "0004_merge"
down_revision: str | Sequence[str] | None = ("0002_audit", "0003_agreements")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
