"""When the last room closes the server gives back what meetings used: the executor is renewed
(work under way finishes, the old threads end) and the heap is trimmed."""

from __future__ import annotations

import asyncio
import threading

from web.resting import Workers, trim_heap


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
