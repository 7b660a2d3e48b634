"""Stored words become catalog message ids: notices keep a message id and its parameters;
role labels the server chose keep their msgid (each page shows them in its reader's language).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:30:00

An existing notice keeps its sentence as its message (no catalog entry matches it, so it is
shown as it was written). Role labels the server wrote in Vietnamese map back to their msgids.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The Vietnamese the server used to store, and the msgid that now stands for it.
ROLE_LABELS = {
    "Điểm cầu chính": "Host endpoint",
    "Điểm cầu thành phần": "Participant endpoint",
    "Điểm cầu": "Endpoint",
    "Người chủ trì": "Chair",
    "Người tiếp công dân": "Reception officer",
    "Thư ký": "Secretary",
    "Người tham gia": "Participant",
    "Người khiếu nại": "Complainant",
    "Người bị khiếu nại": "Person complained about",
    "Người bị tố cáo": "Person denounced",
    "Người kiến nghị, phản ánh": "Petitioner",
    "Người đại diện": "Representative",
    "Luật sư": "Lawyer",
    "Người có quyền, nghĩa vụ liên quan": "Interested party",
}


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
    op.execute("UPDATE notifications SET message = text, params = '{}'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("message", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("params", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("text")
    bind = op.get_bind()
    for table in ("attendances", "meeting_invitees"):
        for vietnamese, msgid in ROLE_LABELS.items():
            bind.execute(
                sa.text(f"UPDATE {table} SET role_label = :m WHERE role_label = :v"),
                {"m": msgid, "v": vietnamese},
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table in ("attendances", "meeting_invitees"):
        for vietnamese, msgid in ROLE_LABELS.items():
            bind.execute(
                sa.text(f"UPDATE {table} SET role_label = :v WHERE role_label = :m"),
                {"m": msgid, "v": vietnamese},
            )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=True))
    op.execute("UPDATE notifications SET text = message")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("text", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("params")
        batch_op.drop_column("message")
