"""Small builders for test data."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import meetings, sites
from sessions.enums import (
    MeetingKind,
    MeetingPurpose,
    MeetingStatus,
    RecordingPolicy,
)
from sessions.models import Meeting, Notification, Site
from sessions.tokens import JoinClaims, RoomRole, sign
from tests.conftest import START, ZONE
from web.i18n import load_translations, render_message


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
    title: str = "Đối thoại thử nghiệm",
    start: datetime = START,
) -> Meeting:
    host, commune = await site_ids(db, sites.PROVINCIAL_OFFICE_CODE, "05977")
    meeting = await meetings.add(
        db,
        meetings.build(
            title=title,
            kind=MeetingKind.AD_HOC,
            purpose=MeetingPurpose.DIALOGUE,
            start=start,
            end=start + timedelta(hours=2),
            status=status,
            waiting_room=waiting_room,
            recording_policy=recording,
            quality_profile=quality,
            created_at=START,
            host_site_id=host,
            participant_site_ids=[commune],
        ),
        ZONE,
    )
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


_VI = load_translations()["vi"]


def shown(notification: Notification) -> str:
    """A notice as a Vietnamese reader sees it."""
    return render_message(_VI, notification.message, notification.params)


@contextlib.contextmanager
def smtp_inbox() -> Iterator[tuple[int, list[Any]]]:
    """A real SMTP server on loopback (aiosmtpd): its port, and the envelopes it received."""
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()
