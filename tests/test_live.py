"""Live sessions with real aiortc peers over the real WebSocket and loopback UDP."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.clock import FixedClock
from sessions.settings import Settings, load_settings
from sessions.tokens import RoomRole
from signaling.client import Client, SyntheticAudioTrack, SyntheticVideoTrack
from sessions.enums import Role
from tests.conftest import make_user
from tests.factories import make_meeting, token
from web.app import create_app
from web.keys import HUB

LOOPBACK = {"ice_host_addresses": ("127.0.0.1",), "ice_allowed_remote": ("127.0.0.1/32",)}


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    """Media tests run on SQLite only; the journal's SQL is covered on both backends elsewhere."""
    import shutil

    db_path = tmp_path / "live.sqlite3"
    shutil.copyfile(sqlite_template, db_path)
    return load_settings(
        environ={},
        overrides={
            "data_dir": tmp_path / "data",
            "database_url": f"sqlite:///{db_path}",
            "reconnect_grace_seconds": 3,
            **LOOPBACK,
        },
    )


@pytest.fixture
async def server(settings: Settings, clock: FixedClock) -> AsyncIterator[TestServer]:
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def clients(server: TestServer, settings: Settings) -> AsyncIterator[ClientFactory]:
    made: list[Client] = []

    async def make(
        meeting_id: int,
        subject: str,
        name: str,
        role: RoomRole,
        *,
        media: bool = True,
        **kwargs: object,
    ) -> Client:
        client = Client(
            str(server.make_url("/")),
            token(settings.session_key, meeting_id, subject, name, role),
            video=SyntheticVideoTrack() if media else None,
            audio=SyntheticAudioTrack() if media else None,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(client)
        return client

    yield make
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def wait_until(test: Callable[[], bool], timeout: float = 20.0, step: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not test():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def test_three_participants_see_and_hear_each_other(
    clients: ClientFactory, db: AsyncSession, server: TestServer
) -> None:
    meeting = await make_meeting(db)
    leader = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    chair = await clients(meeting.id, f"user:{leader.id}", "Lương Văn Bình", RoomRole.CHAIR)
    province = await clients(meeting.id, "site:1", "Trụ sở TCD tỉnh", RoomRole.SITE)
    commune = await clients(meeting.id, "site:2", "UBND Phường Đông Kinh", RoomRole.SITE)
    everyone = [chair, province, commune]
    for c in everyone:
        welcome = await c.connect()
        assert welcome["type"] == "welcome", welcome
    await asyncio.gather(*(c.publish() for c in everyone))

    def all_see_all(frames: int) -> bool:
        return all(
            c.frames_from(o.participant_id, "video") >= frames
            and c.frames_from(o.participant_id, "audio") >= frames
            for c in everyone
            for o in everyone
            if o is not c
        )

    await wait_until(lambda: all_see_all(30), timeout=30)
    hub = server.app[HUB]
    room = hub.rooms[meeting.id]
    assert len(room.present()) == 3
