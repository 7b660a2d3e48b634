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

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.enums import MeetingStatus
from sessions.errors import N_, TransitionRefused
from sessions.models import Meeting

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
    return bool(result.rowcount)  # type: ignore[attr-defined]
