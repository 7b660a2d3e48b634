"""When the last room closes the server gives back what meetings used: the executor is renewed
(work under way finishes, the old threads end), the pool's idle connections are closed (with the
descriptors SQLite parked) and the heap is trimmed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path

from sqlalchemy import text

from sessions import db as database
from web.resting import Workers, close_idle_connections, trim_heap


async def test_renewed_workers_finish_their_work_and_their_threads_end() -> None:
    loop = asyncio.get_running_loop()
    workers = Workers(loop)
    try:
        release = threading.Event()
        first = workers.prefix
        under_way = asyncio.to_thread(lambda: release.wait(5) and "done")
        task = asyncio.ensure_future(under_way)
        await asyncio.to_thread(lambda: None)
        assert any(t.name.startswith(first) for t in threading.enumerate())
        workers.renew()
        assert workers.prefix != first
        release.set()
        assert await task == "done"  # work under way when renewed finishes
        await asyncio.to_thread(lambda: None)  # new work goes to the new generation
        deadline = loop.time() + 5
        while any(t.name.startswith(first + "_") for t in threading.enumerate()):
            assert loop.time() < deadline, "the old generation's threads did not end"
            await asyncio.sleep(0.05)
        assert any(t.name.startswith(workers.prefix + "_") for t in threading.enumerate())
        assert trim_heap() is True  # glibc
    finally:
        workers.close()


async def test_the_server_rests_only_if_still_idle_a_moment_later() -> None:
    workers = Workers(asyncio.get_running_loop())
    try:
        rooms = {1: "a room opened meanwhile"}
        workers.rest_soon(lambda: not rooms, delay=0.05)
        await asyncio.sleep(0.2)
        assert (workers.rested, workers.generation) == (0, 1)
        rooms.clear()
        workers.rest_soon(lambda: not rooms, delay=0.05)
        workers.rest_soon(lambda: not rooms, delay=0.05)  # said twice: rests once
        await asyncio.sleep(0.2)
        assert (workers.rested, workers.generation) == (1, 2)
    finally:
        workers.close()


def _descriptors_of(path: Path) -> int:
    found = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).startswith(str(path)):
                found += 1
    return found


async def test_at_rest_the_pools_connections_and_the_descriptors_sqlite_parked_are_closed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rest.sqlite3"
    engine = database.create_async(f"sqlite:///{path}")
    workers = Workers(asyncio.get_running_loop())
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))

        async def read() -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT * FROM t"))
                await asyncio.sleep(0.05)  # held at once: the pool opens more than one

        await asyncio.gather(*(read() for _ in range(4)))
        # The burst's connections are closed on return, but SQLite parks their descriptors
        # while the one kept at rest holds its lock.
        assert _descriptors_of(path) > 3
        held = await engine.connect()  # a connection in use: the pool is left alone
        assert await close_idle_connections(engine) is False
        await held.close()
        workers.rest_soon(lambda: True, engine, delay=0.01)
        for _ in range(100):
            if workers.rested:
                break
            await asyncio.sleep(0.02)
        assert workers.rested == 1
        assert _descriptors_of(path) == 0
        async with engine.connect() as connection:  # and the database works on
            assert list(await connection.execute(text("SELECT count(*) FROM t"))) == [(0,)]
    finally:
        workers.close()
        await engine.dispose()
