"""recordings: kinds, recovery, legal hold

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 17:51:40.184877
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cases",
        sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "participant",
                    "recovered",
                    "combined",
                    name="recordingkind",
                    native_enum=False,
                    length=32,
                ),
                nullable=False,
                server_default="participant",  # every earlier recording was a participant's
            )
        )
        batch_op.add_column(sa.Column("participant_subject", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("recovered_from_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("duration_ms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("video_frames", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("audio_frames", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("progress", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_recordings_recovered_from_id_recordings"),
            "recordings",
            ["recovered_from_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("legal_hold")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_recordings_recovered_from_id_recordings"), type_="foreignkey"
        )
        batch_op.drop_column("note")
        batch_op.drop_column("progress")
        batch_op.drop_column("audio_frames")
        batch_op.drop_column("video_frames")
        batch_op.drop_column("duration_ms")
        batch_op.drop_column("recovered_from_id")
        batch_op.drop_column("participant_subject")
        batch_op.drop_column("kind")
