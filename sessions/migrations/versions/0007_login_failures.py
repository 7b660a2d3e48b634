"""login_failures: the sign-in throttle's memory of wrong passwords

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_username"), ["username"])
        batch_op.create_index(batch_op.f("ix_login_failures_address"), ["address"])
        batch_op.create_index(batch_op.f("ix_login_failures_at"), ["at"])


def downgrade() -> None:
    op.drop_table("login_failures")
