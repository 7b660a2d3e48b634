"""crowd_delegations (đoàn đông người, with the working group sent and the outcome) and the
cases each concerns

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 03:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crowd_delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=32), nullable=False),
        sa.Column("gathered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head_count", sa.Integer(), nullable=False),
        sa.Column("commune_ids", sa.JSON(), nullable=False),
        sa.Column("representatives", sa.Text(), nullable=False),
        sa.Column("urgent_meeting_id", sa.Integer(), nullable=True),
        sa.Column("group_members", sa.Text(), nullable=False),
        sa.Column("group_authority", sa.String(length=200), nullable=True),
        sa.Column("group_departed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("returned_home_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_crowd_delegations_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["urgent_meeting_id"],
            ["meetings.id"],
            name=op.f("fk_crowd_delegations_urgent_meeting_id_meetings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crowd_delegations")),
    )
    op.create_index(
        op.f("ix_crowd_delegations_gathered_at"), "crowd_delegations", ["gathered_at"], unique=False
    )
    op.create_table(
        "delegation_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delegation_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_delegation_cases_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delegation_id"],
            ["crowd_delegations.id"],
            name=op.f("fk_delegation_cases_delegation_id_crowd_delegations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegation_cases")),
        sa.UniqueConstraint(
            "delegation_id", "case_id", name=op.f("uq_delegation_cases_delegation_id")
        ),
    )
    op.create_index(
        op.f("ix_delegation_cases_case_id"), "delegation_cases", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_delegation_cases_delegation_id"),
        "delegation_cases",
        ["delegation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("delegation_cases")
    op.drop_index(op.f("ix_crowd_delegations_gathered_at"), table_name="crowd_delegations")
    op.drop_table("crowd_delegations")
