"""Recurring reception days (tiếp công dân định kỳ): defining and stopping them, and creating
their meetings ahead of time (idempotent: a meeting has a unique (schedule, date), so two runs
or two nodes create each day once)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil import rrule
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, meetings, notifications
from sessions.booking import Checked, check_endpoints, check_person, clashes
from sessions.enums import (
    MeetingKind,
    MeetingPurpose,
    MeetingStatus,
    NotificationKind,
    RecordingPolicy,
    Recurrence,
    Role,
)
from sessions.errors import N_, InvalidInput, NotFound
from sessions.ids import whole_number
from sessions.models import Meeting, ReceptionSchedule, UserRole
from sessions.timing import Timing

LEGAL_BASIS = "Luật Tiếp công dân 2013, Điều 12 và 18 (tiếp công dân định kỳ)"
CLASH_REASON = N_("Clashes with another meeting booked first")


@dataclass(frozen=True)
class ScheduleDraft:
    title: str
    recurrence: str
    weekday: str
    day_of_month: str
    start_time: str
    duration_minutes: str
    chair_id: str
    host_site_id: str
    participant_site_ids: Sequence[str] = ()
    waiting_room: bool = True
    recording_policy: str = "always"


async def create_schedule(
    db: AsyncSession, draft: ScheduleDraft, *, at: datetime, actor_id: int | None
) -> ReceptionSchedule:
    checked = Checked()
    if not draft.title.strip():
        checked.fail("title", N_("Enter a title for the reception day."))
    try:
        recurrence = Recurrence(draft.recurrence)
    except ValueError:
        checked.fail("recurrence", N_("Choose weekly or monthly."))
        recurrence = Recurrence.WEEKLY
    weekday = day = None
    if recurrence is Recurrence.WEEKLY:
        weekday = whole_number(draft.weekday)
        if weekday is None or not 0 <= weekday <= 6:
            weekday = None
            checked.fail("weekday", N_("Choose the day of the week."))
    elif (day := whole_number(draft.day_of_month)) is None or not 1 <= day <= 31:
        day = None
        checked.fail("day_of_month", N_("The day of the month is a number from 1 to 31."))
    try:
        start = time.fromisoformat(draft.start_time.strip())
    except ValueError:
        checked.fail("start_time", N_("Enter the time as HH:MM."))
        start = time(8)
    duration = whole_number(draft.duration_minutes) or 0
    if not 30 <= duration <= 600:
        checked.fail("duration_minutes", N_("A reception day lasts from 30 to 600 minutes."))
    chair = await check_person(db, draft.chair_id, Role.CHAIR, "chair_id", checked)
    if chair is None:
        checked.fail("chair_id", N_("Choose a person from the list."))
    host_id, others, _ = await check_endpoints(
        db, draft.host_site_id, draft.participant_site_ids, checked
    )
    try:
        policy = RecordingPolicy(draft.recording_policy)
    except ValueError:
        checked.fail("recording_policy", N_("Choose a recording policy."))
        policy = RecordingPolicy.ALWAYS
    if checked.errors:
        raise InvalidInput(checked.errors, checked.params)
    assert chair is not None
    assert host_id is not None
    schedule = ReceptionSchedule(
        title=draft.title.strip(),
        recurrence=recurrence,
        weekday=weekday,
        day_of_month=day,
        start_local=start.strftime("%H:%M"),
        duration_minutes=duration,
        chair_id=chair.id,
        host_site_id=host_id,
        participant_site_ids=others,
        waiting_room=draft.waiting_room,
        recording_policy=policy,
        created_at=at,
    )
    db.add(schedule)
    await db.flush()
    await audit.record(db, at, actor_id, "schedule.create", "schedule", schedule.id)
    return schedule


async def stop_schedule(
    db: AsyncSession, schedule_id: int, *, at: datetime, actor_id: int | None
) -> ReceptionSchedule:
    """No more meetings are created for this reception day (those created stay)."""
    schedule = await db.get(ReceptionSchedule, schedule_id)
    if schedule is None:
        raise NotFound(N_("There is no such reception day."))
    if schedule.active:
        schedule.active = False
        await audit.record(db, at, actor_id, "schedule.stop", "schedule", schedule.id)
    return schedule


def occurrences(schedule: ReceptionSchedule, first: date, last: date) -> Iterator[date]:
    """The days of a reception schedule from ``first`` to ``last``. Monthly on the 29th–31st
    falls on a shorter month's last day (the earlier of "that day" and "the last day")."""
    start = datetime.combine(first, time())
    until = datetime.combine(last, time())
    if schedule.recurrence is Recurrence.WEEKLY:
        rule = rrule.rrule(rrule.WEEKLY, byweekday=schedule.weekday, dtstart=start, until=until)
    elif schedule.day_of_month is not None:
        rule = rrule.rrule(
            rrule.MONTHLY,
            bymonthday=(schedule.day_of_month, -1),
            bysetpos=1,
            dtstart=start,
            until=until,
        )
    else:
        return
    for moment in rule:
        yield moment.date()


async def materialize(db: AsyncSession, now: datetime, timing: Timing) -> list[int]:
    """Create the meetings of every recurring reception day up to the horizon; a day that
    clashes with a meeting booked first is created cancelled and the officers are told."""
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
                    Meeting.schedule_id == schedule.id,
                    Meeting.occurrence == day,
                )
            )
            if known is not None:
                continue
            site_ids = [schedule.host_site_id, *schedule.participant_site_ids]
            clash = await clashes(db, start, end, site_ids, schedule.chair_id)
            meeting = meetings.build(
                title=schedule.title,
                purpose=MeetingPurpose.RECEPTION,
                kind=MeetingKind.SCHEDULED,
                start=start,
                end=end,
                host_site_id=schedule.host_site_id,
                participant_site_ids=schedule.participant_site_ids,
                created_at=now,
                chair_id=schedule.chair_id,
                status=MeetingStatus.CANCELLED if clash else MeetingStatus.SCHEDULED,
                legal_basis=LEGAL_BASIS,
                waiting_room=schedule.waiting_room,
                recording_policy=schedule.recording_policy,
                schedule_id=schedule.id,
                occurrence=day,
            )
            if clash:
                meeting.cancelled_at = now
                meeting.cancel_reason = CLASH_REASON
            try:
                async with db.begin_nested():
                    await meetings.add(db, meeting, timing.zone)
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
                await _tell_officers(db, now, schedule, day, clash[0][1].title, meeting.id)
            else:
                created.append(meeting.id)
    return created


async def _tell_officers(
    db: AsyncSession,
    now: datetime,
    schedule: ReceptionSchedule,
    day: date,
    other: str,
    meeting_id: int,
) -> None:
    officers = await db.scalars(
        select(UserRole.user_id).where(UserRole.role.in_([Role.OFFICER, Role.ADMIN]))
    )
    for user_id in set(officers):
        await notifications.notify(
            db,
            key=f"schedule-clash:{schedule.id}:{day}:user:{user_id}",
            kind=NotificationKind.TASK,
            message=N_(
                "The reception day “%(title)s” on %(day)s clashes with “%(other)s”: it was "
                "marked cancelled and needs rearranging."
            ),
            params={"title": schedule.title, "day": f"{day:%d/%m/%Y}", "other": other},
            at=now,
            user_id=user_id,
            meeting_id=meeting_id,
        )


async def list_schedules(db: AsyncSession) -> list[ReceptionSchedule]:
    """Every reception schedule, running ones first."""
    return list(
        await db.scalars(
            select(ReceptionSchedule).order_by(
                ReceptionSchedule.active.desc(), ReceptionSchedule.id
            )
        )
    )
