"""Helpers of the live tests (their fixtures are in ``tests/live/conftest.py``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket
from sqlalchemy.ext.asyncio import AsyncSession

from bench.client import Client
from sessions.enums import Role
from sessions.settings import Settings
from sessions.tokens import RoomRole
from tests.conftest import make_user

LOOPBACK = {"ice_host_addresses": ("127.0.0.1",), "ice_allowed_remote": ("127.0.0.1/32",)}

ClientFactory = Callable[..., Awaitable[Client]]


async def wait_until(test: Callable[[], bool], timeout: float = 20.0, step: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not test():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def joined(
    clients: ClientFactory, db: AsyncSession, meeting_id: int, n_sites: int = 2, **kwargs: object
) -> list[Client]:
    """A chair and ``n_sites`` sites, connected and publishing."""
    leader = await make_user(db, f"lanhdao{meeting_id}", Role.CHAIR, full_name="Lương Văn Bình")
    everyone = [
        await clients(meeting_id, f"user:{leader.id}", "Lương Văn Bình", RoomRole.CHAIR, **kwargs)
    ]
    for i in range(n_sites):
        everyone.append(
            await clients(meeting_id, f"site:{i + 1}", f"Điểm cầu {i + 1}", RoomRole.SITE, **kwargs)
        )
    for c in everyone:
        welcome = await c.connect()
        assert welcome["type"] == "welcome", welcome
    await asyncio.gather(*(c.publish() for c in everyone))
    return everyone


async def flowing(everyone: list[Client], frames: int, timeout: float = 30.0) -> None:
    """Wait until every participant received ``frames`` more video frames from every other
    (an event to wait for, instead of sleeping and hoping)."""
    marks = {
        (c.participant_id, o.participant_id): c.frames_from(o.participant_id)
        for c in everyone
        for o in everyone
        if o is not c
    }
    await wait_until(
        lambda: all(
            c.frames_from(o.participant_id) >= marks[(c.participant_id, o.participant_id)] + frames
            for c in everyone
            for o in everyone
            if o is not c
        ),
        timeout=timeout,
    )


def all_see_all(
    everyone: list[Client], frames: int, kinds: tuple[str, ...] = ("video", "audio")
) -> bool:
    return all(
        c.frames_from(o.participant_id, kind) >= frames
        for c in everyone
        for o in everyone
        if o is not c
        for kind in kinds
    )


@dataclass
class PacketAudit:
    """Parses every decrypted RTP packet a stock aiortc subscriber receives, exactly as its
    DTLS transport does, and keeps what was wrong: a parse error (aiortc closes the transport
    on anything but ValueError), a packet without its transceiver's mid, or video (not a
    retransmission) without the negotiated send time."""

    packets: int = 0
    mids: dict[str, str] = field(default_factory=dict)  # mid -> kind, as received
    errors: list[str] = field(default_factory=list)

    def attach(self, pc: RTCPeerConnection) -> None:
        transport: Any = pc.getTransceivers()[0].receiver.transport
        original = transport._handle_rtp_data
        mapping = transport._rtp_header_extensions_map
        kinds = {t.mid: t.kind for t in pc.getTransceivers()}
        # Retransmissions (RFC 4588) carry the mid but no send time, as aiortc's own do.
        rtx = {
            c.payloadType
            for t in pc.getTransceivers()
            for c in t._codecs
            if c.mimeType.lower().endswith("/rtx")
        }

        async def handle(data: bytes, arrival_time_ms: int) -> None:
            self.packets += 1
            try:
                packet = RtpPacket.parse(data, mapping)
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc} in {data[:24].hex()}")
            else:
                mid = packet.extensions.mid
                kind = kinds.get(mid) or next(
                    (t.kind for t in pc.getTransceivers() if t.mid == mid), None
                )
                if mid is None or kind is None:
                    self.errors.append(f"no known mid in {data[:24].hex()}")
                elif (
                    kind == "video"
                    and packet.payload_type not in rtx
                    and packet.extensions.abs_send_time is None
                ):
                    self.errors.append(f"video on mid {mid} without send time")
                else:
                    self.mids[mid] = kind
            await original(data, arrival_time_ms)

        transport._handle_rtp_data = handle


@dataclass
class Served:
    """A real ``diemcau serve`` process on loopback over a data folder, to be killed and
    started again like a server in production."""

    data: Path
    settings: Settings  # as the process reads them from the folder, loopback media only
    port: int = field(default_factory=lambda: 18000 + os.getpid() % 1000)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        env = {
            **os.environ,
            "DIEMCAU_DATA_DIR": str(self.data),
            "DIEMCAU_PORT": str(self.port),
            "DIEMCAU_ICE_HOST_ADDRESSES": '["127.0.0.1"]',
            "DIEMCAU_ICE_ALLOWED_REMOTE": '["127.0.0.1/32"]',
            "DIEMCAU_LOG_LEVEL": "WARNING",
        }
        env.pop("DIEMCAU_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{self.url}healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        """No goodbye, no flush, no manifest."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
