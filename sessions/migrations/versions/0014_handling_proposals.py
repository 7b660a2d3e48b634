"""handling_proposals: officers' proposals to the Chairman for crowded, complex or prolonged
cases (đề xuất phương án xử lý)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 03:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handling_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("drafted_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_handling_proposals_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_handling_proposals_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["drafted_by_id"], ["users.id"], name=op.f("fk_handling_proposals_drafted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handling_proposals")),
    )
    op.create_index(
        op.f("ix_handling_proposals_case_id"), "handling_proposals", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_handling_proposals_status"), "handling_proposals", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_handling_proposals_status"), table_name="handling_proposals")
    op.drop_index(op.f("ix_handling_proposals_case_id"), table_name="handling_proposals")
    op.drop_table("handling_proposals")
