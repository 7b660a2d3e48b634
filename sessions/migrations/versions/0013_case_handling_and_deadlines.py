"""cases: handling dates, extensions and the next deadline; case_events (the handling
timeline); extra_holidays (days off an administrator adds)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_before", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("accepted_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("extensions", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("due_rule", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_due_on"), ["due_on"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("extensions", existing_type=sa.Integer(), server_default=None)
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("document_number", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_case_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_case_id"), "case_events", ["case_id"], unique=False)
    op.create_table(
        "extra_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extra_holidays")),
        sa.UniqueConstraint("day", name=op.f("uq_extra_holidays_day")),
    )


def downgrade() -> None:
    op.drop_table("extra_holidays")
    op.drop_index(op.f("ix_case_events_case_id"), table_name="case_events")
    op.drop_table("case_events")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_due_on"))
        for column in (
            "due_rule",
            "due_on",
            "extensions",
            "closed_on",
            "accepted_on",
            "handled_before",
        ):
            batch_op.drop_column(column)
