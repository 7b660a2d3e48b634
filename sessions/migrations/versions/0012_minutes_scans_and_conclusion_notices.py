"""minutes_scans (signed copies scanned at each endpoint) and conclusion_notices (thông báo
kết luận tiếp công dân)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "minutes_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minutes_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("relative_path", sa.String(length=500), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["minutes_id"], ["minutes.id"], name=op.f("fk_minutes_scans_minutes_id_minutes")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_minutes_scans_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_minutes_scans_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minutes_scans")),
    )
    op.create_index(
        op.f("ix_minutes_scans_minutes_id"), "minutes_scans", ["minutes_id"], unique=False
    )
    op.create_table(
        "conclusion_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("conclusion", sa.Text(), nullable=False),
        sa.Column("tasks", sa.Text(), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_by_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_conclusion_notices_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(
            ["signed_by_id"], ["users.id"], name=op.f("fk_conclusion_notices_signed_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conclusion_notices")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_conclusion_notices_meeting_id")),
    )


def downgrade() -> None:
    op.drop_table("conclusion_notices")
    op.drop_index(op.f("ix_minutes_scans_minutes_id"), table_name="minutes_scans")
    op.drop_table("minutes_scans")
