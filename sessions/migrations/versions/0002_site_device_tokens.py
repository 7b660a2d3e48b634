"""site device tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:21:14.380146
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and a unique index: no table rebuild on SQLite.
    op.add_column("sites", sa.Column("device_token_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "sites", sa.Column("device_token_issued_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_sites_device_token_hash"), "sites", ["device_token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_sites_device_token_hash"), table_name="sites")
    with op.batch_alter_table("sites") as batch_op:
        batch_op.drop_column("device_token_issued_at")
        batch_op.drop_column("device_token_hash")
