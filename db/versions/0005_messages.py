"""texts to callers, opt-outs and consents; call backs kept on time

The written confirmation and win-back offers are texts queued with the
call's record and sent by a job (docs/decisions/0019-after-the-call.md);
numbers that replied STOP get none; a win-back text needs the caller's
recorded consent.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("assignee", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_callback_requests_due_at"), ["due_at"], unique=False)
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("twilio_sid", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_sms_messages_call_id_calls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
        sa.UniqueConstraint("twilio_sid", name=op.f("uq_sms_messages_twilio_sid")),
    )
    op.create_index(op.f("ix_sms_messages_call_id"), "sms_messages", ["call_id"], unique=False)
    op.create_index("ix_sms_messages_phone_state", "sms_messages", ["phone", "state"], unique=False)
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("keyword", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_sms_opt_outs")),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("answer", sa.String(length=200), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_consents_call_id_calls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_call_id"), "consents", ["call_id"], unique=False)
    op.create_index(op.f("ix_consents_phone"), "consents", ["phone"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_requests_due_at"))
        batch_op.drop_column("outcome")
        batch_op.drop_column("attempts")
        batch_op.drop_column("assignee")
        batch_op.drop_column("due_at")
    op.drop_index(op.f("ix_consents_phone"), table_name="consents")
    op.drop_index(op.f("ix_consents_call_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_table("sms_opt_outs")
    op.drop_index("ix_sms_messages_phone_state", table_name="sms_messages")
    op.drop_index(op.f("ix_sms_messages_call_id"), table_name="sms_messages")
    op.drop_table("sms_messages")
