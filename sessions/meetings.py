"""Meetings: the one builder every meeting is made with, look-up, and the state changes a
person asks for (the lifecycle itself is in ``sessions.lifecycle``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import audit, lifecycle
from sessions.enums import (
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingSiteRole,
    MeetingStatus,
    RecordingPolicy,
)
from sessions.errors import N_, NotFound
from sessions.models import Attendance, Case, Meeting, MeetingInvitee, MeetingSite, User


def build(
    *,
    title: str,
    purpose: MeetingPurpose,
    start: datetime,
    end: datetime,
    host_site_id: int,
    participant_site_ids: Iterable[int] = (),
    created_at: datetime,
    kind: MeetingKind = MeetingKind.REGULAR,
    mode: MeetingMode = MeetingMode.ONLINE,
    status: MeetingStatus = MeetingStatus.SCHEDULED,
    case_id: int | None = None,
    chair_id: int | None = None,
    secretary_id: int | None = None,
    created_by_id: int | None = None,
    legal_basis: str = "",
    ad_hoc_reason: str | None = None,
    waiting_room: bool = True,
    recording_policy: RecordingPolicy = RecordingPolicy.ALWAYS,
    quality_profile: str = "standard",
    invitees: Iterable[MeetingInvitee] = (),
    schedule_id: int | None = None,
    occurrence: date | None = None,
    officials: Mapping[int, str] | None = None,
) -> Meeting:
    """A new meeting (not yet added): the host endpoint first, each other endpoint once;
    ``officials`` names the official responsible at an endpoint. :func:`add` files it and
    gives it its reference."""
    others = list(dict.fromkeys(i for i in participant_site_ids if i != host_site_id))
    responsible = officials or {}
    return Meeting(
        reference=f"~{secrets.token_hex(8)}",  # until add() knows the number
        case_id=case_id,
        title=title,
        kind=kind,
        purpose=purpose,
        ad_hoc_reason=ad_hoc_reason,
        mode=mode,
        chair_id=chair_id,
        secretary_id=secretary_id,
        planned_start=start,
        planned_end=end,
        status=status,
        legal_basis=legal_basis,
        waiting_room=waiting_room,
        recording_policy=recording_policy,
        quality_profile=quality_profile,
        created_at=created_at,
        created_by_id=created_by_id,
        schedule_id=schedule_id,
        occurrence=occurrence,
        sites=[
            MeetingSite(
                site_id=site_id,
                role=MeetingSiteRole.HOST
                if site_id == host_site_id
                else MeetingSiteRole.PARTICIPANT,
                responsible_official=responsible.get(site_id),
            )
            for site_id in [host_site_id, *others]
        ],
        invitees=list(invitees),
    )


def reference_of(meeting: Meeting, zone: ZoneInfo) -> str:
    """The one reference format: PH (phiên) or DX (đoàn đông người, the urgent link), the
    local day of the planned start, the meeting number."""
    prefix = "DX" if meeting.purpose is MeetingPurpose.CROWD else "PH"
    return f"{prefix}-{meeting.planned_start.astimezone(zone):%Y%m%d}-{meeting.id:04d}"


async def add(db: AsyncSession, meeting: Meeting, zone: ZoneInfo) -> Meeting:
    """File a built meeting and give it its reference."""
    db.add(meeting)
    await db.flush()
    meeting.reference = reference_of(meeting, zone)
    await db.flush()
    return meeting


async def get_meeting(db: AsyncSession, meeting_id: int) -> Meeting:
    meeting = await db.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .options(
            selectinload(Meeting.sites).joinedload(MeetingSite.site),
            selectinload(Meeting.invitees).joinedload(MeetingInvitee.site),
        )
        .execution_options(populate_existing=True)
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
    chair_id: int | None = None
    statuses: tuple[MeetingStatus, ...] = ()


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
    if flt.chair_id is not None:
        out.append(Meeting.chair_id == flt.chair_id)
    if flt.statuses:
        out.append(Meeting.status.in_(list(flt.statuses)))
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


async def status_of(db: AsyncSession, meeting_id: int) -> MeetingStatus | None:
    return await db.scalar(select(Meeting.status).where(Meeting.id == meeting_id))


async def concerning(
    db: AsyncSession, user: User, *, since: datetime, visible: ColumnElement[bool]
) -> list[Meeting]:
    """The meetings of a person's calendar feed: those the person chairs, records or is
    invited to, and those of the person's endpoint, ending after ``since``."""
    mine = [
        Meeting.chair_id == user.id,
        Meeting.secretary_id == user.id,
        Meeting.id.in_(select(MeetingInvitee.meeting_id).where(MeetingInvitee.user_id == user.id)),
    ]
    if user.site_id is not None:
        mine.append(
            Meeting.id.in_(
                select(MeetingSite.meeting_id).where(MeetingSite.site_id == user.site_id)
            )
        )
    rows = await db.scalars(
        select(Meeting)
        .where(or_(*mine), visible, Meeting.planned_end > since)
        .order_by(Meeting.planned_start)
    )
    return list(rows.unique())


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
