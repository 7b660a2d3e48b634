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
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("device_token_issued_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_sites_device_token_hash"), ["device_token_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_sites_device_token_hash"), type_="unique")
        batch_op.drop_column("device_token_issued_at")
        batch_op.drop_column("device_token_hash")
