"""The urgent link: a crowd from the province arrives at the central reception office in Hanoi.

The liaison presses one button; an ad-hoc meeting opens at once with the central office, the
provincial office and the crowd's commune; the leaders on duty are alerted until one accepts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, lifecycle, sites
from sessions.enums import (
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingSiteRole,
    MeetingStatus,
    NotificationKind,
    RecordingPolicy,
    SiteKind,
    UrgentStatus,
)
from sessions.errors import N_, InvalidInput, NotFound, TransitionRefused
from sessions.ids import parse_id
from sessions.models import DutyRosterEntry, Meeting, MeetingSite, Notification, Site, UrgentCall
from sessions.timetable import Timing, alert_rank

REASON = "Đoàn đông người tại Trụ sở Tiếp công dân Trung ương"
URGENT_HOURS = 3


async def raise_urgent(
    db: AsyncSession,
    *,
    commune_site_id: str,
    head_count: str,
    liaison_id: int | None,
    now: datetime,
    timing: Timing,
) -> UrgentCall:
    errors: dict[str, str] = {}
    commune_id = parse_id(commune_site_id)
    commune = await db.get(Site, commune_id) if commune_id else None
    if commune is None or commune.kind not in (SiteKind.COMMUNE, SiteKind.WARD):
        errors["commune_site_id"] = N_("Choose the commune the citizens come from.")
    try:
        count = int(head_count)
        if not 1 <= count <= 10000:
            raise ValueError
    except ValueError:
        errors["head_count"] = N_("The number of people must be a whole number from 1.")
        count = 0
    if errors:
        raise InvalidInput(errors)
    assert commune is not None
    province = await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)
    central = await sites.by_code(db, sites.CENTRAL_OFFICE_CODE)
    if province is None or central is None:
        raise NotFound(N_("The reception offices are not set up; run the first start."))
    local = now.astimezone(timing.zone)
    meeting = Meeting(
        reference="",
        title=f"Tiếp đoàn đông người từ {commune.name} ({count} người)",
        kind=MeetingKind.AD_HOC,
        purpose=MeetingPurpose.CROWD,
        ad_hoc_reason=f"{REASON}: {count} người từ {commune.name}, lúc {local:%H:%M %d/%m/%Y}.",
        mode=MeetingMode.ONLINE,
        planned_start=now,
        planned_end=now + timedelta(hours=URGENT_HOURS),
        status=MeetingStatus.SCHEDULED,
        legal_basis="Luật Tiếp công dân 2013, Điều 27–30 (tiếp nhiều người cùng nội dung)",
        waiting_room=False,  # everyone joins at once
        recording_policy=RecordingPolicy.ALWAYS,
        created_at=now,
        created_by_id=liaison_id,
        sites=[
            MeetingSite(site_id=province.id, role=MeetingSiteRole.HOST),
            MeetingSite(site_id=central.id, role=MeetingSiteRole.PARTICIPANT),
            MeetingSite(site_id=commune.id, role=MeetingSiteRole.PARTICIPANT),
        ],
    )
    db.add(meeting)
    await db.flush()
    meeting.reference = f"DX-{local:%Y%m%d}-{meeting.id:04d}"
    lifecycle.transition(meeting, MeetingStatus.OPEN, now)  # opens at once
    call = UrgentCall(
        meeting_id=meeting.id,
        commune_site_id=commune.id,
        head_count=count,
        raised_by_id=liaison_id,
        raised_at=now,
        status=UrgentStatus.ALERTING,
        alerted_rank=1,
        next_escalation_at=now + timing.escalation,
    )
    db.add(call)
    await db.flush()
    await db.refresh(call)
    await audit.record(
        db,
        now,
        liaison_id,
        "urgent.raise",
        "meeting",
        meeting.id,
        {"commune": commune.code, "people": count},
    )
    await alert_rank(db, call, 1, now)
    return call


async def accept(db: AsyncSession, call_id: int, leader_id: int, now: datetime) -> UrgentCall:
    """The first leader to accept takes the chair; the alerts stop for everyone."""
    on_roster = await db.scalar(
        select(DutyRosterEntry.id).where(DutyRosterEntry.user_id == leader_id)
    )
    if on_roster is None:
        raise TransitionRefused(N_("Only a leader on the duty roster can take an urgent call."))
    changed = await db.execute(
        update(UrgentCall)
        .where(UrgentCall.id == call_id, UrgentCall.status == UrgentStatus.ALERTING)
        .values(status=UrgentStatus.ACCEPTED, accepted_by_id=leader_id, accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    call = await db.get(UrgentCall, call_id)
    if call is None:
        raise NotFound(N_("There is no such urgent call."))
    await db.refresh(call)
    if not changed.rowcount:  # type: ignore[attr-defined]
        if call.accepted_by_id == leader_id:
            return call  # pressed twice
        raise TransitionRefused(N_("Another leader has already taken this call."))
    await db.execute(
        update(Meeting).where(Meeting.id == call.meeting_id).values(chair_id=leader_id)
    )
    await db.execute(
        update(Notification)
        .where(
            Notification.meeting_id == call.meeting_id,
            Notification.kind == NotificationKind.URGENT,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )
    await audit.record(db, now, leader_id, "urgent.accept", "meeting", call.meeting_id)
    return call


async def alerting_for(db: AsyncSession, user_id: int) -> list[UrgentCall]:
    """Urgent calls this leader is being alerted about now."""
    rank = await db.scalar(select(DutyRosterEntry.rank).where(DutyRosterEntry.user_id == user_id))
    if rank is None:
        return []
    return list(
        await db.scalars(
            select(UrgentCall)
            .where(UrgentCall.status == UrgentStatus.ALERTING, UrgentCall.alerted_rank >= rank)
            .order_by(UrgentCall.raised_at)
        )
    )


async def unlinked(db: AsyncSession) -> list[Meeting]:
    """Urgent meetings not yet tied to a case: tasks until they are."""
    return list(
        await db.scalars(
            select(Meeting)
            .where(
                Meeting.purpose == MeetingPurpose.CROWD,
                Meeting.case_id.is_(None),
                Meeting.status != MeetingStatus.CANCELLED,
            )
            .order_by(Meeting.planned_start.desc())
        )
    )
