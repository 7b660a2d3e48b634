"""cases: the unit that handles a case and the officer it is assigned to

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:58:00

Both decide who may see a case (``sessions.permissions``). Existing cases go to the unit of the
account that registered them, or to the provincial reception office when that is unknown.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_site_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_unit_site_id"), ["unit_site_id"])
        batch_op.create_index(batch_op.f("ix_cases_assignee_id"), ["assignee_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_unit_site_id_sites"), "sites", ["unit_site_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_assignee_id_users"), "users", ["assignee_id"], ["id"]
        )
    op.execute(
        "UPDATE cases SET unit_site_id = "
        "(SELECT users.site_id FROM users WHERE users.id = cases.created_by_id)"
    )
    op.execute(
        "UPDATE cases SET unit_site_id = (SELECT sites.id FROM sites WHERE sites.code = 'TCD-LS')"
        " WHERE unit_site_id IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_cases_assignee_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_cases_unit_site_id_sites"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_cases_assignee_id"))
        batch_op.drop_index(batch_op.f("ix_cases_unit_site_id"))
        batch_op.drop_column("assignee_id")
        batch_op.drop_column("unit_site_id")
