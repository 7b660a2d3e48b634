"""What the scheduler does, as idempotent, guarded state changes on the database.

Every function here may run twice, late, or on two nodes at once: a transition is one
``UPDATE … WHERE status IN (…)`` (``sessions.lifecycle``), a notice has a unique key, a recurring
meeting has a unique (schedule, date). So a restart, a missed timer or a race can neither skip
nor double anything.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import audit, lifecycle, notifications
from sessions.booking import clashes
from sessions.enums import (
    AttendanceOutcome,
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingSiteRole,
    MeetingStatus,
    NotificationKind,
    Recurrence,
    Role,
    UrgentStatus,
)
from sessions.models import (
    Attendance,
    DutyRosterEntry,
    Meeting,
    MeetingSite,
    ReceptionSchedule,
    UrgentCall,
    User,
    UserRole,
)

S = MeetingStatus


@dataclass(frozen=True)
class Timing:
    lead: timedelta  # rooms open this long before the start
    grace: timedelta  # empty rooms end this long after the end
    reminders: tuple[timedelta, ...]
    escalation: timedelta
    horizon_days: int
    zone: ZoneInfo


# ---- opening -----------------------------------------------------------------------------


async def open_meeting(db: AsyncSession, meeting_id: int, now: datetime, timing: Timing) -> bool:
    """Open one meeting's room if it is due and not yet open (or cancelled, or over)."""
    meeting = await db.get(Meeting, meeting_id)
    if meeting is None or meeting.status is not S.SCHEDULED:
        return False
    if not (meeting.planned_start - timing.lead <= now < meeting.planned_end):
        return False
    if not await lifecycle.guarded_update(db, meeting_id, S.OPEN, now):
        return False
    await audit.record(db, now, None, "meeting.open", "meeting", meeting_id, {"by": "scheduler"})
    await _announce_open(db, meeting_id, now)
    return True


async def open_due(db: AsyncSession, now: datetime, timing: Timing) -> list[int]:
    """Open every meeting whose opening time passed while its window is still open (after a
    restart or a missed timer too)."""
    due = await db.scalars(
        select(Meeting.id).where(
            Meeting.status == S.SCHEDULED,
            Meeting.planned_start <= now + timing.lead,
            Meeting.planned_end > now,
        )
    )
    return [mid for mid in list(due) if await open_meeting(db, mid, now, timing)]


async def _announce_open(db: AsyncSession, meeting_id: int, now: datetime) -> None:
    meeting = await db.get(Meeting, meeting_id)
    assert meeting is not None
    text = f"Phòng họp đã mở: {meeting.title}"
    for user_id in {meeting.chair_id, meeting.secretary_id} - {None}:
        await notifications.notify(
            db,
            key=f"open:{meeting_id}:user:{user_id}",
            kind=NotificationKind.MEETING_OPEN,
            text=text,
            at=now,
            user_id=user_id,
            meeting_id=meeting_id,
        )


# ---- ending ------------------------------------------------------------------------------


async def end_meeting(db: AsyncSession, meeting_id: int, now: datetime) -> bool:
    """End an open or live meeting and mark the endpoints that never came as absent."""
    if not await lifecycle.guarded_update(db, meeting_id, S.ENDED, now):
        return False
    await audit.record(db, now, None, "meeting.end", "meeting", meeting_id, {"by": "scheduler"})
    await mark_absent(db, meeting_id, now)
    return True


async def end_due(
    db: AsyncSession, now: datetime, timing: Timing, occupancy: Callable[[int], int]
) -> list[int]:
    """End rooms whose planned end plus grace has passed, once nobody is left in them."""
    due = await db.scalars(
        select(Meeting.id).where(
            Meeting.status.in_([S.OPEN, S.LIVE]),
            Meeting.planned_end <= now - timing.grace,
        )
    )
    ended = []
    for meeting_id in list(due):
        if occupancy(meeting_id) == 0 and await end_meeting(db, meeting_id, now):
            ended.append(meeting_id)
    return ended


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
                role_label="Điểm cầu chính" if ms.role is MeetingSiteRole.HOST else "Điểm cầu",
                outcome=AttendanceOutcome.ABSENT,
            )
        )
        added += 1
    await db.flush()
    if added:
        await audit.record(db, now, None, "meeting.absent", "meeting", meeting_id, {"sites": added})
    return added


