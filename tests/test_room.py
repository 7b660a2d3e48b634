"""Room rules without media, on both databases: waiting room, roles, attendance, lifecycle."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import db as database
from sessions.clock import FixedClock
from sessions.enums import AttendanceOutcome, MeetingStatus, Role
from sessions.models import Attendance, AuditEvent
from sessions.settings import Settings
from sessions.tokens import JoinClaims, RoomRole
from signaling import protocol
from signaling.hub import Hub
from tests.conftest import START, make_user
from tests.factories import make_meeting


class FakeConnection:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.closed = False

    def push(self, message: protocol.ServerMessage) -> bool:
        self.messages.append(message)
        return True

    def close(self, error_id: str | None = None) -> None:
        self.closed = True

    def types(self) -> list[str]:
        return [m.type for m in self.messages]


def state_of(thing: Any) -> str:
    """A participant's state or a meeting's status, read now (mypy would otherwise keep the
    value it narrowed to before an await changed it)."""
    return str(thing.status if hasattr(thing, "status") else thing.state)


def claims(meeting_id: int, subject: str, role: RoomRole) -> JoinClaims:
    return JoinClaims(meeting_id, subject, subject, role, int(START.timestamp()) + 3600)


@pytest.fixture
async def hub(settings: Settings, clock: FixedClock) -> Any:
    engine = database.create_async(settings.effective_database_url)
    hub = Hub(database.session_factory(engine, settings.audit_key), clock, settings)
    yield hub
    await hub.close()
    await engine.dispose()


async def test_waiting_room_attendance_and_lifecycle(db: AsyncSession, hub: Hub) -> None:
    meeting = await make_meeting(db, waiting_room=True)
    meeting_id = meeting.id
    leader = await make_user(db, "lanhdao", Role.CHAIR)
    room = await hub.room_for(meeting.id)
    chair_conn, site_conn = FakeConnection(), FakeConnection()
    chair = await room.join(claims(meeting.id, f"user:{leader.id}", RoomRole.CHAIR), chair_conn)
    site = await room.join(claims(meeting.id, "site:2", RoomRole.SITE), site_conn)
    assert chair.state == "present"
    assert site.state == "waiting"
    assert site_conn.types()[:2] == ["welcome", "waiting"]
    assert chair_conn.messages[-1].type == "waiting_list"
    await db.refresh(meeting)
    assert state_of(meeting) == MeetingStatus.LIVE.value

    with pytest.raises(protocol.ProtocolError) as refused:
        await room.admit(site, protocol.Admit(all=True))
    assert refused.value.error_id == "not_allowed"
    await room.admit(chair, protocol.Admit(participant_id=site.id))
    assert state_of(site) == "present"
    assert "admitted" in site_conn.types()
    assert any(m.type == "participant_joined" for m in chair_conn.messages)

    await room.disconnected(site, site_conn)
    assert state_of(site) == "reconnecting"
    again = FakeConnection()
    resumed = await room.join(claims(meeting.id, "site:2", RoomRole.SITE), again)
    assert resumed is site
    assert again.messages[0].resumed is True

    await room.remove(chair, protocol.RemoveParticipant(participant_id=site.id))
    assert again.closed
    rejoin = FakeConnection()
    back = await room.join(claims(meeting.id, "site:2", RoomRole.SITE), rejoin)
    assert state_of(back) == "waiting"  # a removed subject comes back only through the waiting room

    await room.end(chair)
    assert hub.rooms == {}
    db.expire_all()
    rows = {
        r.site_id or 0: r
        for r in await db.scalars(select(Attendance).where(Attendance.meeting_id == meeting_id))
    }
    assert rows[2].outcome is AttendanceOutcome.REMOVED
    assert rows[2].interruptions == 1
    assert rows[0].left_at is not None
    await db.refresh(meeting)
    assert state_of(meeting) == MeetingStatus.ENDED.value
    actions = set(await db.scalars(select(AuditEvent.action)))
    assert {"meeting.join", "meeting.chair.admit", "meeting.chair.remove", "meeting.end"} <= actions


async def test_only_open_meetings_have_rooms(db: AsyncSession, hub: Hub) -> None:
    scheduled = await make_meeting(db, status=MeetingStatus.SCHEDULED)
    with pytest.raises(protocol.ProtocolError) as refused:
        await hub.room_for(scheduled.id)
    assert refused.value.error_id == "meeting_not_open"
    with pytest.raises(protocol.ProtocolError):
        await hub.room_for(999_999)
