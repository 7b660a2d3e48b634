"""The meeting lifecycle, enforced here and nowhere else.

    scheduled ──► open ──► live ──► ended ──► minutes_finalised
        │           │ └──────────────►┘
        └──► cancelled ◄──┘

``open → ended`` covers a room that opened but in which nobody ever went live (every endpoint is
then marked absent). Every change of ``Meeting.status`` goes through :func:`transition` (in
memory) or :func:`guarded_update` (one ``UPDATE … WHERE status IN (…)``), so a scheduler firing
twice or two nodes racing cannot apply a transition twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import attendance, audit, changes, notifications
from sessions.enums import MeetingStatus, NotificationKind
from sessions.errors import N_, TransitionRefused
from sessions.models import Meeting
from sessions.timing import Timing

S = MeetingStatus

ALLOWED: dict[MeetingStatus, frozenset[MeetingStatus]] = {
    S.SCHEDULED: frozenset({S.OPEN, S.CANCELLED}),
    S.OPEN: frozenset({S.LIVE, S.ENDED, S.CANCELLED}),
    S.LIVE: frozenset({S.ENDED}),
    S.ENDED: frozenset({S.MINUTES_FINALISED}),
    S.MINUTES_FINALISED: frozenset(),
    S.CANCELLED: frozenset(),
}

# Which timestamp column records arrival in each state.
_STAMP = {
    S.OPEN: "opened_at",
    S.LIVE: "started_at",
    S.ENDED: "ended_at",
    S.CANCELLED: "cancelled_at",
}


def sources_of(target: MeetingStatus) -> frozenset[MeetingStatus]:
    return frozenset(src for src, targets in ALLOWED.items() if target in targets)


def check(current: MeetingStatus, target: MeetingStatus) -> None:
    if target not in ALLOWED[current]:
        raise TransitionRefused(
            N_("A meeting in the state “%(current)s” cannot be changed to “%(target)s”."),
            {"current": current, "target": target},
        )


def transition(
    meeting: Meeting, target: MeetingStatus, at: datetime, *, reason: str | None = None
) -> None:
    """Apply a transition to a loaded meeting, or raise :class:`TransitionRefused`."""
    check(meeting.status, target)
    if target is S.CANCELLED:
        if not reason or not reason.strip():
            raise TransitionRefused(N_("A reason is required to cancel a meeting."))
        meeting.cancel_reason = reason.strip()
    meeting.status = target
    stamp = _STAMP.get(target)
    if stamp is not None:
        setattr(meeting, stamp, at)


async def guarded_update(
    db: AsyncSession,
    meeting_id: int,
    target: MeetingStatus,
    at: datetime,
    *,
    only_from: frozenset[MeetingStatus] | None = None,
    reason: str | None = None,
) -> bool:
    """Move a meeting to ``target`` in one conditional UPDATE.

    Returns True if this call made the change, False if the meeting was not in an allowed source
    state (already moved by someone else, cancelled, …). Idempotent and safe under races.
    """
    sources = sources_of(target)
    if only_from is not None:
        sources = sources & only_from
    values: dict[str, object] = {"status": target}
    if target is S.CANCELLED:
        if not reason or not reason.strip():
            raise TransitionRefused(N_("A reason is required to cancel a meeting."))
        values["cancel_reason"] = reason.strip()
    stamp = _STAMP.get(target)
    if stamp is not None:
        values[stamp] = at
    result = await db.execute(
        update(Meeting)
        .where(Meeting.id == meeting_id, Meeting.status.in_(list(sources)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        changes.touched(db, meeting_ids=[meeting_id])  # the kiosks of its endpoints hear it
    return changed


# ---- the timetable's part: opening and ending rooms on time ---------------------------------
# Each may run twice, late, or on two nodes at once: the change is one guarded UPDATE.


async def open_meeting(db: AsyncSession, meeting_id: int, now: datetime, timing: Timing) -> bool:
    """Open one meeting's room if it is due and not yet open (or cancelled, or over)."""
    meeting = await db.get(Meeting, meeting_id)
    if meeting is None or meeting.status is not S.SCHEDULED:
        return False
    if not (meeting.planned_start - timing.lead <= now < meeting.planned_end):
        return False
    if not await guarded_update(db, meeting_id, S.OPEN, now):
        return False
    await audit.record(db, now, None, "meeting.open", "meeting", meeting_id, {"by": "scheduler"})
    for user_id in {meeting.chair_id, meeting.secretary_id} - {None}:
        await notifications.notify(
            db,
            key=f"open:{meeting_id}:user:{user_id}",
            kind=NotificationKind.MEETING_OPEN,
            message=N_("The meeting room is open: %(title)s"),
            params={"title": meeting.title},
            at=now,
            user_id=user_id,
            meeting_id=meeting_id,
        )
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


async def end_meeting(
    db: AsyncSession,
    meeting_id: int,
    now: datetime,
    *,
    by: str = "scheduler",
    actor_id: int | None = None,
) -> bool:
    """End an open or live meeting and mark the endpoints that never came as absent."""
    if not await guarded_update(db, meeting_id, S.ENDED, now):
        return False
    await audit.record(db, now, actor_id, "meeting.end", "meeting", meeting_id, {"by": by})
    await attendance.mark_absent(db, meeting_id, now)
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
