"""A reference client of the live-session protocol, built on aiortc.

Used by the tests (real peers that publish synthetic camera and microphone and decode what they
receive) and by the benchmarks (load generators that send pre-encoded frames and count frames
without decoding). It speaks exactly the protocol of ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtcpSrPacket, RtpPacket

from signaling.media.adapter import ReceiverTap, route_rtx_streams

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000


class SyntheticVideoTrack(MediaStreamTrack):
    """A moving test pattern: enough change between frames to make a real encoder work."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._patterns = [self._pattern(i) for i in range(16)]
        self._count = 0
        self._start: float | None = None

    def _pattern(self, shift: int) -> bytes:
        row = bytes((x * 4 + shift * 16) & 0xFF for x in range(self.width))
        return b"".join(
            row[(y + shift) % self.width :] + row[: (y + shift) % self.width]
            for y in range(self.height)
        )

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._count / self.fps
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        frame.planes[0].update(self._patterns[self._count % len(self._patterns)])
        chroma = bytes([128]) * (frame.planes[1].buffer_size)
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = self._count * (VIDEO_CLOCK // self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


class SyntheticAudioTrack(MediaStreamTrack):
    """A tone (or silence) in 20 ms frames; loud tones make a participant the active speaker."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._samples = 0
        self._start: float | None = None
        self._frame_samples = AUDIO_RATE // 50

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._samples / AUDIO_RATE
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        n = self._frame_samples
        scale = int(32767 * self.amplitude)
        step = 2 * math.pi * self.frequency / AUDIO_RATE
        samples = b"".join(
            int(scale * math.sin((self._samples + i) * step)).to_bytes(2, "little", signed=True)
            for i in range(n)
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=n)
        frame.planes[0].update(samples)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += n
        return frame


class _Replay(MediaStreamTrack):
    """Replays packets encoded once in advance, paced in real time, so that a load generator
    costs no encoding."""

    def __init__(self, packets: list[av.Packet[Any]], clock_rate: int, pts_step: int) -> None:
        super().__init__()
        self._packets = packets
        self._clock_rate = clock_rate
        self._pts_step = pts_step
        self._count = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        pts = self._count * self._pts_step
        await asyncio.sleep(max(0.0, self._start + pts / self._clock_rate - time.monotonic()))
        source = self._packets[self._count % len(self._packets)]
        packet = av.Packet(bytes(source))
        packet.pts = pts
        packet.time_base = fractions.Fraction(1, self._clock_rate)
        packet.is_keyframe = source.is_keyframe
        self._count += 1
        return packet


class PreEncodedVideoTrack(_Replay):
    """VP8 packets (one frame each) replayed at ``fps``."""

    kind = "video"

    def __init__(self, packets: list[av.Packet[Any]], fps: int = 30) -> None:
        super().__init__(packets, VIDEO_CLOCK, VIDEO_CLOCK // fps)


class PreEncodedAudioTrack(_Replay):
    """Opus packets (20 ms each) replayed."""

    kind = "audio"

    def __init__(self, packets: list[av.Packet[Any]]) -> None:
        super().__init__(packets, AUDIO_RATE, AUDIO_RATE // 50)


def encode_opus(seconds: float = 1.0) -> list[av.Packet[Any]]:
    """Opus packets of a tone, 20 ms each."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 48_000
    tone = SyntheticAudioTrack()
    out: list[av.Packet[Any]] = []
    n = AUDIO_RATE // 50
    step = 2 * math.pi * tone.frequency / AUDIO_RATE
    for i in range(int(seconds * 50)):
        samples = b"".join(
            int(8000 * math.sin((i * n + j) * step)).to_bytes(2, "little", signed=True) * 2
            for j in range(n)
        )
        frame = av.AudioFrame(format="s16", layout="stereo", samples=n)
        frame.planes[0].update(samples)
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * n
        out.extend(codec.encode(frame))
    return out


def encode_vp8(
    width: int,
    height: int,
    frames: int,
    fps: int = 30,
    bitrate: int = 800_000,
    *,
    noisy: bool = False,
) -> list[av.Packet[Any]]:
    """Encode a moving pattern once; keyframe first (and every 2 seconds, as a browser would).
    ``noisy`` adds grain so the encoder spends its whole bitrate, as a real camera does."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.bit_rate = bitrate
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    codec.gop_size = fps * 2
    track = SyntheticVideoTrack(width, height, fps)
    out: list[av.Packet[Any]] = []
    for i in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        luma = track._patterns[i % len(track._patterns)]
        if noisy:
            grain = random.Random(i).randbytes(len(luma))
            luma = bytes((a + (b & 0x03)) & 0xFF for a, b in zip(luma, grain, strict=True))
        frame.planes[0].update(luma)
        chroma = bytes([128]) * frame.planes[1].buffer_size
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = i
        out.extend(codec.encode(frame))
    out.extend(codec.encode(None))
    return out


@dataclass
class ReceivedTrack:
    """What one subscribe transceiver delivered, attributed to participants as it went."""

    mid: str
    kind: str
    participant_id: str | None = None
    frames: dict[str, int] = field(default_factory=dict)
    first_at: dict[str, float] = field(default_factory=dict)
    last_at: dict[str, float] = field(default_factory=dict)
    max_gap: dict[str, float] = field(default_factory=dict)
    frame_times: list[float] = field(default_factory=list)
    frame_pts: list[int] = field(default_factory=list)  # RTP timestamps, when decoded

    def count(self, now: float, pts: int | None = None) -> None:
        pid = self.participant_id
        if pid is None:
            return
        last = self.last_at.get(pid)
        if last is not None:
            self.max_gap[pid] = max(self.max_gap.get(pid, 0.0), now - last)
        else:
            self.first_at[pid] = now
        self.last_at[pid] = now
        self.frames[pid] = self.frames.get(pid, 0) + 1
        self.frame_times.append(now)
        if pts is not None:
            self.frame_pts.append(pts)


class FrameCounter:
    """Counts frames on a subscribe receiver without decoding (one frame per timestamp)."""

    def __init__(self, received: ReceivedTrack) -> None:
        self.received = received
        self._last_ts: int | None = None
        self.packets = 0

    def on_rtp(self, packet: RtpPacket) -> None:
        self.packets += 1
        if packet.timestamp != self._last_ts and packet.payload:
            self._last_ts = packet.timestamp
            self.received.count(time.monotonic())

    def on_sender_report(self, packet: RtcpSrPacket) -> None:
        pass


class Client:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        video: Callable[[], MediaStreamTrack] | None = None,
        audio: Callable[[], MediaStreamTrack] | None = None,
        decode: bool = True,
        count_frames: bool = True,
        session: aiohttp.ClientSession | None = None,
        on_publish_pc: Callable[[RTCPeerConnection], None] | None = None,
        on_subscribe_pc: Callable[[RTCPeerConnection], None] | None = None,
    ) -> None:
        self.url = base_url.rstrip("/").replace("http", "ws", 1) + "/live/ws"
        self.token = token
        # Factories, not tracks: aiortc stops a track when its sender stops, so every
        # publication (after an ICE restart, say) needs fresh ones.
        self.video = video
        self.audio = audio
        self.published: list[MediaStreamTrack] = []
        self.decode = decode
        self.count_frames = count_frames
        self.messages: list[dict[str, Any]] = []
        self.message_times: list[float] = []  # time.monotonic() at each message's arrival
        self.welcome: dict[str, Any] = {}
        self.participant_id = ""
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.tracks: dict[str, ReceivedTrack] = {}
        self.taps: list[ReceiverTap] = []
        self._own_session = session is None
        self._session = session
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._new_message = asyncio.Condition()
        self._subscribe_lock = asyncio.Lock()
        self._on_publish_pc = on_publish_pc
        self._on_subscribe_pc = on_subscribe_pc
        self._mid_owner: dict[str, str] = {}
        self._subscribe_session = ""
        self.closed = asyncio.Event()

    # ---- connection ------------------------------------------------------------------------

    async def connect(self, *, version: int = 1) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url, max_msg_size=0)
        await self.send({"type": "hello", "version": version, "token": self.token})
        self._reader = asyncio.create_task(self._read())
        first = await self.wait_for(lambda m: m["type"] in ("welcome", "error"))
        if first["type"] == "welcome":
            self.welcome = first
            self.participant_id = first["participant_id"]
        return first

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        assert self._ws is not None
        if isinstance(data, bytes):
            await self._ws.send_bytes(data)
        else:
            await self._ws.send_str(data)

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data["type"] == "subscribe_offer":
                    self._spawn(self._answer_subscribe(data))
                elif data["type"] == "publish_answer" and self.publish_pc is not None:
                    await self.publish_pc.setRemoteDescription(
                        RTCSessionDescription(sdp=data["sdp"], type="answer")
                    )
                elif data["type"] == "welcome":
                    self.welcome = data
                async with self._new_message:
                    self.messages.append(data)
                    self.message_times.append(time.monotonic())
                    self._new_message.notify_all()
        finally:
            self.closed.set()
            async with self._new_message:
                self._new_message.notify_all()

    async def wait_for(
        self,
        match: str | Callable[[dict[str, Any]], bool],
        timeout: float = 15.0,
        *,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first message from index ``after`` on that matches (a type name or a test)."""
        test = (lambda m: m["type"] == match) if isinstance(match, str) else match

        def found() -> dict[str, Any] | None:
            return next((m for m in self.messages[after:] if test(m)), None)

        async def wait() -> dict[str, Any]:
            async with self._new_message:
                while (message := found()) is None:
                    if self.closed.is_set():
                        raise ConnectionError(f"connection closed while waiting for {match}")
                    await self._new_message.wait()
                return message

        return await asyncio.wait_for(wait(), timeout)

    # ---- media -----------------------------------------------------------------------------

    def _configuration(self) -> RTCConfiguration:
        return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)

    async def publish(self, *, audio_only: bool = False) -> None:
        if self.publish_pc is not None:
            await self.publish_pc.close()
        for track in self.published:
            track.stop()
        pc = self.publish_pc = RTCPeerConnection(self._configuration())
        factories = [self.audio] + ([] if audio_only else [self.video])
        self.published = [make() for make in factories if make is not None]
        for track in self.published:
            pc.addTransceiver(track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        if self._on_publish_pc is not None:
            self._on_publish_pc(pc)
        assert pc.localDescription is not None
        mark = len(self.messages)
        await self.send(
            {"type": "publish_offer", "sdp": pc.localDescription.sdp, "audio_only": audio_only}
        )
        await self.wait_for(lambda m: m["type"] in ("publish_answer", "error"), after=mark)

    async def _answer_subscribe(self, offer: dict[str, Any]) -> None:
        async with self._subscribe_lock:
            for track in offer["tracks"]:
                self._mid_owner[track["mid"]] = track["participant_id"]
                received = self.tracks.get(track["mid"])
                if received is not None:
                    received.participant_id = track["participant_id"]
            if offer["session"] != self._subscribe_session and self.subscribe_pc is not None:
                await self.subscribe_pc.close()
                self.subscribe_pc = None
            self._subscribe_session = offer["session"]
            first = self.subscribe_pc is None
            if self.subscribe_pc is None:
                self.subscribe_pc = RTCPeerConnection(self._configuration())
                self.subscribe_pc.on("track", self._on_track)
            pc = self.subscribe_pc
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            route_rtx_streams(pc, offer["sdp"])
            await pc.setLocalDescription(await pc.createAnswer())
            if first and self._on_subscribe_pc is not None:
                self._on_subscribe_pc(pc)
            assert pc.localDescription is not None
            live = {t["mid"] for t in offer["tracks"]}
            for mid, received in self.tracks.items():
                if mid not in live:
                    received.participant_id = None
            await self.send(
                {
                    "type": "subscribe_answer",
                    "sdp": pc.localDescription.sdp,
                    "revision": offer["revision"],
                }
            )

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.subscribe_pc is not None
        transceiver = next(
            t for t in self.subscribe_pc.getTransceivers() if t.receiver.track is track
        )
        mid = transceiver.mid or ""
        received = self.tracks[mid] = ReceivedTrack(mid, track.kind, self._mid_owner.get(mid))
        if self.decode:
            self._spawn(self._consume(track, received))
        elif self.count_frames:
            counter = FrameCounter(received)
            self.taps.append(
                ReceiverTap.for_transceiver(transceiver, counter.on_rtp, counter.on_sender_report)
            )

    async def _consume(self, track: MediaStreamTrack, received: ReceivedTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                received.count(time.monotonic(), getattr(frame, "pts", None))

    def frames_from(self, participant_id: str, kind: str = "video") -> int:
        return sum(t.frames.get(participant_id, 0) for t in self.tracks.values() if t.kind == kind)

    def max_gap_from(self, participant_id: str, kind: str = "video") -> float:
        return max(
            (t.max_gap.get(participant_id, 0.0) for t in self.tracks.values() if t.kind == kind),
            default=0.0,
        )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drop_socket(self) -> None:
        """Lose the WebSocket without saying goodbye (a network cut), keeping the media."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for tap in self.taps:
            tap.close()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        for track in self.published:
            track.stop()
        if self._own_session and self._session is not None:
            await self._session.close()


class RawRtpCounter:
    """Counts RTP packets and frames per SSRC straight off a peer connection's socket, before
    SRTP (the RTP header is not encrypted): a load generator's receiver that costs almost
    nothing. Other datagrams (DTLS, RTCP) go on to aiortc as usual."""

    def __init__(self) -> None:
        self.packets: dict[int, int] = {}
        self.frames: dict[int, int] = {}
        self.payload_types: dict[int, int] = {}
        self._last_ts: dict[int, int] = {}
        self.frame_times: dict[int, list[float]] = {}

    def attach(self, pc: RTCPeerConnection) -> None:
        connections = {t.receiver.transport.transport._connection for t in pc.getTransceivers()}
        for connection in connections:
            original = connection.data_received

            def data_received(data: bytes, component: int, original: Any = original) -> None:
                if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                    self._count(data)
                else:
                    original(data, component)

            connection.data_received = data_received  # type: ignore[method-assign]

    def _count(self, data: bytes) -> None:
        ssrc = int.from_bytes(data[8:12], "big")
        timestamp = int.from_bytes(data[4:8], "big")
        self.packets[ssrc] = self.packets.get(ssrc, 0) + 1
        if self._last_ts.get(ssrc) != timestamp:
            self._last_ts[ssrc] = timestamp
            self.frames[ssrc] = self.frames.get(ssrc, 0) + 1
            self.payload_types[ssrc] = data[1] & 0x7F
            self.frame_times.setdefault(ssrc, []).append(time.monotonic())
