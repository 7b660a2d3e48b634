"""Attendance: who was in a meeting, from when to when, how it ended, how often it dropped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.enums import AttendanceOutcome
from sessions.ids import whole_number
from sessions.models import Attendance


def subject_columns(subject: str) -> dict[str, int | None]:
    """Map a token subject ("user:3", "site:7", "invitee:2") to the attendance columns."""
    kind, _, raw = subject.partition(":")
    value = whole_number(raw)
    return {
        "user_id": value if kind == "user" else None,
        "site_id": value if kind == "site" else None,
        "invitee_id": value if kind == "invitee" else None,
    }


async def record_join(
    db: AsyncSession,
    *,
    meeting_id: int,
    subject: str,
    site_id: int | None,
    display_name: str,
    role_label: str,
    at: datetime,
    recording_ack: bool = False,
) -> int:
    columns = subject_columns(subject)
    row = Attendance(
        meeting_id=meeting_id,
        user_id=columns["user_id"],
        invitee_id=columns["invitee_id"],
        site_id=columns["site_id"] or site_id,
        display_name=display_name,
        role_label=role_label,
        joined_at=at,
        outcome=AttendanceOutcome.PRESENT,
        recording_notice_ack_at=at if recording_ack else None,
    )
    db.add(row)
    await db.flush()
    return row.id


async def record_leave(
    db: AsyncSession, attendance_id: int, outcome: AttendanceOutcome, at: datetime
) -> None:
    await db.execute(
        update(Attendance).where(Attendance.id == attendance_id).values(left_at=at, outcome=outcome)
    )


async def record_interruption(db: AsyncSession, attendance_id: int) -> None:
    await db.execute(
        update(Attendance)
        .where(Attendance.id == attendance_id)
        .values(interruptions=Attendance.interruptions + 1)
    )
