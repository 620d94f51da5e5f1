"""billing boundary: mirrored subscriptions and billing changes

Subscriptions gain the billing system's id (`external_id`), so the line's
tables can mirror an external billing system with the flow's int ids kept.
A mirrored customer may have no PIN yet (`ivr set-pin`). `billing_changes`
holds each change a call decided and where it stands in billing; a job
applies it (docs/decisions/0010).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("pin_hash", existing_type=sa.String(length=200), nullable=True)
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_subscriptions_external_id"), ["external_id"]
        )
    op.create_table(
        "billing_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("backend", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("confirmation", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_billing_changes_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_billing_changes_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_changes")),
        sa.UniqueConstraint("confirmation", name=op.f("uq_billing_changes_confirmation")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_billing_changes_idempotency_key")),
    )
    with op.batch_alter_table("billing_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_changes_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            "ix_billing_changes_state_created_at", ["state", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_changes_state_created_at")
        batch_op.drop_index(batch_op.f("ix_billing_changes_call_id"))
    op.drop_table("billing_changes")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_subscriptions_external_id"), type_="unique")
        batch_op.drop_column("external_id")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("pin_hash", existing_type=sa.String(length=200), nullable=False)
