"""scheduling, notifications, urgent links

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 17:37:33.407690
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_duty_roster_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_roster")),
        sa.UniqueConstraint("user_id", name=op.f("uq_duty_roster_user_id")),
    )
    op.create_table(
        "reception_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "recurrence",
            sa.Enum("weekly", "monthly", name="recurrence", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("start_local", sa.String(length=5), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("chair_id", sa.Integer(), nullable=False),
        sa.Column("host_site_id", sa.Integer(), nullable=False),
        sa.Column("participant_site_ids", sa.JSON(), nullable=False),
        sa.Column("waiting_room", sa.Boolean(), nullable=False),
        sa.Column(
            "recording_policy",
            sa.Enum(
                "always", "chair", "never", name="recordingpolicy", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chair_id"], ["users.id"], name=op.f("fk_reception_schedules_chair_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["host_site_id"], ["sites.id"], name=op.f("fk_reception_schedules_host_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_schedules")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "reminder",
                "meeting_open",
                "urgent",
                "task",
                name="notificationkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_notifications_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_notifications_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_user_id"), ["user_id"], unique=False)

    op.create_table(
        "urgent_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("commune_site_id", sa.Integer(), nullable=False),
        sa.Column("head_count", sa.Integer(), nullable=False),
        sa.Column("raised_by_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "alerting", "accepted", "closed", name="urgentstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("alerted_rank", sa.Integer(), nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"], ["users.id"], name=op.f("fk_urgent_calls_accepted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["commune_site_id"], ["sites.id"], name=op.f("fk_urgent_calls_commune_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_urgent_calls_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(
            ["raised_by_id"], ["users.id"], name=op.f("fk_urgent_calls_raised_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgent_calls")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_urgent_calls_meeting_id")),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("occurrence", sa.Date(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_meetings_schedule_id"), ["schedule_id", "occurrence"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_meetings_schedule_id_reception_schedules"),
            "reception_schedules",
            ["schedule_id"],
            ["id"],
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email")

    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_meetings_schedule_id_reception_schedules"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_meetings_schedule_id"), type_="unique")
        batch_op.drop_column("occurrence")
        batch_op.drop_column("schedule_id")

    op.drop_table("urgent_calls")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_user_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_site_id"))

    op.drop_table("notifications")
    op.drop_table("reception_schedules")
    op.drop_table("duty_roster")