# ---- reminders -------------------------------------------------------------------------------


def _ahead(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 60 * 24 and minutes % (60 * 24) == 0:
        return f"{minutes // (60 * 24)} ngày"
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60} giờ"
    return f"{minutes} phút"


async def send_reminders(db: AsyncSession, now: datetime, timing: Timing) -> int:
    """Remind chair, secretary, site operators and kiosks of meetings about to start."""
    sent = 0
    for offset in timing.reminders:
        upcoming = await db.scalars(
            select(Meeting)
            .where(
                Meeting.status == S.SCHEDULED,
                Meeting.planned_start > now,
                Meeting.planned_start <= now + offset,
            )
            .options(selectinload(Meeting.sites))
        )
        for meeting in list(upcoming.unique()):
            local = meeting.planned_start.astimezone(timing.zone)
            text = (
                f"Nhắc lịch (trước {_ahead(offset)}): {meeting.title}, "
                f"bắt đầu {local:%H:%M} ngày {local:%d/%m/%Y}"
            )
            tag = f"remind:{meeting.id}:{int(offset.total_seconds())}"
            site_ids = [ms.site_id for ms in meeting.sites]
            operators = await db.scalars(
                select(User.id)
                .join(UserRole, UserRole.user_id == User.id)
                .where(User.site_id.in_(site_ids), UserRole.role == Role.SITE_OPERATOR)
            )
            for user_id in {meeting.chair_id, meeting.secretary_id, *operators} - {None}:
                sent += await notifications.notify(
                    db,
                    key=f"{tag}:user:{user_id}",
                    kind=NotificationKind.REMINDER,
                    text=text,
                    at=now,
                    user_id=user_id,
                    meeting_id=meeting.id,
                )
            for site_id in site_ids:
                sent += await notifications.notify(
                    db,
                    key=f"{tag}:site:{site_id}",
                    kind=NotificationKind.REMINDER,
                    text=text,
                    at=now,
                    site_id=site_id,
                    meeting_id=meeting.id,
                )
    return sent


# ---- recurring reception days ------------------------------------------------------------------


