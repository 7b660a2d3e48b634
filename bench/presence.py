"""Idle kiosks on one server process: ``python -m bench.presence [--json] [--kiosks N]``.

A real server process (``diemcau serve``, SQLite, on loopback) and N simulated kiosks, each on
its own endpoint and device link, holding the push channel and sending a heartbeat with its
report every ``heartbeat_seconds`` (10 s, the default). Measured on the server process: RSS
and CPU with no kiosk (the baseline, same run) and with all N connected and beating; at the
kiosks: each heartbeat's round trip (sent → acknowledged). Targets: 1,000 kiosks under
200 MiB and 10 % of a core, heartbeat p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import cpu_seconds, free_port, process, project_env, rss_mib, wait_http
from sessions import db as database
from sessions import devices, sites
from sessions.enums import SiteKind
from sessions.models import Site
from sessions.settings import load_settings

WINDOW = 30.0  # seconds of CPU measured in each state
HEARTBEAT = 10.0


async def _cpu_share(pid: int, seconds: float) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)


async def _prepare(data_dir: Path, count: int) -> list[str]:
    """The database at head with ``count`` endpoints (the province's 67 and synthetic ones),
    each with a device link."""
    settings = load_settings(environ={}, overrides={"data_dir": data_dir})
    sync = database.create_sync(settings.effective_database_url)
    database.upgrade(sync)
    sync.dispose()
    engine = database.create_async(settings.effective_database_url)
    now = datetime.now(UTC)
    tokens = []
    async with database.session_factory(engine, settings.audit_key)() as db:
        await sites.seed_sites(db, now)
        await db.flush()
        for n in range(max(0, count - 67)):
            db.add(Site(code=f"B{n:05d}", name=f"Điểm cầu thử {n}", kind=SiteKind.COMMUNE))
        await db.flush()
        for site in (await sites.listed(db))[:count]:
            tokens.append(await devices.issue(db, site, now, actor_id=None))
        await db.commit()
    await engine.dispose()
    return tokens


class Kiosk:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.rtts: list[float] = []
        self.sent: dict[int, float] = {}
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with self.session.ws_connect(self.url) as ws:
            first = await ws.receive_json()
            assert first["type"] == "state", first
            self.ready.set()
            reader = asyncio.create_task(self._read(ws))
            seq = 0
            await asyncio.sleep(random.uniform(0, HEARTBEAT))  # kiosks start at different times
            try:
                while True:
                    seq += 1
                    self.sent[seq] = time.perf_counter()
                    report = {"browser": "Chromium", "browser_version": "131.0", "camera": "on"}
                    await ws.send_json({"type": "heartbeat", "seq": seq, "report": report})
                    await asyncio.sleep(HEARTBEAT)
            finally:
                reader.cancel()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            data = json.loads(message.data)
            if data["type"] == "heartbeat_ack" and data["seq"] in self.sent:
                self.rtts.append((time.perf_counter() - self.sent.pop(data["seq"])) * 1000)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="diemcau-presence-") as tmp:
        data_dir = Path(tmp) / "data"
        tokens = await _prepare(data_dir, count)
        port = free_port()
        env = {**project_env(data_dir, port), "DIEMCAU_HEARTBEAT_SECONDS": str(HEARTBEAT)}
        with process(["-m", "web.cli", "serve"], env) as server:
            await wait_http(f"http://127.0.0.1:{port}/healthz", server)
            connector = aiohttp.TCPConnector(limit=0)  # one connection per kiosk, no pool cap
            async with aiohttp.ClientSession(connector=connector) as session:
                await asyncio.sleep(2)
                idle_rss = rss_mib(server.pid)
                idle_cpu = await _cpu_share(server.pid, WINDOW)
                kiosks = [Kiosk(session, f"ws://127.0.0.1:{port}/live/kiosk/{t}") for t in tokens]
                started = time.monotonic()
                for kiosk in kiosks:
                    kiosk.task = asyncio.create_task(kiosk.run())
                    await asyncio.sleep(0.002)  # a morning's start, not one instant
                await asyncio.wait_for(
                    asyncio.gather(*(k.ready.wait() for k in kiosks)), timeout=300
                )
                connect_s = time.monotonic() - started
                await asyncio.sleep(HEARTBEAT * 1.5)  # every kiosk has beaten at least once
                for kiosk in kiosks:
                    kiosk.rtts.clear()
                busy_cpu = await _cpu_share(server.pid, WINDOW)
                busy_rss = rss_mib(server.pid)
                rtts = [r for k in kiosks for r in k.rtts]
                for kiosk in kiosks:
                    assert kiosk.task is not None
                    kiosk.task.cancel()
                await asyncio.gather(*(k.task for k in kiosks if k.task), return_exceptions=True)
    return {
        "command": f"python -m bench.presence --json --kiosks {count}",
        "kiosks": count,
        "heartbeat_seconds": HEARTBEAT,
        "window_seconds": WINDOW,
        "all_connected_in_s": round(connect_s, 1),
        "server_rss_mib": {
            "no_kiosk": round(idle_rss, 1),
            "kiosks": round(busy_rss, 1),
            "per_kiosk_kib": round((busy_rss - idle_rss) * 1024 / count, 1),
        },
        "server_cpu_percent_of_a_core": {
            "no_kiosk": round(idle_cpu, 2),
            "kiosks": round(busy_cpu, 2),
            "ratio": round(busy_cpu / idle_cpu, 1) if idle_cpu else None,
        },
        "heartbeat_rtt_ms": {
            "count": len(rtts),
            "p50": round(statistics.median(rtts), 2),
            "p99": round(_percentile(rtts, 0.99), 2),
            "max": round(max(rtts), 2),
        },
        "targets": {"rss_mib": 200, "cpu_percent": 10, "heartbeat_p99_ms": 50},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--kiosks", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(run(args.kiosks))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
