"""the console: calls sorted by account or outcome, analytics by UTC day
from two indexes (replacing 0002's two), a console language per user, and
saved views

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The UTC day of a call's start, per database.
DAY = {
    "sqlite": "date(started_at)",
    "postgresql": "CAST(timezone('UTC', started_at) AS DATE)",
}


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("console_language", sa.String(length=5), server_default="en", nullable=False)
        )
    op.create_index("ix_calls_account_number_id", "calls", ["account_number", "id"])
    op.create_index("ix_calls_outcome_id", "calls", ["outcome", "id"])
    # Analytics groups by the UTC day first: with the day leading these
    # indexes, its GROUP BY reads them in order, without sorting a million
    # rows. The expression is the one ivr/console/analytics.py writes.
    day = sa.text(DAY[op.get_bind().dialect.name])
    op.create_index(
        "ix_calls_day_groups",
        "calls",
        [
            day,
            "outcome",
            "reason_code",
            "offer_code",
            "offer_accepted",
            "agent_requested",
            "outcome_step",
        ],
    )
    op.create_index("ix_calls_day_lengths", "calls", [day, "outcome", "duration_seconds"])
    # What analytics read before; nothing reads them now, and every call pays for them.
    op.drop_index("ix_calls_analytics", table_name="calls")
    op.drop_index("ix_calls_outcome_duration", table_name="calls")
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saved_views_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_saved_views_user_id")),
    )
    op.create_index(op.f("ix_saved_views_user_id"), "saved_views", ["user_id"], unique=False)


def downgrade() -> None:
    op.create_index(
        "ix_calls_outcome_duration", "calls", ["outcome", "duration_seconds", "started_at"]
    )
    op.create_index(
        "ix_calls_analytics",
        "calls",
        [
            "outcome",
            "reason_code",
            "offer_code",
            "offer_accepted",
            "agent_requested",
            "outcome_step",
            "started_at",
        ],
    )
    op.drop_index(op.f("ix_saved_views_user_id"), table_name="saved_views")
    op.drop_table("saved_views")
    op.drop_index("ix_calls_day_lengths", table_name="calls")
    op.drop_index("ix_calls_day_groups", table_name="calls")
    op.drop_index("ix_calls_outcome_id", table_name="calls")
    op.drop_index("ix_calls_account_number_id", table_name="calls")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("console_language")
