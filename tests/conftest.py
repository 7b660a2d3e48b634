"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, settings, app, client.

Every test that takes ``database_url`` runs once per backend. PostgreSQL comes from
``DIEMCAU_TEST_DATABASE_URL``; without it those runs skip with the reason shown, unless
``DIEMCAU_REQUIRE_POSTGRES=1`` (set by .ci/run), where a missing server fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import db as database
from sessions import users
from sessions.clock import FixedClock
from sessions.enums import Role
from sessions.models import Base, User
from sessions.settings import Settings, load_settings
from web.app import create_app

Client = TestClient[web.Request, web.Application]
PG_ENV = "DIEMCAU_TEST_DATABASE_URL"
REQUIRE_PG_ENV = "DIEMCAU_REQUIRE_POSTGRES"
PASSWORD = "mat-khau-thu-nghiem"
# 09:00 in Lạng Sơn on a Tuesday of the election period.
# Tests drive their clients in the server's own process and loop, so the process's load says
# nothing about the server's: the overload guard (signaling/load.py) is not judged in them.
IN_PROCESS: dict[str, object] = {"busy_loop_lag_ms": 0, "busy_cpu_percent": 0}
START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # the default settings' zone


def _pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = database.create_sync(f"sqlite:///{path}")
    database.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    base = _pg_base_url()
    if base is None:
        message = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        if os.environ.get(REQUIRE_PG_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"diemcau_test_{uuid.uuid4().hex[:10]}"
    admin = database.create_sync(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        message = f"PostgreSQL at {base} is not reachable: {exc}"
        if os.environ.get(REQUIRE_PG_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    engine = database.create_sync(url)
    database.upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def reset_postgres(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "diemcau.sqlite3"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_schema_url")
    engine = database.create_sync(url)
    reset_postgres(engine)
    engine.dispose()
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        environ={},
        overrides={"data_dir": tmp_path / "data", "database_url": database_url, **IN_PROCESS},
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data beside the app's own."""
    engine = database.create_async(settings.effective_database_url)
    async with database.session_factory(engine, settings.audit_key)() as session:
        yield session
    await engine.dispose()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, clock: FixedClock) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))


async def make_user(
    db: AsyncSession, username: str, *roles: Role, full_name: str = "Người Thử Nghiệm"
) -> User:
    user = await users.create_user(
        db, username=username, full_name=full_name, password=PASSWORD, roles=roles, at=START
    )
    await db.commit()
    return user


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def login(client: Client, username: str, password: str = PASSWORD) -> ClientResponse:
    page = await client.get("/login")
    token = csrf_from(await page.text())
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return response


async def csrf_of(client: Client, path: str = "/") -> str:
    page = await client.get(path)
    return csrf_from(await page.text())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 KiB tmpfs: a disk that fills up for real (needs root, like the browser tests)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k,mode=0700", "tmpfs", str(mount)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(f"this test needs root to mount a small tmpfs (sudo make test): {done.stderr}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
