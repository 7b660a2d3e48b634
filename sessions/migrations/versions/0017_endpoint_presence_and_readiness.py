"""endpoint_presence (the last heard of each endpoint: browser, devices, link quality) and
readiness_checks (staff-requested test calls with their figures and verdict)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_presence",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("browser_version", sa.String(length=32), nullable=False),
        sa.Column("camera", sa.String(length=32), nullable=False),
        sa.Column("microphone", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("rtt_ms", sa.Double(), nullable=True),
        sa.Column("loss_percent", sa.Double(), nullable=True),
        sa.Column("kbps", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_endpoint_presence_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_endpoint_presence_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_endpoint_presence")),
    )
    op.create_table(
        "readiness_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("rtt_ms", sa.Double(), nullable=True),
        sa.Column("loss_percent", sa.Double(), nullable=True),
        sa.Column("kbps", sa.Double(), nullable=True),
        sa.Column("camera", sa.String(length=32), nullable=False),
        sa.Column("microphone", sa.String(length=32), nullable=False),
        sa.Column("problem", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_readiness_checks_requested_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_readiness_checks_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_checks")),
    )
    op.create_index(
        op.f("ix_readiness_checks_site_id"), "readiness_checks", ["site_id"], unique=False
    )
    op.create_index(
        op.f("ix_readiness_checks_requested_at"), "readiness_checks", ["requested_at"], unique=False
    )
    op.create_index(
        op.f("ix_readiness_checks_verdict"), "readiness_checks", ["verdict"], unique=False
    )


def downgrade() -> None:
    op.drop_table("readiness_checks")
    op.drop_table("endpoint_presence")
