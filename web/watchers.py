"""Who is watching a meeting's minutes: each open page holds a queue, and a save puts the new
version number in every queue of that meeting (server-sent events deliver it within a second).
One process; the scale-out issue carries this over a shared bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class MinutesWatchers:
    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[int]]] = {}

    @contextlib.contextmanager
    def watch(self, meeting_id: int) -> Iterator[asyncio.Queue[int]]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=16)
        self._queues.setdefault(meeting_id, set()).add(queue)
        try:
            yield queue
        finally:
            watchers = self._queues.get(meeting_id, set())
            watchers.discard(queue)
            if not watchers:
                self._queues.pop(meeting_id, None)

    def changed(self, meeting_id: int, version: int) -> None:
        for queue in self._queues.get(meeting_id, set()):
            if queue.full():  # a reader that stopped reading only needs the newest
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(version)

    def count(self, meeting_id: int) -> int:
        return len(self._queues.get(meeting_id, set()))
