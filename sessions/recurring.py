"""Recurring reception days (tiếp công dân định kỳ): defining them; ``sessions.timetable``
creates their meetings ahead of time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.booking import Checked, check_endpoints, check_person
from sessions.enums import RecordingPolicy, Recurrence, Role
from sessions.errors import N_, InvalidInput
from sessions.ids import whole_number
from sessions.models import DutyRosterEntry, ReceptionSchedule, User


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


async def set_roster(
    db: AsyncSession, ranks: dict[int, int | None], *, at: datetime, actor_id: int | None
) -> None:
    """Replace the duty roster: leader id → rank (1 is alerted first), None to leave it out."""
    for user_id, rank in ranks.items():
        user = await db.get(User, user_id)
        if user is None or Role.CHAIR not in user.roles:
            raise InvalidInput({"roster": N_("Only leaders can be on the duty roster.")})
        if rank is not None and not 1 <= rank <= 20:
            raise InvalidInput({"roster": N_("A rank is a number from 1 to 20.")})
    for entry in list(await db.scalars(select(DutyRosterEntry))):
        await db.delete(entry)
    await db.flush()
    for user_id, rank in ranks.items():
        if rank is not None:
            db.add(DutyRosterEntry(user_id=user_id, rank=rank))
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "duty.roster",
        "roster",
        "duty",
        {str(k): v for k, v in ranks.items() if v is not None},
    )
