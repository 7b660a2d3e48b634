"""The room's record in the database: attendance rows, lifecycle transitions, audit events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sessions import attendance, audit, lifecycle
from sessions.clock import Clock
from sessions.enums import AttendanceOutcome, MeetingStatus, RecordingStatus
from sessions.models import Recording
from signaling.participant import Participant

log = logging.getLogger(__name__)
P = ParamSpec("P")


def _recorded(
    method: Callable[Concatenate[DbJournal, P], Coroutine[Any, Any, None]],
) -> Callable[Concatenate[DbJournal, P], Coroutine[Any, Any, None]]:
    """A failed write to the record is logged, never allowed to break the live meeting."""

    async def safe(self: DbJournal, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await method(self, *args, **kwargs)
        except Exception:
            self.failures += 1
            log.exception("meeting %s: could not record %s", self.meeting_id, method.__name__)

    return safe


class DbJournal:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, meeting_id: int) -> None:
        self._db = db
        self._clock = clock
        self.meeting_id = meeting_id
        self.failures = 0

    @_recorded
    async def joined(self, participant: Participant) -> None:
        now = self._clock.now()
        async with self._db() as db, db.begin():
            participant.attendance_id = await attendance.record_join(
                db,
                meeting_id=self.meeting_id,
                subject=participant.claims.subject,
                site_id=participant.claims.site_id,
                display_name=participant.claims.name,
                role_label=participant.claims.role_label or participant.claims.role.value,
                at=now,
                recording_ack=participant.recording_ack,
            )
            await audit.record(
                db,
                now,
                None,
                "meeting.join",
                "meeting",
                self.meeting_id,
                {"participant": participant.id, "subject": participant.claims.subject},
            )

    @_recorded
    async def left(self, participant: Participant, outcome: AttendanceOutcome) -> None:
        if participant.attendance_id is None:
            return
        now = self._clock.now()
        async with self._db() as db, db.begin():
            await attendance.record_leave(db, participant.attendance_id, outcome, now)
            await audit.record(
                db,
                now,
                None,
                f"meeting.{outcome.value}",
                "meeting",
                self.meeting_id,
                {"participant": participant.id, "subject": participant.claims.subject},
            )

    @_recorded
    async def interrupted(self, participant: Participant) -> None:
        if participant.attendance_id is None:
            return
        now = self._clock.now()
        async with self._db() as db, db.begin():
            await attendance.record_interruption(db, participant.attendance_id)
            await audit.record(
                db,
                now,
                None,
                "meeting.interruption",
                "meeting",
                self.meeting_id,
                {"participant": participant.id, "subject": participant.claims.subject},
            )

    @_recorded
    async def resumed(self, participant: Participant) -> None:
        now = self._clock.now()
        async with self._db() as db, db.begin():
            await audit.record(
                db,
                now,
                None,
                "meeting.resume",
                "meeting",
                self.meeting_id,
                {"participant": participant.id, "subject": participant.claims.subject},
            )

    async def restore(self) -> attendance.LeftOver:
        """The room reopens on a live meeting: a previous server process stopped with people in
        it. Their presences stay open (they come back as who they were, admitted); the gap is
        recorded, from the last moment the record knew the meeting alive to now, and counted
        as an interruption of each presence."""
        nothing = attendance.LeftOver({}, frozenset(), None)
        now = self._clock.now()
        try:
            async with self._db() as db, db.begin():
                found = await attendance.left_over(db, self.meeting_id)
                last_packet = await db.scalar(
                    select(func.max(Recording.ended_at)).where(
                        Recording.meeting_id == self.meeting_id,
                        Recording.status == RecordingStatus.INTERRUPTED,
                    )
                )
                known = [t for t in (found.last_known, last_packet) if t is not None]
                for unfinished in found.unfinished.values():
                    await attendance.record_interruption(db, unfinished.attendance_id)
                await audit.record(
                    db,
                    now,
                    None,
                    "meeting.restart",
                    "meeting",
                    self.meeting_id,
                    {
                        "from": max(known).isoformat() if known else None,
                        "to": now.isoformat(),
                        "cause": "server_restart",
                        "subjects": sorted(found.unfinished),
                    },
                )
            return found
        except Exception:
            self.failures += 1
            log.exception("meeting %s: could not restore the room's record", self.meeting_id)
            return nothing

    @_recorded
    async def went_live(self) -> None:
        now = self._clock.now()
        async with self._db() as db, db.begin():
            if await lifecycle.guarded_update(db, self.meeting_id, MeetingStatus.LIVE, now):
                await audit.record(db, now, None, "meeting.live", "meeting", self.meeting_id)

    @_recorded
    async def ended(self, by: Participant | None) -> None:
        now = self._clock.now()
        async with self._db() as db, db.begin():
            if await lifecycle.guarded_update(db, self.meeting_id, MeetingStatus.ENDED, now):
                await audit.record(
                    db,
                    now,
                    None,
                    "meeting.end",
                    "meeting",
                    self.meeting_id,
                    {"by": by.claims.subject if by else "system"},
                )

    @_recorded
    async def chair_action(
        self, actor: Participant, action: str, target: Participant | None
    ) -> None:
        now = self._clock.now()
        async with self._db() as db, db.begin():
            await audit.record(
                db,
                now,
                None,
                f"meeting.chair.{action}",
                "meeting",
                self.meeting_id,
                {
                    "actor": actor.claims.subject,
                    "target": target.claims.subject if target else None,
                    "participant": target.id if target else None,
                },
            )
