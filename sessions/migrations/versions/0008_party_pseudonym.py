"""case_parties: the pseudonym a denouncer is shown under ("Người tố cáo 1")

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:50:00

Existing denouncers get theirs in the order they were added to their case.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_parties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pseudonym", sa.String(length=100), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, case_id FROM case_parties WHERE role = 'denouncer' ORDER BY case_id, id"
        )
    ).all()
    counts: dict[int, int] = {}
    for party_id, case_id in rows:
        counts[case_id] = counts.get(case_id, 0) + 1
        bind.execute(
            sa.text("UPDATE case_parties SET pseudonym = :p WHERE id = :i"),
            {"p": f"Người tố cáo {counts[case_id]}", "i": party_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("case_parties", schema=None) as batch_op:
        batch_op.drop_column("pseudonym")
