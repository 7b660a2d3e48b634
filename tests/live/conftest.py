"""The live tests' fixtures: the server on loopback (SQLite; the journal's SQL is covered on
both backends elsewhere) and a factory of real aiortc clients."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bench.client import Client, SyntheticAudioTrack, SyntheticVideoTrack
from sessions.clock import FixedClock
from sessions.settings import Settings, load_settings
from sessions.tokens import RoomRole
from tests.conftest import IN_PROCESS
from tests.factories import token
from tests.live.support import LOOPBACK, ClientFactory, Served
from web.app import create_app


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    """Media tests run on SQLite only; the journal's SQL is covered on both backends elsewhere."""
    db_path = tmp_path / "live.sqlite3"
    shutil.copyfile(sqlite_template, db_path)
    return load_settings(
        environ={},
        overrides={
            "data_dir": tmp_path / "data",
            "database_url": f"sqlite:///{db_path}",
            "reconnect_grace_seconds": 3,
            **LOOPBACK,
            **IN_PROCESS,
        },
    )


@pytest.fixture
async def server(settings: Settings, clock: FixedClock) -> AsyncIterator[TestServer]:
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


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
            video=SyntheticVideoTrack if media else None,
            audio=SyntheticAudioTrack if media else None,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(client)
        return client

    yield make
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


@pytest.fixture
def served(tmp_path: Path, sqlite_template: Path) -> Iterator[Served]:
    """A data folder made from the migrated template for a real server process, which the test
    starts, kills and starts again; stopped at the end."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(sqlite_template, data / "diemcau.sqlite3")
    settings = load_settings(environ={}, overrides={"data_dir": data, **LOOPBACK, **IN_PROCESS})
    server = Served(data, settings)
    yield server
    server.stop()
