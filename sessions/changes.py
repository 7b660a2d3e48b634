"""What a committed transaction changed that an endpoint's kiosk shows: its meetings (booked,
opened, started, ended, cancelled, moved), notices to it, and its device link.

One listener on the sessions a factory makes, so every code path that commits — a booking, the
scheduler's sweep, a chair ending a room, an administrator reissuing a kiosk link — is heard,
and nothing is heard of a transaction that rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from sessions.models import Meeting, MeetingSite, Notification, Site

_KEY = "diemcau.changes"


@dataclass
class Changed:
    meeting_ids: set[int] = field(default_factory=set)
    site_ids: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.meeting_ids or self.site_ids)


Listener = Callable[[Changed], None]


def _collect(session: Session, _context: object) -> None:
    found: Changed = session.info.setdefault(_KEY, Changed())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Meeting) and obj.id is not None:
            found.meeting_ids.add(obj.id)
        elif isinstance(obj, MeetingSite):
            found.site_ids.add(obj.site_id)
            if obj.meeting_id is not None:
                found.meeting_ids.add(obj.meeting_id)
        elif isinstance(obj, Notification) and obj.site_id is not None:
            found.site_ids.add(obj.site_id)
        elif isinstance(obj, Site) and obj.id is not None:
            found.site_ids.add(obj.id)


def touched(
    db: AsyncSession, *, meeting_ids: Iterable[int] = (), site_ids: Iterable[int] = ()
) -> None:
    """Note a change the unit of work does not see (a bulk UPDATE), heard at the commit."""
    found: Changed = db.sync_session.info.setdefault(_KEY, Changed())
    found.meeting_ids.update(meeting_ids)
    found.site_ids.update(site_ids)


def listen(factory: async_sessionmaker[AsyncSession], listener: Listener) -> None:
    """Tell ``listener`` (on the event loop's thread, after each commit) what changed.

    The factory gets its own ``Session`` subclass, so two apps in one process (tests) never
    hear each other's commits."""
    base = factory.kw.get("sync_session_class", Session)
    tracked = type("TrackedSession", (base,), {})
    factory.configure(sync_session_class=tracked)

    def committed(session: Session) -> None:
        found = session.info.pop(_KEY, None)
        if found:
            listener(found)

    def rolled_back(session: Session, previous: SessionTransaction) -> None:
        # A savepoint's rollback keeps what the outer transaction changed (a harmless extra
        # push at worst); the outer one's forgets it all.
        if not previous.nested:
            session.info.pop(_KEY, None)

    event.listen(tracked, "after_flush", _collect)
    event.listen(tracked, "after_commit", committed)
    event.listen(tracked, "after_soft_rollback", rolled_back)
