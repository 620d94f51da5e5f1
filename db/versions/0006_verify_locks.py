"""failed verifications counted across calls

Wrong PINs by customer and by calling number, and account numbers nobody
has by calling number, with growing locks (ivr/lockout.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "verify_locks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locks", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_locks")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_verify_locks_kind")),
    )
    op.create_index(
        op.f("ix_verify_locks_locked_until"), "verify_locks", ["locked_until"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_verify_locks_locked_until"), table_name="verify_locks")
    op.drop_table("verify_locks")
