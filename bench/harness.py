"""Shared pieces of the benchmarks: server processes, CPU and memory readings, statistics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy.orm import Session

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProjectDatabase:
    token_key: bytes
    session: Session
    now: datetime
    zone: ZoneInfo


@contextlib.contextmanager
def project_database(data_dir: Path) -> Iterator[ProjectDatabase]:
    """A migrated database under ``data_dir`` holding the reference endpoints (ids 1 and 2 the
    offices, 3 on the communes), written in one transaction when the block ends."""
    from sessions import db, sites
    from sessions.models import Site
    from sessions.settings import load_settings

    settings = load_settings(environ={}, overrides={"data_dir": data_dir})
    engine = db.create_sync(settings.effective_database_url)
    db.upgrade(engine)
    now = datetime.now(UTC)
    try:
        with Session(engine) as session, session.begin():
            for seed in (*sites.OFFICES, *sites.commune_seeds()):
                session.add(Site(code=seed.code, name=seed.name, kind=seed.kind, created_at=now))
            session.flush()
            yield ProjectDatabase(settings.session_key, session, now, settings.zone)
    finally:
        engine.dispose()


def project_env(data_dir: Path | str, port: int) -> dict[str, str]:
    """Environment for ``diemcau serve`` in a benchmark: loopback media only, quiet logs."""
    return {
        "DIEMCAU_DATA_DIR": str(data_dir),
        "DIEMCAU_PORT": str(port),
        "DIEMCAU_ICE_HOST_ADDRESSES": '["127.0.0.1"]',
        "DIEMCAU_ICE_ALLOWED_REMOTE": '["127.0.0.1/32"]',
        "DIEMCAU_LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class CpuWindow:
    """CPU use of one process over a wall-clock window, as a share of one core."""

    pid: int
    started_cpu: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        self.started_cpu = cpu_seconds(self.pid)
        self.started_at = time.monotonic()

    def stop(self) -> tuple[float, float]:
        """(share of one core, CPU seconds used)."""
        used = cpu_seconds(self.pid) - self.started_cpu
        return used / (time.monotonic() - self.started_at), used


class Server(subprocess.Popen[bytes]):
    """A server process whose standard error goes to a file (never a pipe nobody reads: a
    chatty server would block on it once the pipe is full)."""

    log: Any

    def log_tail(self, size: int = 2000) -> str:
        self.log.flush()
        self.log.seek(0)
        return str(self.log.read().decode(errors="replace")[-size:])


@contextlib.contextmanager
def process(
    args: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Server]:
    """``python ARGS`` with ``env`` added, from ``cwd`` (another checkout's code, for ``-m``)."""
    with tempfile.TemporaryFile(prefix="diemcau-bench-") as log:
        proc = Server(
            [sys.executable, *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=cwd,
        )
        proc.log = log
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_http(url: str, proc: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.post(url) if url.endswith("/reset") else session.get(url) as r:
                    if r.status < 500:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(url)


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"min": 0.0, "median": 0.0}
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2)}


def slope_through_origin(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of y = b·x."""
    denominator = sum(x * x for x in xs)
    return sum(x * y for x, y in zip(xs, ys, strict=True)) / denominator if denominator else 0.0
