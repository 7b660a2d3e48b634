"""How busy this process is, so that past its capacity it refuses what is new instead of failing
what it already carries.

Every ``interval`` a task sleeps and measures how late the event loop woke it (the loop's lag: the
forwarder, the signalling and the pages all wait behind it) and how much CPU the loop's own thread
used (the recorder's and the encoders' threads are left out: they delay nobody's packets). Over the
last ``window`` the process is *saturated* when the loop was late by more than ``lag_limit`` on
average or its thread was busy more than ``cpu_limit`` of the time; a limit of 0 is not judged.
While it is, a new participant or a new room is refused with ``server_busy`` (people already
admitted go on, reconnecting ones included), and publishers' video is capped lower, so video is
shed before audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sessions.settings import Settings

SHED_VIDEO_BPS = 250_000  # each publisher's video while saturated (audio is never capped)


@dataclass(frozen=True)
class Limits:
    interval: float = 0.25
    window: float = 5.0
    lag_limit: float = 0.1  # seconds late, on average over the window; 0: not judged
    cpu_limit: float = 0.9  # share of the window the loop's thread was busy; 0: not judged

    def __post_init__(self) -> None:
        if not 0 < self.interval < self.window:
            raise ValueError("the interval must be positive and shorter than the window")
        if self.lag_limit < 0 or self.cpu_limit < 0:
            raise ValueError("a limit is positive, or 0 for not judged")

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            lag_limit=settings.busy_loop_lag_ms / 1000, cpu_limit=settings.busy_cpu_percent / 100
        )

    @property
    def judged(self) -> bool:
        return self.lag_limit > 0 or self.cpu_limit > 0


class LoadMonitor:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        size = max(2, int(self.limits.window / self.limits.interval))
        self._lags: deque[float] = deque(maxlen=size)
        self._cpu: deque[tuple[float, float]] = deque(maxlen=size + 1)
        self._task: asyncio.Task[None] | None = None
        self.forced: bool | None = None  # operators' and tests' override
        self.refused = 0

    def start(self) -> None:
        if self._task is None and self.limits.judged:
            self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._lags.clear()
        self._cpu.clear()

    async def _watch(self) -> None:
        interval = self.limits.interval
        self._cpu.append((time.monotonic(), time.thread_time()))
        while True:
            before = time.monotonic()
            await asyncio.sleep(interval)
            now = time.monotonic()
            self._lags.append(max(0.0, now - before - interval))
            self._cpu.append((now, time.thread_time()))

    @property
    def lag(self) -> float:
        return sum(self._lags) / len(self._lags) if self._lags else 0.0

    @property
    def cpu(self) -> float:
        if len(self._cpu) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def saturated(self) -> bool:
        if self.forced is not None:
            return self.forced
        lag, cpu = self.limits.lag_limit, self.limits.cpu_limit
        return (lag > 0 and self.lag > lag) or (cpu > 0 and self.cpu > cpu)

    def refuse(self) -> None:
        self.refused += 1

    def status(self) -> dict[str, Any]:
        return {
            "saturated": self.saturated,
            "loop_lag_ms": round(self.lag * 1000, 1),
            "cpu_of_a_core": round(self.cpu, 3),
            "refused": self.refused,
        }
