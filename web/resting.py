"""What meetings used is given back once no room is live, so a long day of sessions leaves the
process as it found it.

A meeting needs threads it does not need afterwards: the default executor's (hashing,
remuxing, documents, e-mail: ``asyncio.to_thread``), and heap the allocator keeps after the
meeting's objects are freed. ``bench.soak --probe`` found no object of a meeting left behind, but
those threads, freed heap not returned (16 MiB after a second meeting), and SQLite connections
the pool kept (under aiosqlite each is a thread and file descriptors; ``sessions.db`` keeps one at
rest) with the descriptors SQLite parks (its Unix layer cannot close one while another connection
of the process holds a lock on the file). When the last room closes the hub says so, and a moment
later, if still no room is live, the server rests: the executor is renewed, the pool's idle
connections are closed (the parked descriptors go with the last), the meetings' reference cycles
(peers, transports, tracks) are collected, and the heap is trimmed.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

log = logging.getLogger(__name__)

REST_DELAY = 2.0  # seconds after the last room closed


class Workers:
    """The event loop's default executor, owned here so that it can be renewed: the old one's
    threads end once their work is done, the new one starts threads only when asked."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._resting: asyncio.TimerHandle | None = None
        self._rest: asyncio.Task[None] | None = None
        self.rested = 0
        self.generation = 1
        self.pool = self._new()
        loop.set_default_executor(self.pool)

    @property
    def prefix(self) -> str:
        """The names of this generation's threads (``diemcau-worker-1_0``, …)."""
        return f"diemcau-worker-{self.generation}"

    def _new(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(thread_name_prefix=self.prefix)

    def renew(self) -> None:
        self.generation += 1
        old, self.pool = self.pool, self._new()
        self._loop.set_default_executor(self.pool)
        old.shutdown(wait=False)  # work under way finishes; idle threads end

    def rest_soon(
        self, idle: Callable[[], bool], engine: AsyncEngine | None = None, delay: float = REST_DELAY
    ) -> None:
        """Rest after ``delay`` if ``idle()`` still holds then (a room may open meanwhile)."""
        if self._resting is not None:
            self._resting.cancel()
        self._resting = self._loop.call_later(delay, self._start_rest, idle, engine)

    def _start_rest(self, idle: Callable[[], bool], engine: AsyncEngine | None) -> None:
        self._resting = None
        if self._rest is None or self._rest.done():
            self._rest = asyncio.ensure_future(self._rest_if(idle, engine))

    async def _rest_if(self, idle: Callable[[], bool], engine: AsyncEngine | None) -> None:
        if not idle():
            return
        try:
            self.renew()
            if engine is not None:
                await close_idle_connections(engine)
            gc.collect()  # the meetings' cycles: nobody is in a room to feel the pause
            trim_heap()
            self.rested += 1
        except Exception:
            log.exception("giving back what the meetings used failed; the server carries on")

    def close(self) -> None:
        if self._resting is not None:
            self._resting.cancel()
        if self._rest is not None:
            self._rest.cancel()
        self.pool.shutdown(wait=True)
        # Whatever runs on this loop after the app (tests) gets a fresh one the loop shuts down.
        self._loop.set_default_executor(ThreadPoolExecutor())


async def close_idle_connections(engine: AsyncEngine) -> bool:
    """Close the pool's connections if none is checked out: a new pool is put in place in one
    step (nothing can be checked out of the old one after that), then the old one's closed.
    False when a connection was in use (the next rest tries again)."""
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool) or pool.checkedout():
        return False
    await engine.dispose(close=False)  # swaps in a new pool; no I/O, nothing awaited
    await greenlet_spawn(pool.dispose)  # the async driver's close runs under SQLAlchemy's bridge
    return True


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim  # glibc only
        return trim
    except (OSError, AttributeError):
        return None


def trim_heap() -> bool:
    """Return the allocator's free memory to the system (glibc); False where there is none."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
