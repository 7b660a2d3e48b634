"""A participant that watches a meeting for a while, publishing nothing, behind an optional
bottleneck:
``python -m bench.watcher URL TOKEN OUT --seconds S [--limit-kbps N] [--queue-ms Q] [--decode]``.

Run inside the loopback-only namespace (by ``bench.adapt`` and the browser tests). It receives
everyone, and writes to OUT as JSON each video track's frame times (decoded
with ``--decode``, else counted off the RTP stream, one per timestamp), the ``video_link``
messages it was sent, what the bottleneck (``bench.impair.Bottleneck``) dropped and passed, and
what its aiortc receiver did about losses: when it asked for a keyframe, and when its jitter
buffer gave up waiting for a missing packet (it waits until 512 later ones arrived: over ten
seconds of a weak link's video, a freeze a forwarder must never cause).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from bench.client import Client
from bench.impair import Bottleneck
from signaling.media.adapter import restrict_host_addresses

FREEZE = 1.0  # seconds without a new frame a viewer notices as a frozen picture


async def watch(
    url: str,
    token: str,
    seconds: float,
    limit_kbps: int,
    *,
    queue_ms: int = 250,
    decode: bool = False,
    on_subscribe_pc: Callable[[RTCPeerConnection], None] | None = None,
) -> dict[str, object]:
    link = Bottleneck(limit_kbps * 1000, queue=queue_ms / 1000)
    receiver = ReceiverEvents()

    def attach(pc: RTCPeerConnection) -> None:
        if on_subscribe_pc is not None:
            on_subscribe_pc(pc)
        link.apply(pc)

    client = Client(url, token, decode=decode, on_subscribe_pc=attach)
    welcome = await client.connect()
    started = receiver.started = time.monotonic()
    if welcome["type"] == "welcome":
        # A viewer: it publishes nothing, so the others' links carry only the leader's media
        # (aiortc's Opus runs near 100 kbps, twice a browser's, and would crowd a weak link).
        await asyncio.sleep(seconds)
    report: dict[str, object] = {
        "welcome": welcome["type"],
        "participant_id": client.participant_id,
        # seconds since this watcher connected
        "video": {
            t.participant_id or mid: [round(at - started, 3) for at in t.frame_times]
            for mid, t in client.tracks.items()
            if t.kind == "video"
        },
        # RTP timestamps of the decoded frames: the publisher's clock
        "video_pts": {
            t.participant_id or mid: t.frame_pts
            for mid, t in client.tracks.items()
            if t.kind == "video"
        },
        "video_link": [
            {**m, "at": round(at - started, 3)}
            for m, at in zip(client.messages, client.message_times, strict=True)
            if m["type"] == "video_link"
        ],
        "keyframe_requests": receiver.keyframe_requests,
        "jitter_buffer_gave_up": receiver.gave_up,
        "bottleneck": {
            "dropped": link.dropped,
            "passed": link.passed,
            # kbps offered to the link each second, by RTP payload type (RTCP: 72-79)
            "offered_kbps": [
                {str(pt): n * 8 // 1000 for pt, n in sorted(link.offered[s].items())}
                for s in sorted(link.offered)
            ],
        },
    }
    await client.close()
    receiver.close()
    return report


def paused_spans(video_link: list[dict[str, Any]], end: float) -> list[tuple[float, float]]:
    """When a watcher was told its link carries no video (``video_link`` messages as reported,
    with ``at``), until it was told video is back, or ``end``."""
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for message in video_link:
        if message["paused"] and since is None:
            since = message["at"]
        elif not message["paused"] and since is not None:
            spans.append((since, message["at"]))
            since = None
    if since is not None:
        spans.append((since, end))
    return spans


def freezes(
    times: list[float], paused: list[tuple[float, float]], longer_than: float = FREEZE
) -> list[tuple[float, float]]:
    """[start, length] of each wait over ``longer_than`` between two decoded frames (seconds
    as reported), leaving out waits that overlap a time the watcher was told it gets sound only
    (its video was stopped on purpose, and it said so)."""
    out = []
    for a, b in itertools.pairwise(sorted(times)):
        if b - a > longer_than and not any(s < b and a < e for s, e in paused):
            out.append((round(a, 1), round(b - a, 1)))
    return out


def frame_rate(pts: list[int], clock_rate: int = 90000) -> float:
    """Decoded frames per second of the publisher's clock (what its camera gave, not how fast
    this process kept up)."""
    distinct = sorted(set(pts))
    if len(distinct) < 2:
        return 0.0
    span = ((distinct[-1] - distinct[0]) & 0xFFFFFFFF) / clock_rate
    return round((len(distinct) - 1) / span, 1)


class ReceiverEvents:
    """Seconds after ``started`` at which this process's aiortc receivers asked for a keyframe,
    and at which a video jitter buffer dropped what it held to get past a missing packet."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.keyframe_requests: list[float] = []
        self.gave_up: list[float] = []
        self._pli = RTCRtpReceiver._send_rtcp_pli
        self._smart_remove = JitterBuffer.smart_remove
        events = self

        async def send_pli(self: RTCRtpReceiver, media_ssrc: int) -> None:
            events.keyframe_requests.append(events._now())
            await events._pli(self, media_ssrc)

        def smart_remove(self: JitterBuffer, count: int) -> bool:
            if self._is_video:  # audio's 16-packet buffer skips ahead by design
                events.gave_up.append(events._now())
            return events._smart_remove(self, count)

        RTCRtpReceiver._send_rtcp_pli = send_pli  # type: ignore[method-assign]
        JitterBuffer.smart_remove = smart_remove  # type: ignore[method-assign]

    def _now(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def close(self) -> None:
        RTCRtpReceiver._send_rtcp_pli = self._pli  # type: ignore[method-assign]
        JitterBuffer.smart_remove = self._smart_remove  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--limit-kbps", type=int, default=0)
    parser.add_argument("--queue-ms", type=int, default=250, help="the bottleneck's buffer")
    parser.add_argument("--decode", action="store_true")
    args = parser.parse_args()
    with restrict_host_addresses(("127.0.0.1",)):  # aioice leaves loopback out otherwise
        seen = asyncio.run(
            watch(
                args.url,
                args.token,
                args.seconds,
                args.limit_kbps,
                queue_ms=args.queue_ms,
                decode=args.decode,
            )
        )
    args.out.write_text(json.dumps(seen), encoding="utf-8")


if __name__ == "__main__":
    main()
