"""The moments of a meeting on the player's time line: joins, drops, chair actions, recording
changes, each naming the person or endpoint it concerns (never a raw id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import attendance
from sessions.errors import N_
from sessions.models import AuditEvent

# The audit actions shown as moments, with what each says (catalog msgids).
WHAT = {
    "meeting.join": N_("joined"),
    "meeting.left": N_("left"),
    "meeting.dropped": N_("connection lost"),
    "meeting.removed": N_("removed by the chair"),
    "meeting.interruption": N_("interruption"),
    "meeting.resume": N_("reconnected"),
    "meeting.restart": N_("the server restarted: no sound or image"),
    "meeting.chair.mute": N_("muted by the chair"),
    "meeting.chair.give_floor": N_("given the floor"),
    "meeting.chair.admit": N_("admitted"),
    "meeting.chair.send_back": N_("sent back to the waiting room"),
    "meeting.chair.remove": N_("removed by the chair"),
    "recording.start": N_("recording started"),
    "recording.pause": N_("recording paused"),
    "recording.resume": N_("recording resumed"),
    "recording.failure": N_("recording interrupted (storage)"),
    "meeting.end": N_("meeting ended"),
}
# Who did it when it was not a person (catalog msgids).
CAUSES = {
    "policy": N_("by the meeting's recording policy"),
    "system": N_("by the system"),
    "scheduler": N_("by the timetable"),
    "storage recovered": N_("the storage is available again"),
}


@dataclass(frozen=True)
class Moment:
    at: datetime
    offset: float  # seconds from the first recording's start
    what: str  # msgid
    who: str  # a name as written, or a msgid from CAUSES; may be empty


async def moments_of(db: AsyncSession, meeting_id: int, origin: datetime | None) -> list[Moment]:
    events = list(
        await db.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "meeting",
                AuditEvent.object_id == str(meeting_id),
                AuditEvent.action.in_(list(WHAT)),
            )
            .order_by(AuditEvent.seq)
        )
    )
    subjects = [
        str(value)
        for e in events
        for key in ("subject", "target", "by")
        if isinstance(value := e.details.get(key), str) and ":" in value
    ]
    names = await attendance.names_for(db, subjects)

    def who(details: dict[str, object]) -> str:
        for key in ("subject", "target", "by"):
            value = details.get(key)
            if isinstance(value, str) and value in names:
                return names[value]
            if isinstance(value, str) and value in CAUSES:
                return CAUSES[value]
        return ""  # an old event naming only a room-internal id: nothing rather than the id

    return [
        Moment(
            at=e.at,
            offset=max(0.0, (e.at - origin).total_seconds()) if origin else 0.0,
            what=WHAT[e.action],
            who=who(e.details),
        )
        for e in events
    ]
