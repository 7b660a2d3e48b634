"""Packet loss and jitter on a test peer's datagram path (kernel netem is not available here).

Hooks the peer's aioice connection: inbound datagrams go through ``data_received``, outbound
through ``sendto``. Only SRTP/SRTCP (first byte 128–191) is impaired, so the DTLS handshake and
ICE checks set up as usual and the impairment hits media and its feedback, as a lossy link would.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection


def ice_connections(pc: RTCPeerConnection) -> set[Any]:
    """The aioice connections under a peer's transceivers (one with BUNDLE)."""
    return {t.receiver.transport.transport._connection for t in pc.getTransceivers()}


@dataclass
class Impairment:
    loss: float = 0.02
    jitter: float = 0.050  # each datagram is delayed by a uniform 0..jitter seconds
    seed: int = 1
    dropped: int = 0
    passed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def _is_media(self, data: bytes) -> bool:
        return bool(data) and 127 < data[0] < 192

    def decide(self, data: bytes) -> float | None:
        """None to drop, else the delay in seconds."""
        if not self._is_media(data):
            return 0.0
        if self._random.random() < self.loss:
            self.dropped += 1
            return None
        self.passed += 1
        return self._random.random() * self.jitter

    def apply(self, pc: RTCPeerConnection) -> None:
        for connection in ice_connections(pc):
            self._hook(connection)

    def _hook(self, connection: Any) -> None:
        loop = asyncio.get_running_loop()
        inbound = connection.data_received
        outbound = connection.sendto

        def data_received(data: bytes, component: int) -> None:
            delay = self.decide(data)
            if delay is None:
                return
            if delay == 0.0:
                inbound(data, component)
            else:
                loop.call_later(delay, inbound, data, component)

        async def sendto(data: bytes, component: int) -> None:
            delay = self.decide(data)
            if delay is None:
                return
            if delay == 0.0:
                await outbound(data, component)
                return

            def later() -> None:
                # aioice's sendto never suspends (it ends in a transport's sendto): run it here,
                # not as a task a closing loop could leave unstarted ("never awaited").
                sending = outbound(data, component)
                try:
                    sending.send(None)
                except StopIteration:
                    return
                except (ConnectionError, OSError):
                    return  # the link went away meanwhile: the datagram is lost, as on a wire
                sending.close()  # it would have waited: dropped, as a lossy link would

            loop.call_later(delay, later)

        connection.data_received = data_received
        connection.sendto = sendto


@dataclass
class Bottleneck:
    """A link of limited capacity towards the peer: inbound media datagrams queue behind one
    another at ``rate_bps``; one that would wait longer than ``queue`` seconds is dropped (a
    router's tail drop). The delay that builds up is what a delay-based estimator (REMB) sees.
    ``rate_bps`` may be changed while it runs; 0 lifts the limit."""

    rate_bps: int
    queue: float = 0.25
    dropped: int = 0
    passed: int = 0

    def __post_init__(self) -> None:
        self._free_at = 0.0
        self._started: float | None = None
        # bytes offered to the link, per second since the first datagram, per RTP payload type
        self.offered: dict[int, dict[int, int]] = {}

    def apply(self, pc: RTCPeerConnection) -> None:
        for connection in ice_connections(pc):
            self._hook(connection)

    def _hook(self, connection: Any) -> None:
        loop = asyncio.get_running_loop()
        inbound = connection.data_received

        def data_received(data: bytes, component: int) -> None:
            if not self.rate_bps or not data or not 127 < data[0] < 192:
                inbound(data, component)
                return
            now = loop.time()
            if self._started is None:
                self._started = now
            second = self.offered.setdefault(int(now - self._started), {})
            payload_type = data[1] & 0x7F
            second[payload_type] = second.get(payload_type, 0) + len(data)
            start = max(now, self._free_at)
            if start - now > self.queue:
                self.dropped += 1
                return
            self.passed += 1
            self._free_at = start + (len(data) + 28) * 8 / self.rate_bps  # with IP and UDP
            loop.call_at(self._free_at, inbound, data, component)

        connection.data_received = data_received


@dataclass
class Holes:
    """Video packets that never get through: on the peer's inbound path, one number in
    ``every`` of a video stream on its first arrival, and every retransmission (RFC 4588) of
    anything. What a link that loses a packet and then each repair of it does to a receiver;
    whatever arrives under a lost number a second time (a filler) passes."""

    video_payload_types: frozenset[int]
    rtx_payload_types: frozenset[int]
    every: int = 40
    dropped_rtx: int = 0

    def __post_init__(self) -> None:
        self.holes: set[int] = set()

    @classmethod
    def of(cls, pc: RTCPeerConnection, every: int = 40) -> Holes:
        """For what ``pc`` negotiated (after its local description is set)."""
        codecs = [c for t in pc.getTransceivers() if t.kind == "video" for c in t._codecs]
        types = {c.payloadType: c.mimeType.lower() for c in codecs if c.payloadType is not None}
        rtx = {pt for pt, mime in types.items() if mime.endswith("/rtx")}
        video = set(types) - rtx
        return cls(frozenset(video), frozenset(rtx), every)

    def apply(self, pc: RTCPeerConnection) -> None:
        for connection in ice_connections(pc):
            self._hook(connection)

    def _hook(self, connection: Any) -> None:
        inbound = connection.data_received

        def data_received(data: bytes, component: int) -> None:
            if len(data) >= 12 and 127 < data[0] < 192:
                payload_type = data[1] & 0x7F
                if payload_type in self.rtx_payload_types:
                    self.dropped_rtx += 1
                    return
                seq = int.from_bytes(data[2:4], "big")
                if (
                    payload_type in self.video_payload_types
                    and seq % self.every == 0
                    and seq not in self.holes
                ):
                    self.holes.add(seq)
                    return
            inbound(data, component)

        connection.data_received = data_received
