"""audit: a keyed MAC on the chain's head

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:20:00

The chain's hashes become HMACs under a key kept outside the database; existing chains are
re-keyed once by ``diemcau`` at start-up (``sessions.audit.adopt_key``), after verifying them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("mac")
