"""Forwarding benchmark: ``python -m bench.sfu [--json]``.

One publisher (640x480 at 30 fps VP8, about 800 kbps, plus Opus) to K subscribers, on loopback.
In one run it measures, alternating case by case so drift on this shared machine hits both alike:

- the **baseline**, stock aiortc ``MediaRelay`` (``bench/relay_server.py``), at K = 1, 2, 4, 8;
- the **project** server (``diemcau serve``) at the same K, then alone at K up to 66 (the
  province-wide session) to find the largest K at which every subscriber still gets ≥ 28 fps.

Load generators are cheap on purpose: the publisher replays frames encoded once in advance, and
subscribers count RTP frames straight off the socket without SRTP or decoding, so the figures are
the server's. The generator's own CPU is reported to tell who set a limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import av
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from bench.client import (
    Client,
    PreEncodedAudioTrack,
    PreEncodedVideoTrack,
    RawRtpCounter,
    encode_opus,
    encode_vp8,
)
from bench.harness import (
    CpuWindow,
    free_port,
    process,
    project_database,
    project_env,
    rss_mib,
    slope_through_origin,
    summary,
    wait_http,
)
from sessions import meetings
from sessions.tokens import RoomRole
from signaling.media.adapter import restrict_host_addresses

VP8_PT = 97
TARGET_FPS = 28.0
WARMUP = 2.0
WINDOW = 5.0


@dataclass
class Media:
    video: list[av.Packet[Any]]
    audio: list[av.Packet[Any]]


@dataclass
class CaseResult:
    server: str
    k: int
    server_cpu_pct: float
    server_rss_mib: float
    generator_cpu_pct: float
    received_pps: float
    forwarded_pps: float
    fps: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "k": self.k,
            "server_cpu_pct": round(self.server_cpu_pct, 1),
            "server_rss_mib": round(self.server_rss_mib, 1),
            "generator_cpu_pct": round(self.generator_cpu_pct, 1),
            "received_pps": round(self.received_pps, 1),
            "forwarded_pps": round(self.forwarded_pps, 1),
            "fps": summary(self.fps),
            "all_at_target": bool(self.fps) and min(self.fps) >= TARGET_FPS,
        }


def configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class Subscriber:
    """A receiving peer of either server that counts frames without decoding."""

    def __init__(self) -> None:
        self.counter = RawRtpCounter()

    def video_frames_between(self, start: float, end: float) -> int:
        return sum(
            sum(1 for t in times if start <= t < end)
            for ssrc, times in self.counter.frame_times.items()
            if self.counter.payload_types.get(ssrc) == VP8_PT
        )

    def packets(self) -> int:
        return sum(self.counter.packets.values())

    def has_video(self) -> bool:
        return any(
            self.counter.frames.get(s, 0) > 5
            for s, pt in self.counter.payload_types.items()
            if pt == VP8_PT
        )


class Target(Protocol):
    """How the load generator talks to one server."""

    name: str
    pid: int

    async def publish(self, media: Media) -> RTCPeerConnection: ...

    async def subscribe(self, index: int) -> Subscriber: ...

    async def reset(self) -> None: ...


class RelayTarget:
    name = "baseline_mediarelay"

    def __init__(self, url: str, pid: int, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.pid = pid
        self.session = session
        self.pcs: list[RTCPeerConnection] = []

    async def publish(self, media: Media) -> RTCPeerConnection:
        pc = RTCPeerConnection(configuration())
        self.pcs.append(pc)
        pc.addTransceiver(PreEncodedAudioTrack(media.audio), direction="sendonly")
        pc.addTransceiver(PreEncodedVideoTrack(media.video), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        async with self.session.post(
            f"{self.url}/publish", json={"sdp": pc.localDescription.sdp}
        ) as r:
            answer = await r.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await asyncio.sleep(1.0)  # let the server see both tracks before anyone subscribes
        return pc

    async def subscribe(self, index: int) -> Subscriber:
        subscriber = Subscriber()
        pc = RTCPeerConnection(configuration())
        self.pcs.append(pc)
        async with self.session.post(f"{self.url}/subscribe") as r:
            offer = await r.json()
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        subscriber.counter.attach(pc)
        assert pc.localDescription is not None
        async with self.session.post(
            f"{self.url}/subscribe/{offer['id']}", json={"sdp": pc.localDescription.sdp}
        ):
            pass
        return subscriber

    async def reset(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs))
        self.pcs.clear()
        async with self.session.post(f"{self.url}/reset"):
            pass


class ProjectTarget:
    name = "project"

    def __init__(
        self, url: str, pid: int, key: bytes, meeting_id: int, session: aiohttp.ClientSession
    ) -> None:
        self.url = url
        self.pid = pid
        self.key = key
        self.meeting_id = meeting_id
        self.session = session
        self.clients: list[Client] = []

    def _token(self, subject: str, role: RoomRole) -> str:
        from sessions import tokens

        return tokens.sign(
            tokens.JoinClaims(
                meeting_id=self.meeting_id,
                subject=subject,
                name=subject,
                role=role,
                expires=int(time.time()) + 3600,
            ),
            self.key,
        )

    async def publish(self, media: Media) -> RTCPeerConnection:
        client = Client(
            self.url,
            self._token("user:1", RoomRole.CHAIR),
            video=lambda: PreEncodedVideoTrack(media.video),
            audio=lambda: PreEncodedAudioTrack(media.audio),
            decode=False,
            session=self.session,
        )
        self.clients.append(client)
        await client.connect()
        await client.publish()
        assert client.publish_pc is not None
        return client.publish_pc

    async def subscribe(self, index: int) -> Subscriber:
        subscriber = Subscriber()
        client = Client(
            self.url,
            self._token(f"site:{index + 1}", RoomRole.SITE),
            decode=False,
            count_frames=False,
            session=self.session,
            on_subscribe_pc=subscriber.counter.attach,
        )
        self.clients.append(client)
        await client.connect()
        return subscriber

    async def reset(self) -> None:
        for client in self.clients:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await client.send({"type": "leave"})
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        self.clients.clear()
        await asyncio.sleep(0.5)


async def publisher_packets(pc: RTCPeerConnection) -> int:
    report = await pc.getStats()
    return sum(getattr(s, "packetsSent", 0) for s in report.values() if s.type == "outbound-rtp")


async def run_case(
    target: Target, media: Media, k: int | None, window: float = WINDOW
) -> CaseResult:
    """k=None: the server idle; k=0: a publisher and nobody watching. CPU is read in clock
    ticks (10 ms): a 5 s window resolves 0.2 % of a core, a longer one finer."""
    generator = CpuWindow(os.getpid())
    server = CpuWindow(target.pid)
    subscribers: list[Subscriber] = []
    publisher: RTCPeerConnection | None = None
    try:
        if k is not None:
            publisher = await target.publish(media)
            subscribers = list(await asyncio.gather(*(target.subscribe(i) for i in range(k))))
            await until(lambda: all(s.has_video() for s in subscribers), 30.0)
        await asyncio.sleep(WARMUP)
        sent_before = await publisher_packets(publisher) if publisher else 0
        received_before = sum(s.packets() for s in subscribers)
        start = time.monotonic()
        server.start()
        generator.start()
        await asyncio.sleep(window)
        server_share, _ = server.stop()
        generator_share, _ = generator.stop()
        end = time.monotonic()
        sent = (await publisher_packets(publisher) if publisher else 0) - sent_before
        forwarded = sum(s.packets() for s in subscribers) - received_before
        fps = [s.video_frames_between(start, end) / (end - start) for s in subscribers]
        return CaseResult(
            server=target.name,
            k=-1 if k is None else k,
            server_cpu_pct=100 * server_share,
            server_rss_mib=rss_mib(target.pid),
            generator_cpu_pct=100 * generator_share,
            received_pps=sent / (end - start),
            forwarded_pps=forwarded / (end - start),
            fps=fps,
        )
    finally:
        await target.reset()


async def until(test: Callable[[], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not test() and time.monotonic() < deadline:  # noqa: ASYNC110 (polling counters)
        await asyncio.sleep(0.2)


def prepare_project(data_dir: Path) -> tuple[bytes, int]:
    """A migrated database with endpoints, a chair and an open meeting; the token key."""
    from sessions.enums import (
        MeetingKind,
        MeetingPurpose,
        MeetingStatus,
        RecordingPolicy,
        Role,
    )
    from sessions.models import User, UserRole
    from sessions.users import hash_password

    with project_database(data_dir) as world:
        session, now = world.session, world.now
        session.add(
            User(
                id=1,
                username="lanhdao",
                full_name="Lãnh đạo",
                password_hash=hash_password("x" * 12),
                created_at=now,
                role_rows=[UserRole(role=Role.CHAIR)],
            )
        )
        meeting = meetings.build(
            title="Benchmark",
            kind=MeetingKind.AD_HOC,
            purpose=MeetingPurpose.RECEPTION,
            start=now,
            end=now + timedelta(hours=4),
            status=MeetingStatus.OPEN,
            waiting_room=False,
            recording_policy=RecordingPolicy.NEVER,
            quality_profile="high",
            created_at=now,
            host_site_id=1,
        )
        session.add(meeting)
        session.flush()
        meeting.reference = meetings.reference_of(meeting, world.zone)
        meeting_id = meeting.id
    return world.token_key, meeting_id


def report(results: list[CaseResult]) -> dict[str, Any]:
    by = {(r.server, r.k): r for r in results}
    project = sorted((r for r in results if r.server == "project" and r.k >= 1), key=lambda r: r.k)
    idle = by.get(("project", -1))
    alone = by.get(("project", 0))
    per_received = per_forwarded = None
    if idle and alone and alone.received_pps:
        per_received = (alone.server_cpu_pct - idle.server_cpu_pct) / 100 / alone.received_pps * 1e6
    if alone and project:
        xs = [r.forwarded_pps for r in project]
        ys = [(r.server_cpu_pct - alone.server_cpu_pct) / 100 for r in project]
        per_forwarded = slope_through_origin(xs, ys) * 1e6
    ratios = {}
    for k in (4, 8):
        base, ours = by.get(("baseline_mediarelay", k)), by.get(("project", k))
        if base and ours and ours.server_cpu_pct:
            ratios[f"k{k}"] = round(base.server_cpu_pct / ours.server_cpu_pct, 2)
    passing = [r.k for r in project if r.fps and min(r.fps) >= TARGET_FPS]
    failing = [r for r in project if not (r.fps and min(r.fps) >= TARGET_FPS)]
    largest = max(passing, default=0)
    limit_case = failing[0] if failing else (project[-1] if project else None)
    limited_by = "none: every K tried passed"
    if failing and limit_case is not None:
        if limit_case.server_cpu_pct >= 90:
            limited_by = "server"
        elif limit_case.generator_cpu_pct >= 90:
            limited_by = "load generator"
        else:
            limited_by = "neither process was saturated"
    per_subscriber = [
        round((r.server_cpu_pct - (alone.server_cpu_pct if alone else 0)) / r.k, 2) for r in project
    ]
    return {
        "command": "python -m bench.sfu --json",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "load": {
            "publisher": "1 x VP8 640x480 30 fps (about 800 kbps, pre-encoded) + Opus 20 ms",
            "subscribers": "count RTP frames off the socket, no SRTP, no decoding",
            "window_seconds": WINDOW,
        },
        "cases": [r.as_json() for r in results],
        "ratio_baseline_over_project_cpu": ratios,
        "server_cpu_us_per_forwarded_packet": None
        if per_forwarded is None
        else round(per_forwarded, 1),
        "server_cpu_us_per_received_packet": None
        if per_received is None
        else round(per_received, 1),
        "server_fixed_cpu_pct": None if idle is None else round(idle.server_cpu_pct, 2),
        "project_cpu_pct_per_subscriber": dict(
            zip([r.k for r in project], per_subscriber, strict=True)
        ),
        "largest_k_all_at_28fps": largest,
        "limited_by": limited_by,
    }


async def main_async(large_k: list[int], baseline_k: list[int]) -> dict[str, Any]:
    media = Media(video=encode_vp8(640, 480, 60, noisy=True), audio=encode_opus(1.0))
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="diemcau-bench-") as tmp:
        key, meeting_id = prepare_project(Path(tmp))
        project_port, relay_port = free_port(), free_port()
        env = project_env(tmp, project_port)
        with (
            process(["-m", "web.cli", "serve"], env) as project_proc,
            process(["-m", "bench.relay_server", "--port", str(relay_port)]) as relay_proc,
            restrict_host_addresses(("127.0.0.1",)),
        ):
            project_url = f"http://127.0.0.1:{project_port}"
            relay_url = f"http://127.0.0.1:{relay_port}"
            await wait_http(f"{project_url}/healthz", project_proc)
            await wait_http(f"{relay_url}/reset", relay_proc)
            async with aiohttp.ClientSession() as session:
                project = ProjectTarget(project_url, project_proc.pid, key, meeting_id, session)
                relay = RelayTarget(relay_url, relay_proc.pid, session)
                for k in [None, 0]:
                    for target in (relay, project):
                        results.append(await run_case(target, media, k))
                        log(results[-1])
                for k in baseline_k:
                    for target in (relay, project):
                        results.append(await run_case(target, media, k))
                        log(results[-1])
                for k in large_k:
                    results.append(await run_case(project, media, k))
                    log(results[-1])
    return report(results)


def log(result: CaseResult) -> None:
    fps = summary(result.fps)
    print(
        f"{result.server:>20} K={result.k:>3}  server {result.server_cpu_pct:5.1f}%  "
        f"generator {result.generator_cpu_pct:5.1f}%  fps min {fps['min']:5.1f} "
        f"median {fps['median']:5.1f}  in {result.received_pps:6.1f} pps  "
        f"out {result.forwarded_pps:7.1f} pps",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--large", default="16,32,48,66", help="project-only K values")
    parser.add_argument("--baseline", default="1,2,4,8", help="K values measured on both")
    args = parser.parse_args()
    result = asyncio.run(
        main_async(
            [int(k) for k in args.large.split(",") if k],
            [int(k) for k in args.baseline.split(",") if k],
        )
    )
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for case in result["cases"]:
            print(case)
        print({k: v for k, v in result.items() if k != "cases"})


if __name__ == "__main__":
    main()
