"""the customer's state on file

Which cancellation rules apply depends on where the caller lives: the
customer's state on file when billing provides one (voice_prompts/
jurisdictions.yaml, docs/compliance.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("state")
