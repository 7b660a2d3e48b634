"""A published track as the room sees it: packets in, fan-out to sinks, feedback to the publisher.

One ``Source`` per publisher track. It keeps what forwarding needs and nothing more: receive
statistics and NACKs towards the publisher, a short history to answer subscribers' NACKs, where
keyframes start, the publisher's sender reports (to write ours), audio levels, and a
rate-limited keyframe request that never leaves a late subscriber without video.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from signaling.media.adapter import (
    NackGenerator,
    ReceiverTap,
    RtcpReceiverInfo,
    RtcpSrPacket,
    RtpPacket,
    StreamStatistics,
    new_nack_generator,
    new_statistics,
)
from signaling.media.rtp import KeyframeTest, keyframe_detector
from signaling.media.vp8 import Vp8Layer, read_layer

log = logging.getLogger(__name__)

HISTORY = 1024  # packets kept to answer NACKs (about 3 s of 640x480 video)
KEYFRAME_MIN_INTERVAL = 0.5  # seconds between keyframe requests to one publisher
KEYFRAME_RETRY = 1.0  # re-ask this often while a subscriber still waits
REPORT_INTERVAL = 1.0
NTP_EPOCH_OFFSET = 2208988800
LEVEL_WINDOW = 0.4  # seconds of audio levels averaged for active-speaker detection
LEVEL_SAMPLES = 64  # more than a window's worth of 20 ms packets


def ntp_now() -> int:
    now = time.time() + NTP_EPOCH_OFFSET
    return (int(now) << 32) | int((now % 1) * (1 << 32))


def abs_send_time_now() -> bytes:
    """The 24-bit 6.18 fixed-point abs-send-time extension value."""
    value = int((time.time() + NTP_EPOCH_OFFSET) * (1 << 18)) & 0xFFFFFF
    return value.to_bytes(3, "big")


class MediaSink(Protocol):
    """Anything that takes a source's packets: a subscriber's forwarder, the recorder."""

    def deliver(
        self,
        packet: RtpPacket,
        keyframe: bool,
        abs_send_time: bytes,
        audio_level: int | None,
        layer: Vp8Layer | None,
    ) -> None: ...

    @property
    def waiting_for_keyframe(self) -> bool: ...

    def adapt(self) -> None:
        """Once a second on a layered source: choose again what to take of it."""


class Source:
    def __init__(
        self,
        track_id: str,
        participant_id: str,
        kind: str,
        tap_factory: Callable[[Source], ReceiverTap],
        bitrate_cap_bps: Callable[[], int],
    ) -> None:
        self.track_id = track_id
        self.participant_id = participant_id
        self.kind = kind
        self.enabled = True  # False while the chair has muted this participant
        self.sinks: list[MediaSink] = []
        self.mime_type = ""
        self.clock_rate = 90000 if kind == "video" else 48000
        self.media_ssrc: int | None = None
        self.packets_received = 0
        self.keyframes_seen = 0
        self.keyframe_requests_sent = 0
        self._keyframe_test: KeyframeTest | None = None
        self.vp8 = False
        # Temporal layers: seen on this source's packets, and what each costs (bytes this second,
        # and the rate of the last whole second).
        self.layered = False
        self._layer_bytes = [0, 0, 0, 0]
        self._layer_rates = (0, 0, 0)
        self._layer_window_start = time.monotonic()
        self._history: list[RtpPacket | None] = [None] * HISTORY
        self._stats: dict[int, StreamStatistics] = {}
        self._nack: NackGenerator | None = new_nack_generator() if kind == "video" else None
        self._last_sr: tuple[int, int, float] | None = None  # (ntp, rtp, local monotonic)
        # Bounded: a muted participant's levels are not read for a while, yet keep arriving.
        self._levels: deque[tuple[float, int]] = deque(maxlen=LEVEL_SAMPLES)
        self._last_keyframe_request = -1e9
        self._trailing_request: asyncio.TimerHandle | None = None
        self._bitrate_cap = bitrate_cap_bps
        self._tasks: set[asyncio.Task[None]] = set()
        self._reporter: asyncio.Task[None] | None = None
        self.tap = tap_factory(self)

    # ---- receive path (hot) -------------------------------------------------------------

    def on_rtp(self, packet: RtpPacket) -> None:
        tap = self.tap
        if packet.payload_type in tap.rtx_payload_types:
            unwrapped = tap.unwrap(packet)
            if unwrapped is None:
                return
            packet = unwrapped
        codec = tap.codecs.get(packet.payload_type)
        if codec is None:
            return
        if self.media_ssrc != packet.ssrc:
            self._adopt(packet.ssrc, codec.mime_type, codec.clock_rate)
        stats = self._stats.get(packet.ssrc)
        if stats is None:
            stats = self._stats[packet.ssrc] = new_statistics(codec.clock_rate)
        stats.add(packet)
        self.packets_received += 1
        if self._nack is not None and self._nack.add(packet):
            self._spawn(tap.send_nack(packet.ssrc, sorted(self._nack.missing)))
        payload = packet.payload
        if not payload:
            return  # padding used for bandwidth probing
        keyframe = self._keyframe_test is not None and self._keyframe_test(payload)
        if keyframe:
            self.keyframes_seen += 1
        self._history[packet.sequence_number % HISTORY] = packet
        layer: Vp8Layer | None = None
        if self.vp8:
            layer = read_layer(payload)
            if layer is not None:
                self.layered = True
                self._layer_bytes[layer.tid] += len(payload)
        level_ext = packet.extensions.audio_level
        level: int | None = None
        if level_ext is not None:
            level = (0x80 if level_ext[0] else 0) | (level_ext[1] & 0x7F)
            self._levels.append((time.monotonic(), level_ext[1] & 0x7F))
        sinks = self.sinks
        if not self.enabled or not sinks:
            return
        abs_send_time = abs_send_time_now()
        for sink in sinks:
            sink.deliver(packet, keyframe, abs_send_time, level, layer)

    def _adopt(self, ssrc: int, mime_type: str, clock_rate: int) -> None:
        self.media_ssrc = ssrc
        self.mime_type = mime_type
        self.clock_rate = clock_rate
        self._keyframe_test = keyframe_detector(mime_type)
        self.vp8 = mime_type.lower() == "video/vp8"
        if self._nack is not None:
            self._nack = new_nack_generator()

    def on_sender_report(self, packet: RtcpSrPacket) -> None:
        if packet.ssrc == self.media_ssrc or self.media_ssrc is None:
            info = packet.sender_info
            self._last_sr = (info.ntp_timestamp, info.rtp_timestamp, time.monotonic())

    # ---- what subscribers ask for ---------------------------------------------------------

    def packet(self, sequence_number: int) -> RtpPacket | None:
        packet = self._history[sequence_number % HISTORY]
        if packet is None or packet.sequence_number != sequence_number:
            return None
        return packet

    def layer_rates(self) -> tuple[int, int, int]:
        """Each temporal layer's own bitrate over the last whole second (bits/s)."""
        return self._layer_rates

    def _measure_layers(self, now: float) -> None:
        elapsed = now - self._layer_window_start
        if elapsed <= 0:
            return
        counts = self._layer_bytes
        # TID 3 does not occur with three layers; counted with the top one if a publisher sends it.
        self._layer_rates = (
            int(counts[0] * 8 / elapsed),
            int(counts[1] * 8 / elapsed),
            int((counts[2] + counts[3]) * 8 / elapsed),
        )
        self._layer_bytes = [0, 0, 0, 0]
        self._layer_window_start = now

    def rtp_now(self) -> tuple[int, int] | None:
        """(NTP now, this source's RTP timestamp now), from the publisher's last sender report."""
        if self._last_sr is None:
            return None
        _ntp, rtp, at = self._last_sr
        elapsed = time.monotonic() - at
        return ntp_now(), (rtp + int(elapsed * self.clock_rate)) & 0xFFFFFFFF

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval, with a trailing request
        so that a subscriber that asked during the quiet window is served too."""
        if self.kind != "video" or self.media_ssrc is None:
            return
        now = time.monotonic()
        wait = self._last_keyframe_request + KEYFRAME_MIN_INTERVAL - now
        if wait <= 0:
            self._send_keyframe_request(now)
        elif self._trailing_request is None:
            self._trailing_request = asyncio.get_running_loop().call_later(wait, self._trailing)

    def _trailing(self) -> None:
        self._trailing_request = None
        self._send_keyframe_request(time.monotonic())

    def _send_keyframe_request(self, now: float) -> None:
        if self.media_ssrc is None:
            return
        self._last_keyframe_request = now
        self.keyframe_requests_sent += 1
        self._spawn(self.tap.send_pli(self.media_ssrc))

    # ---- audio level ---------------------------------------------------------------------

    def loudness(self, now: float) -> float | None:
        """Mean loudness (127 − dBov) over the last window; None when nothing was heard."""
        cutoff = now - LEVEL_WINDOW
        levels = self._levels
        while levels and levels[0][0] < cutoff:
            levels.popleft()
        if not levels or not self.enabled:
            return None
        return 127 - sum(v for _, v in levels) / len(levels)

    # ---- life --------------------------------------------------------------------------

    def start(self) -> None:
        self._reporter = asyncio.create_task(self._report_loop())

    async def _report_loop(self) -> None:
        await self.tap.started.wait()
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            if self.layered:
                self._measure_layers(time.monotonic())
                for sink in list(self.sinks):
                    sink.adapt()
            reports = []
            for ssrc, stats in self._stats.items():
                if stats.max_seq is None:
                    continue
                lsr = dlsr = 0
                if self._last_sr is not None and ssrc == self.media_ssrc:
                    lsr = (self._last_sr[0] >> 16) & 0xFFFFFFFF
                    dlsr = int((time.monotonic() - self._last_sr[2]) * 65536)
                reports.append(
                    RtcpReceiverInfo(
                        ssrc=ssrc,
                        fraction_lost=stats.fraction_lost,
                        packets_lost=stats.packets_lost,
                        highest_sequence=stats.max_seq,
                        jitter=stats.jitter,
                        lsr=lsr,
                        dlsr=dlsr,
                    )
                )
            remb = None
            ssrcs = [self.media_ssrc] if self.media_ssrc is not None else []
            if self.kind == "video":
                remb = self._bitrate_cap()
            with contextlib.suppress(ConnectionError):
                await self.tap.send_reports(reports, remb, ssrcs)
            waiting = any(sink.waiting_for_keyframe for sink in self.sinks)
            if waiting and time.monotonic() - self._last_keyframe_request >= KEYFRAME_RETRY:
                self.request_keyframe()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and isinstance(task.exception(), Exception):
            exc = task.exception()
            if not isinstance(exc, ConnectionError):
                log.warning("feedback to publisher failed: %s", exc)

    async def close(self) -> None:
        self.sinks.clear()
        if self._trailing_request is not None:
            self._trailing_request.cancel()
        tasks = [t for t in (self._reporter, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tap.close()
