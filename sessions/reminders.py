"""Reminders before a meeting: to its chair, secretary and endpoint operators, and on the
kiosks of its endpoints. Each reminder has a key, so sending it twice sends it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import notifications
from sessions.enums import MeetingStatus, NotificationKind, Role
from sessions.errors import N_
from sessions.models import Meeting, User, UserRole
from sessions.timing import Timing

MESSAGE = N_("Reminder: %(title)s starts at %(start)s")


async def send_reminders(db: AsyncSession, now: datetime, timing: Timing) -> int:
    """Remind everyone concerned of the meetings starting within each reminder offset."""
    sent = 0
    for offset in timing.reminders:
        upcoming = await db.scalars(
            select(Meeting)
            .where(
                Meeting.status == MeetingStatus.SCHEDULED,
                Meeting.planned_start > now,
                Meeting.planned_start <= now + offset,
            )
            .options(selectinload(Meeting.sites))
        )
        for meeting in list(upcoming.unique()):
            params = {
                "title": meeting.title,
                "start": f"{meeting.planned_start.astimezone(timing.zone):%H:%M %d/%m/%Y}",
            }
            tag = f"remind:{meeting.id}:{int(offset.total_seconds())}"
            site_ids = [ms.site_id for ms in meeting.sites]
            operators = await db.scalars(
                select(User.id)
                .join(UserRole, UserRole.user_id == User.id)
                .where(User.site_id.in_(site_ids), UserRole.role == Role.SITE_OPERATOR)
            )
            recipients: list[tuple[str, dict[str, int]]] = [
                (f"user:{user_id}", {"user_id": user_id})
                for user_id in {meeting.chair_id, meeting.secretary_id, *operators} - {None}
                if user_id is not None
            ] + [(f"site:{site_id}", {"site_id": site_id}) for site_id in site_ids]
            for suffix, whom in recipients:
                sent += await notifications.notify(
                    db,
                    key=f"{tag}:{suffix}",
                    kind=NotificationKind.REMINDER,
                    message=MESSAGE,
                    params=params,
                    at=now,
                    meeting_id=meeting.id,
                    **whom,
                )
    return sent
