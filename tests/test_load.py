"""The load monitor measures the event loop's lateness itself: a loop held up is saturated, and
stops being so once it runs freely again."""

from __future__ import annotations

import asyncio
import time

import pytest

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
