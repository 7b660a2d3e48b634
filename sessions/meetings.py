"""Meetings: look-up and the state changes a person asks for (the lifecycle itself is in
``sessions.lifecycle``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import audit, lifecycle
from sessions.enums import MeetingStatus
from sessions.errors import N_, NotFound
from sessions.models import Attendance, Case, Meeting, MeetingInvitee, MeetingSite


async def get_meeting(db: AsyncSession, meeting_id: int) -> Meeting:
    meeting = await db.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .options(
            selectinload(Meeting.sites).joinedload(MeetingSite.site),
            selectinload(Meeting.invitees).joinedload(MeetingInvitee.site),
        )
    )
    if meeting is None:
        raise NotFound(N_("There is no meeting number %(id)s."), {"id": meeting_id})
    return meeting


async def attendance_of(db: AsyncSession, meeting_id: int) -> list[Attendance]:
    return list(
        await db.scalars(
            select(Attendance)
            .where(Attendance.meeting_id == meeting_id)
            .order_by(Attendance.joined_at, Attendance.id)
        )
    )


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class MeetingFilter:
    status: MeetingStatus | None = None
    start: datetime | None = None
    end: datetime | None = None
    site_id: int | None = None


def _conditions(flt: MeetingFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if flt.status is not None:
        out.append(Meeting.status == flt.status)
    if flt.start is not None:
        out.append(Meeting.planned_end > flt.start)
    if flt.end is not None:
        out.append(Meeting.planned_start < flt.end)
    if flt.site_id is not None:
        out.append(
            Meeting.id.in_(select(MeetingSite.meeting_id).where(MeetingSite.site_id == flt.site_id))
        )
    return out


async def list_meetings(
    db: AsyncSession,
    flt: MeetingFilter,
    *,
    visible: ColumnElement[bool],
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = False,
) -> tuple[list[Meeting], int]:
    """The meetings matching ``flt`` among those ``visible`` (``Principal.meeting_clause``)."""
    where = [visible, *_conditions(flt)]
    total = await db.scalar(select(func.count()).select_from(Meeting).where(*where))
    order = Meeting.planned_start.desc() if newest_first else Meeting.planned_start
    rows = await db.scalars(
        select(Meeting).where(*where).order_by(order).limit(limit).offset(offset)
    )
    return list(rows.unique()), int(total or 0)


async def cancel_meeting(
    db: AsyncSession, meeting: Meeting, reason: str, *, at: datetime, actor_id: int | None
) -> None:
    previous = meeting.status
    lifecycle.transition(meeting, MeetingStatus.CANCELLED, at, reason=reason)
    await audit.record(
        db,
        at,
        actor_id,
        "meeting.cancel",
        "meeting",
        meeting.id,
        {"from": previous.value, "reason": meeting.cancel_reason},
    )


async def link_case(
    db: AsyncSession, meeting: Meeting, case_id: int, *, at: datetime, actor_id: int | None
) -> None:
    """Tie a meeting (an urgent one, say) to its case after the fact."""
    case = await db.get(Case, case_id)
    if case is None:
        raise NotFound(N_("There is no case number %(id)s."), {"id": case_id})
    meeting.case_id = case.id
    await audit.record(
        db, at, actor_id, "meeting.link_case", "meeting", meeting.id, {"case": case.reference}
    )
