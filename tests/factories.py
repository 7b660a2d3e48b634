"""Small builders for test data."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import sites
from sessions.enums import (
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingSiteRole,
    MeetingStatus,
    RecordingPolicy,
)
from sessions.models import Meeting, MeetingSite, Site
from sessions.tokens import JoinClaims, RoomRole, sign
from tests.conftest import START


async def site_ids(db: AsyncSession, *codes: str) -> list[int]:
    await sites.seed_sites(db, START)
    await db.flush()
    rows = {s.code: s.id for s in await db.scalars(select(Site).where(Site.code.in_(codes)))}
    return [rows[c] for c in codes]


async def make_meeting(
    db: AsyncSession,
    *,
    status: MeetingStatus = MeetingStatus.OPEN,
    waiting_room: bool = False,
    quality: str = "standard",
    recording: RecordingPolicy = RecordingPolicy.NEVER,
    reference: str = "PH-TEST-1",
    start: datetime = START,
) -> Meeting:
    host, commune = await site_ids(db, sites.PROVINCIAL_OFFICE_CODE, "05977")
    meeting = Meeting(
        reference=reference,
        title="Đối thoại thử nghiệm",
        kind=MeetingKind.AD_HOC,
        purpose=MeetingPurpose.DIALOGUE,
        mode=MeetingMode.ONLINE,
        planned_start=start,
        planned_end=start + timedelta(hours=2),
        status=status,
        waiting_room=waiting_room,
        recording_policy=recording,
        quality_profile=quality,
        created_at=START,
        sites=[
            MeetingSite(site_id=host, role=MeetingSiteRole.HOST),
            MeetingSite(site_id=commune, role=MeetingSiteRole.PARTICIPANT),
        ],
    )
    db.add(meeting)
    await db.commit()
    return meeting


def token(
    key: bytes,
    meeting_id: int,
    subject: str,
    name: str,
    role: RoomRole,
    *,
    expires: int | None = None,
    site_id: int | None = None,
) -> str:
    return sign(
        JoinClaims(
            meeting_id=meeting_id,
            subject=subject,
            name=name,
            role=role,
            expires=expires
            if expires is not None
            else int(START.timestamp()) + 3600 * 24 * 365 * 10,
            site_id=site_id,
            role_label=role.value,
        ),
        key,
    )
