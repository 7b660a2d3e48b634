"""Attendance: who was in a meeting, from when to when, how it ended, how often it dropped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import audit, labels
from sessions.enums import AttendanceOutcome
from sessions.ids import whole_number
from sessions.models import Attendance, AuditEvent, Meeting, MeetingInvitee, Site, User


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


def subject_of(row: Attendance) -> str:
    """The token subject an attendance row was written for (``subject_columns`` reversed)."""
    if row.user_id is not None:
        return f"user:{row.user_id}"
    if row.invitee_id is not None:
        return f"invitee:{row.invitee_id}"
    return f"site:{row.site_id}"


@dataclass(frozen=True)
class Unfinished:
    """A presence a previous server process left open: its holder was in the room when the
    process stopped, and comes back as who it was, admitted."""

    subject: str
    attendance_id: int
    participant_id: str | None  # the room's id for it, from the trail


@dataclass(frozen=True)
class LeftOver:
    unfinished: dict[str, Unfinished]
    removed: frozenset[str]  # sent out by the chair: they wait to be admitted again
    last_known: datetime | None  # the last moment the trail knew the meeting alive


async def left_over(db: AsyncSession, meeting_id: int) -> LeftOver:
    """What a previous process knew of a live meeting's room, from attendance and the trail."""
    rows = list(
        await db.scalars(
            select(Attendance)
            .where(Attendance.meeting_id == meeting_id, Attendance.joined_at.is_not(None))
            .order_by(Attendance.id)
        )
    )
    events = (
        await db.execute(
            select(AuditEvent.action, AuditEvent.at, AuditEvent.details)
            .where(AuditEvent.object_type == "meeting", AuditEvent.object_id == str(meeting_id))
            .order_by(AuditEvent.id)
        )
    ).all()
    ids: dict[str, str] = {}
    for action, _at, details in events:
        if action == "meeting.join" and isinstance(details, dict):
            subject, participant = details.get("subject"), details.get("participant")
            if isinstance(subject, str) and isinstance(participant, str):
                ids[subject] = participant
    unfinished = {
        subject_of(row): Unfinished(subject_of(row), row.id, ids.get(subject_of(row)))
        for row in rows
        if row.left_at is None
    }
    removed = frozenset(
        subject_of(row)
        for row in rows
        if row.outcome is AttendanceOutcome.REMOVED and subject_of(row) not in unfinished
    )
    last = max((at for _action, at, _details in events), default=None)
    return LeftOver(unfinished, removed, last)


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


async def mark_absent(db: AsyncSession, meeting_id: int, now: datetime) -> int:
    """An attendance row 'absent' for every endpoint of the meeting that never joined."""
    meeting = await db.scalar(
        select(Meeting).where(Meeting.id == meeting_id).options(selectinload(Meeting.sites))
    )
    if meeting is None:
        return 0
    added = 0
    for ms in meeting.sites:
        came = await db.scalar(
            select(
                exists().where(
                    Attendance.meeting_id == meeting_id, Attendance.site_id == ms.site_id
                )
            )
        )
        if came:
            continue
        db.add(
            Attendance(
                meeting_id=meeting_id,
                site_id=ms.site_id,
                display_name=ms.site.name,
                role_label=labels.label(ms.role),
                outcome=AttendanceOutcome.ABSENT,
            )
        )
        added += 1
    await db.flush()
    if added:
        await audit.record(db, now, None, "meeting.absent", "meeting", meeting_id, {"sites": added})
    return added


async def names_for(db: AsyncSession, subjects: Iterable[str]) -> dict[str, str]:
    """The names people and endpoints are shown under, by token subject ("user:3" → the
    person's full name, "site:7" → the endpoint, "invitee:2" → the name the meeting gave)."""
    wanted: dict[str, set[int]] = {"user": set(), "site": set(), "invitee": set()}
    for subject in subjects:
        kind, _, raw = subject.partition(":")
        value = whole_number(raw)
        if kind in wanted and value is not None:
            wanted[kind].add(value)
    names: dict[str, str] = {}
    for kind, model, column in (
        ("user", User, User.full_name),
        ("site", Site, Site.name),
        ("invitee", MeetingInvitee, MeetingInvitee.display_name),
    ):
        if wanted[kind]:
            rows = await db.execute(select(model.id, column).where(model.id.in_(wanted[kind])))
            names.update({f"{kind}:{row_id}": name for row_id, name in rows.all()})
    return names
