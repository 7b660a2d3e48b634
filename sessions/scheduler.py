"""The scheduler: APScheduler 3 timers over a database that stays the source of truth.

At start-up every timer is rebuilt from the meetings table, then one sweep runs, so whatever fell
due while the server was down happens now (a room whose window is still open is opened; reminders
are sent; an empty overdue room is ended). While running, date jobs fire at the exact moments and
a sweep every ``SWEEP_SECONDS`` catches anything a timer missed. Each job is a guarded change
owned by its feature (``lifecycle`` opens and ends rooms, ``reminders``, ``recurring`` creates
reception days, ``urgent`` escalates and closes urgent calls): firing twice, or on two nodes at
once, changes nothing the second time. Each step of a sweep has its own transaction, so one that
fails leaves the others done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sessions import deadlines, lifecycle, recurring, reminders, urgent
from sessions.clock import Clock
from sessions.enums import MeetingStatus
from sessions.models import Meeting, UrgentCall
from sessions.notifications import Mailer, Render, untranslated
from sessions.settings import Settings
from sessions.timing import Timing

log = logging.getLogger(__name__)
SWEEP_SECONDS = 30
S = MeetingStatus


class MeetingScheduler:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        *,
        occupancy: Callable[[int], int] = lambda meeting_id: 0,
        on_ended: Callable[[int], Awaitable[None]] | None = None,
        render: Render = untranslated,
    ) -> None:
        self._db = db
        self.clock = clock
        self.timing = Timing.of(settings)
        self.settings = settings
        self._deadlines_on: date | None = None
        self.mailer = Mailer(settings, render)
        self._occupancy = occupancy
        self._on_ended = on_ended
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    # ---- life ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.scheduler.start()
        await self.rebuild()
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=SWEEP_SECONDS,
            id="sweep",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    # ---- timers ------------------------------------------------------------------------------

    async def rebuild(self) -> None:
        """Drop every meeting timer and create them again from the database, then sweep."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("meeting:"):
                job.remove()
        async with self._db() as db:
            meetings = list(
                await db.scalars(
                    select(Meeting).where(Meeting.status.in_([S.SCHEDULED, S.OPEN, S.LIVE]))
                )
            )
        for meeting in meetings:
            self.plan(meeting)
        await self.sweep()

    def plan(self, meeting: Meeting) -> None:
        """(Re)create the timers of one meeting: open, reminders, end check."""
        now = self.clock.now()
        prefix = f"meeting:{meeting.id}:"
        for job in self.scheduler.get_jobs():
            if job.id.startswith(prefix):
                job.remove()
        if meeting.status not in (S.SCHEDULED, S.OPEN, S.LIVE):
            return
        moments: list[tuple[str, datetime, Callable[..., Awaitable[None]]]] = []
        if meeting.status is S.SCHEDULED:
            moments.append(("open", meeting.planned_start - self.timing.lead, self._open))
            moments.extend(
                (
                    f"remind:{int(offset.total_seconds())}",
                    meeting.planned_start - offset,
                    self._remind,
                )
                for offset in self.timing.reminders
            )
        moments.append(("end", meeting.planned_end + self.timing.grace, self._end))
        for name, when, job in moments:
            if when > now:
                self.scheduler.add_job(
                    job,
                    "date",
                    run_date=when,
                    args=[meeting.id],
                    id=prefix + name,
                    replace_existing=True,
                    misfire_grace_time=None,
                )

    def planned(self, meeting_id: int) -> dict[str, datetime]:
        prefix = f"meeting:{meeting_id}:"
        return {
            job.id.removeprefix(prefix): job.next_run_time
            for job in self.scheduler.get_jobs()
            if job.id.startswith(prefix)
        }

    async def plan_by_id(self, meeting_id: int) -> None:
        async with self._db() as db:
            meeting = await db.get(Meeting, meeting_id)
        if meeting is not None:
            self.plan(meeting)

    # ---- jobs -------------------------------------------------------------------------------

    async def _open(self, meeting_id: int) -> None:
        async with self._db() as db, db.begin():
            await lifecycle.open_meeting(db, meeting_id, self.clock.now(), self.timing)

    async def _remind(self, meeting_id: int) -> None:
        async with self._db() as db, db.begin():
            await reminders.send_reminders(db, self.clock.now(), self.timing)

    async def _end(self, meeting_id: int) -> None:
        await self.sweep()

    async def sweep(self) -> dict[str, list[int] | int]:
        """Everything that is due now, in one pass; safe to run at any time, on any node.
        A step that fails is logged and retried by the next sweep; the others still run."""
        now = self.clock.now()
        t = self.timing
        steps: list[tuple[str, Callable[[AsyncSession], Awaitable[list[int] | int]]]] = [
            ("created", lambda db: recurring.materialize(db, now, t)),
            ("opened", lambda db: lifecycle.open_due(db, now, t)),
            ("reminded", lambda db: reminders.send_reminders(db, now, t)),
            ("ended", lambda db: lifecycle.end_due(db, now, t, self._occupancy)),
            ("escalated", lambda db: urgent.escalate_urgent(db, now, t)),
            ("closed_urgent", lambda db: urgent.close_unanswered(db, now, t)),
            ("deadlines", lambda db: self._deadlines(db, now)),
            ("emailed", lambda db: self.mailer.send_pending(db, now)),
        ]
        report: dict[str, list[int] | int] = {}
        for name, step in steps:
            try:
                async with self._db() as db, db.begin():
                    report[name] = await step(db)
            except Exception:
                log.exception("scheduler step %r failed; the next sweep will retry it", name)
                report[name] = []
        for meeting_id in _ids(report["created"]):
            await self.plan_by_id(meeting_id)
        ended = _ids(report["ended"]) + await self._meetings_of(_ids(report["closed_urgent"]))
        if self._on_ended is not None:
            for meeting_id in ended:
                await self._on_ended(meeting_id)
        return report

    async def _deadlines(self, db: AsyncSession, now: datetime) -> int:
        """Cases' deadlines once a local day (and at start-up)."""
        today = now.astimezone(self.timing.zone).date()
        if self._deadlines_on == today:
            return 0
        sent = await deadlines.sweep(db, today, self.settings, now)
        self._deadlines_on = today
        return sent

    async def _meetings_of(self, call_ids: list[int]) -> list[int]:
        if not call_ids:
            return []
        async with self._db() as db:
            return list(
                await db.scalars(select(UrgentCall.meeting_id).where(UrgentCall.id.in_(call_ids)))
            )


def _ids(value: list[int] | int) -> list[int]:
    return value if isinstance(value, list) else []