def occurrences(schedule: ReceptionSchedule, first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        if schedule.recurrence is Recurrence.WEEKLY and day.weekday() == schedule.weekday:
            yield day
        elif schedule.recurrence is Recurrence.MONTHLY and schedule.day_of_month is not None:
            # The 31st in a 30-day month falls on the month's last day.
            wanted = min(schedule.day_of_month, calendar.monthrange(day.year, day.month)[1])
            if day.day == wanted:
                yield day
        day += timedelta(days=1)


async def materialize(db: AsyncSession, now: datetime, timing: Timing) -> list[int]:
    """Create the meetings of every recurring reception day up to the horizon."""
    created = []
    today = now.astimezone(timing.zone).date()
    last = today + timedelta(days=timing.horizon_days)
    schedules = await db.scalars(
        select(ReceptionSchedule).where(ReceptionSchedule.active.is_(True))
    )
    for schedule in list(schedules):
        hour, minute = (int(x) for x in schedule.start_local.split(":"))
        for day in occurrences(schedule, today, last):
            start = datetime.combine(day, time(hour, minute), tzinfo=timing.zone)
            end = start + timedelta(minutes=schedule.duration_minutes)
            if end <= now:
                continue
            known = await db.scalar(
                select(Meeting.id).where(
                    Meeting.schedule_id == schedule.id, Meeting.occurrence == day
                )
            )
            if known is not None:
                continue
            site_ids = [schedule.host_site_id, *schedule.participant_site_ids]
            clash = await clashes(db, start, end, site_ids, schedule.chair_id)
            meeting = Meeting(
                reference=f"PH-{day:%Y%m%d}-L{schedule.id}",
                title=schedule.title,
                kind=MeetingKind.SCHEDULED,
                purpose=MeetingPurpose.RECEPTION,
                mode=MeetingMode.ONLINE,
                chair_id=schedule.chair_id,
                planned_start=start,
                planned_end=end,
                status=S.SCHEDULED if not clash else S.CANCELLED,
                cancelled_at=now if clash else None,
                cancel_reason=(f"Trùng lịch với “{clash[0][1].title}”" if clash else None),
                legal_basis="Luật Tiếp công dân 2013, Điều 12 và 18 (tiếp công dân định kỳ)",
                waiting_room=schedule.waiting_room,
                recording_policy=schedule.recording_policy,
                created_at=now,
                schedule_id=schedule.id,
                occurrence=day,
                sites=[MeetingSite(site_id=schedule.host_site_id, role=MeetingSiteRole.HOST)]
                + [
                    MeetingSite(site_id=s, role=MeetingSiteRole.PARTICIPANT)
                    for s in schedule.participant_site_ids
                    if s != schedule.host_site_id
                ],
            )
            try:
                async with db.begin_nested():
                    db.add(meeting)
                    await db.flush()
            except IntegrityError:
                continue  # another node created this occurrence first
            await audit.record(
                db,
                now,
                None,
                "schedule.materialize",
                "meeting",
                meeting.id,
                {"schedule": schedule.id, "date": day.isoformat(), "clash": bool(clash)},
            )
            if clash:
                await _tell_officers(
                    db,
                    now,
                    f"schedule-clash:{schedule.id}:{day}",
                    f"Lịch tiếp định kỳ “{schedule.title}” ngày {day:%d/%m/%Y} trùng với "
                    f"“{clash[0][1].title}”: phiên định kỳ đã được đánh dấu hủy, cần xếp lại.",
                    meeting.id,
                )
            else:
                created.append(meeting.id)
    return created


async def _tell_officers(
    db: AsyncSession, now: datetime, key: str, text: str, meeting_id: int | None
) -> None:
    officers = await db.scalars(
        select(UserRole.user_id).where(UserRole.role.in_([Role.OFFICER, Role.ADMIN]))
    )
    for user_id in set(officers):
        await notifications.notify(
            db,
            key=f"{key}:user:{user_id}",
            kind=NotificationKind.TASK,
            text=text,
            at=now,
            user_id=user_id,
            meeting_id=meeting_id,
        )


# ---- urgent links ----------------------------------------------------------------------------


async def alert_rank(db: AsyncSession, call: UrgentCall, rank: int, now: datetime) -> int:
    """Alert the leaders of one rank of the duty roster about an urgent call."""
    leaders = await db.scalars(select(DutyRosterEntry.user_id).where(DutyRosterEntry.rank == rank))
    text = (
        f"KHẨN: Đoàn đông người ({call.head_count} người) từ {call.commune.name} "
        "tại Trụ sở Tiếp công dân Trung ương — cần lãnh đạo tiếp nhận ngay."
    )
    count = 0
    for user_id in list(leaders):
        count += await notifications.notify(
            db,
            key=f"urgent:{call.id}:user:{user_id}",
            kind=NotificationKind.URGENT,
            text=text,
            at=now,
            user_id=user_id,
            meeting_id=call.meeting_id,
        )
    return count


async def escalate_urgent(db: AsyncSession, now: datetime, timing: Timing) -> list[int]:
    """Unanswered urgent calls go to the next rank of the duty roster."""
    last_rank = await db.scalar(select(func.max(DutyRosterEntry.rank))) or 0
    escalated = []
    due = await db.scalars(
        select(UrgentCall).where(
            UrgentCall.status == UrgentStatus.ALERTING,
            UrgentCall.next_escalation_at <= now,
            UrgentCall.alerted_rank < last_rank,
        )
    )
    for call in list(due):
        rank = call.alerted_rank
        changed = await db.execute(
            update(UrgentCall)
            .where(
                UrgentCall.id == call.id,
                UrgentCall.alerted_rank == rank,
                UrgentCall.status == UrgentStatus.ALERTING,
            )
            .values(alerted_rank=rank + 1, next_escalation_at=now + timing.escalation)
            .execution_options(synchronize_session=False)
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            continue
        await db.refresh(call)
        await alert_rank(db, call, rank + 1, now)
        await audit.record(
            db, now, None, "urgent.escalate", "meeting", call.meeting_id, {"rank": rank + 1}
        )
        escalated.append(call.id)
    return escalated
