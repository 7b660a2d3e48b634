"""minutes: who finalised them and the hash of their PDF/A; versions: kind (draft, final,
amendment), the version an amendment corrects and why

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("minutes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finalised_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pdf_sha256", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_minutes_finalised_by_id_users"), "users", ["finalised_by_id"], ["id"]
        )
    with op.batch_alter_table("minutes_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=32), nullable=False, server_default="draft")
        )
        batch_op.add_column(sa.Column("amends_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
    with op.batch_alter_table("minutes_versions", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=32), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("minutes_versions", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("amends_version")
        batch_op.drop_column("kind")
    with op.batch_alter_table("minutes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_minutes_finalised_by_id_users"), type_="foreignkey")
        batch_op.drop_column("pdf_sha256")
        batch_op.drop_column("finalised_by_id")
