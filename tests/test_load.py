"""The load monitor measures the event loop's lateness and its thread's CPU itself: a loop held up
is saturated, and stops being so once it runs freely again; work in other threads (the recorder's,
the encoders') is not the loop's load."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from sessions.settings import ConfigError, load_settings
from signaling.load import Limits, LoadMonitor


async def test_a_held_up_loop_is_saturated_and_recovers() -> None:
    monitor = LoadMonitor(Limits(interval=0.05, window=0.5, lag_limit=0.05, cpu_limit=10.0))
    monitor.start()
    try:
        await asyncio.sleep(0.3)
        assert monitor.saturated is False
        for _ in range(6):  # the loop is held up, again and again
            time.sleep(0.2)  # noqa: ASYNC251 (blocking on purpose: that is the load)
            await asyncio.sleep(0)
            await asyncio.sleep(0.06)
        assert monitor.lag > 0.05
        assert monitor.saturated is True
        assert monitor.status()["saturated"] is True
        # Running freely again for twice the window: no longer saturated.
        await asyncio.sleep(1.0)
        assert monitor.saturated is False
    finally:
        await monitor.close()


def test_limits_check_themselves() -> None:
    with pytest.raises(ValueError, match="interval"):
        Limits(interval=5, window=1)


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_the_loop_threads_cpu_counts_and_other_threads_do_not() -> None:
    monitor = LoadMonitor(Limits(interval=0.05, window=0.5, lag_limit=0, cpu_limit=0.5))
    monitor.start()
    stop = threading.Event()

    def elsewhere() -> None:  # another thread kept busy, like an encoder
        while not stop.is_set():
            _spin(0.05)

    worker = threading.Thread(target=elsewhere)
    worker.start()
    try:
        await asyncio.sleep(0.6)
        assert monitor.cpu < 0.5
        assert monitor.saturated is False
    finally:
        stop.set()
        worker.join()
    try:
        for _ in range(8):  # the loop's own thread computes, pausing briefly
            _spin(0.15)
            await asyncio.sleep(0.02)
        assert monitor.cpu > 0.5
        assert monitor.saturated is True  # by CPU alone: lateness is not judged here
    finally:
        await monitor.close()


async def test_with_both_limits_off_nothing_is_watched_and_nobody_refused() -> None:
    monitor = LoadMonitor(Limits(lag_limit=0, cpu_limit=0))
    monitor.start()
    time.sleep(0.3)  # noqa: ASYNC251 (blocking on purpose: that is the load)
    await asyncio.sleep(0.3)
    assert monitor.saturated is False
    assert monitor.status()["loop_lag_ms"] == 0
    await monitor.close()


def test_limits_come_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        environ={},
        overrides={"data_dir": tmp_path, "busy_loop_lag_ms": 250, "busy_cpu_percent": 0},
    )
    assert Limits.from_settings(settings) == Limits(lag_limit=0.25, cpu_limit=0)
    with pytest.raises(ConfigError, match="busy_cpu_percent"):
        load_settings(environ={}, overrides={"data_dir": tmp_path, "busy_cpu_percent": 150})
