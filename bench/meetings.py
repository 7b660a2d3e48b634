"""Concurrent three-endpoint meetings on one server process: ``python -m bench.meetings [--json]
[--counts 1,4,8,…] [--window S]``.

The election period's load: many communes in session at once. Each meeting links three endpoints
(the provincial office's chair and two communes) where everyone sees everyone: every endpoint
publishes 640x480 30 fps VP8 (pre-encoded, about 800 kbps) and Opus, and receives the other two
through the forwarder, counting frames off its socket without decoding. For each count M, M
meetings run at once; over a window the server's CPU, the load generator's CPU and the frame
rate of every received video stream are read. The baseline, measured in the same run, is the
same server idle and carrying one meeting: the report gives the CPU each meeting adds over idle,
the largest M at which every stream is still at 28 fps or more, and which side limited it.
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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

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
from bench.sfu import TARGET_FPS, VP8_PT, WARMUP, WINDOW, Media, until
from sessions import meetings as meetings_
from sessions import tokens
from sessions.enums import MeetingKind, MeetingPurpose, MeetingStatus, RecordingPolicy
from sessions.tokens import RoomRole
from signaling.media.adapter import restrict_host_addresses

ENDPOINTS = 3  # per meeting: the chair and two communes
JOIN_TIMEOUT = 90.0  # seconds for a meeting's three endpoints to join and publish


@dataclass
class Endpoint:
    client: Client
    counter: RawRtpCounter = field(default_factory=RawRtpCounter)

    def video_ssrcs(self) -> list[int]:
        return [s for s, pt in self.counter.payload_types.items() if pt == VP8_PT]

    def sees_everyone(self) -> bool:
        ssrcs = self.video_ssrcs()
        return len(ssrcs) >= ENDPOINTS - 1 and all(self.counter.frames.get(s, 0) > 5 for s in ssrcs)

    def fps_between(self, start: float, end: float) -> list[float]:
        return [
            sum(1 for t in self.counter.frame_times.get(s, []) if start <= t < end) / (end - start)
            for s in self.video_ssrcs()
        ]


@dataclass
class Case:
    meetings: int
    server_cpu_pct: float
    server_rss_mib: float
    generator_cpu_pct: float
    fps: list[float]
    refused_meetings: int = 0  # refused at hello (server_busy): the overload guard at work
    failed_meetings: int = 0  # an endpoint could not join within JOIN_TIMEOUT

    def as_json(self) -> dict[str, Any]:
        return {
            "meetings": self.meetings,
            "endpoints": self.meetings * ENDPOINTS,
            "video_streams_received": len(self.fps),
            "server_cpu_pct": round(self.server_cpu_pct, 1),
            "server_rss_mib": round(self.server_rss_mib, 1),
            "generator_cpu_pct": round(self.generator_cpu_pct, 1),
            "fps": summary(self.fps),
            "refused_meetings": self.refused_meetings,
            "failed_meetings": self.failed_meetings,
            "all_at_target": self.all_at_target,
        }

    @property
    def all_at_target(self) -> bool:
        return self.meetings == 0 or (
            len(self.fps) == self.meetings * ENDPOINTS * (ENDPOINTS - 1)
            and min(self.fps) >= TARGET_FPS
        )


def prepare(data_dir: Path, count: int) -> tuple[bytes, list[int]]:
    """``count`` open meetings, not recorded, without a waiting room."""
    made = []
    with project_database(data_dir) as world:
        for _ in range(count):
            meeting = meetings_.build(
                title="Phiên đo đồng thời",
                kind=MeetingKind.AD_HOC,
                purpose=MeetingPurpose.RECEPTION,
                start=world.now - timedelta(minutes=1),
                end=world.now + timedelta(hours=4),
                status=MeetingStatus.OPEN,
                waiting_room=False,
                recording_policy=RecordingPolicy.NEVER,
                quality_profile="high",
                created_at=world.now,
                host_site_id=1,
                participant_site_ids=[3, 4],
            )
            world.session.add(meeting)
            world.session.flush()
            meeting.reference = meetings_.reference_of(meeting, world.zone)
            made.append(meeting.id)
    return world.token_key, made


async def join_meeting(
    url: str, key: bytes, meeting_id: int, media: Media, session: aiohttp.ClientSession
) -> list[Endpoint]:
    people = [("user:1", RoomRole.CHAIR)] + [(f"site:{n}", RoomRole.SITE) for n in (3, 4)]
    endpoints: list[Endpoint] = []
    try:
        for subject, role in people:
            claims = tokens.JoinClaims(meeting_id, subject, subject, role, int(time.time()) + 3600)
            counter = RawRtpCounter()
            client = Client(
                url,
                tokens.sign(claims, key),
                video=lambda: PreEncodedVideoTrack(media.video),
                audio=lambda: PreEncodedAudioTrack(media.audio),
                decode=False,
                count_frames=False,
                session=session,
                on_subscribe_pc=counter.attach,
            )
            endpoints.append(Endpoint(client, counter))
            first = await client.connect()
            if first["type"] == "error":  # server_busy past capacity: the meeting is not held
                raise Refused(first.get("id", "error"))
            await client.publish()
    except BaseException:  # refused, timed out (a machine past its capacity) or cancelled
        await asyncio.gather(*(e.client.close() for e in endpoints), return_exceptions=True)
        raise
    return endpoints


class Refused(Exception):
    """The server refused an endpoint of the meeting (``server_busy`` when saturated)."""


async def run_case(
    url: str,
    pid: int,
    key: bytes,
    meeting_ids: list[int],
    media: Media,
    count: int,
    window: float = WINDOW,
) -> Case:
    generator, server = CpuWindow(os.getpid()), CpuWindow(pid)
    endpoints: list[Endpoint] = []
    async with aiohttp.ClientSession() as session:
        try:
            joined = await asyncio.gather(
                *(
                    asyncio.wait_for(join_meeting(url, key, m, media, session), JOIN_TIMEOUT)
                    for m in meeting_ids[:count]
                ),
                return_exceptions=True,
            )
            refused = [str(r) for r in joined if isinstance(r, Refused)]
            failed = [
                type(r).__name__
                for r in joined
                if isinstance(r, BaseException) and not isinstance(r, Refused)
            ]
            endpoints = [e for meeting in joined if isinstance(meeting, list) for e in meeting]
            await until(lambda: all(e.sees_everyone() for e in endpoints), 60.0)
            await asyncio.sleep(WARMUP)
            start = time.monotonic()
            server.start()
            generator.start()
            await asyncio.sleep(window)
            server_share, _ = server.stop()
            generator_share, _ = generator.stop()
            end = time.monotonic()
            return Case(
                meetings=count,
                server_cpu_pct=100 * server_share,
                server_rss_mib=rss_mib(pid),
                generator_cpu_pct=100 * generator_share,
                fps=[f for e in endpoints for f in e.fps_between(start, end)],
                refused_meetings=len(refused),
                failed_meetings=len(failed),
            )
        finally:
            for endpoint in endpoints:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await endpoint.client.send({"type": "leave"})
            await asyncio.gather(*(e.client.close() for e in endpoints), return_exceptions=True)
            await asyncio.sleep(1.0)


def report(cases: list[Case], window: float = WINDOW) -> dict[str, Any]:
    idle = next(c for c in cases if c.meetings == 0)
    loaded = [c for c in cases if c.meetings > 0]
    per_meeting = slope_through_origin(
        [c.meetings for c in loaded], [c.server_cpu_pct - idle.server_cpu_pct for c in loaded]
    )
    passing = [c.meetings for c in loaded if c.all_at_target]
    first_failing = next((c for c in loaded if not c.all_at_target), None)
    limited_by = "none: every count tried held"
    if first_failing is not None:
        if first_failing.failed_meetings and not first_failing.refused_meetings:
            limited_by = "machine: endpoints could not join in time (both processes busy)"
        elif first_failing.refused_meetings:
            limited_by = "server: saturated, it refused new meetings (server_busy)"
        elif first_failing.server_cpu_pct >= 90:
            limited_by = "server"
        elif first_failing.generator_cpu_pct >= 90:
            limited_by = "load generator"
        else:
            limited_by = "neither process was saturated"
    return {
        "command": "python -m bench.meetings --json --counts "
        + ",".join(str(c.meetings) for c in loaded)
        + ("" if window == WINDOW else f" --window {window:g}"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "load": {
            "meeting": f"{ENDPOINTS} endpoints, each publishing VP8 640x480 30 fps "
            "(pre-encoded) + Opus and receiving the other two",
            "window_seconds": window,
        },
        "baseline_idle": idle.as_json(),
        "cases": [c.as_json() for c in loaded],
        "server_cpu_pct_per_meeting": round(per_meeting, 2),
        "server_cpu_pct_per_meeting_by_count": {
            c.meetings: round((c.server_cpu_pct - idle.server_cpu_pct) / c.meetings, 2)
            for c in loaded
        },
        "largest_count_all_at_28fps": max(passing, default=0),
        "first_count_below_28fps": None if first_failing is None else first_failing.meetings,
        "limited_by": limited_by,
    }


async def main_async(counts: list[int], window: float = WINDOW) -> dict[str, Any]:
    media = Media(video=encode_vp8(640, 480, 60, noisy=True), audio=encode_opus(1.0))
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="diemcau-meetings-") as tmp:
        key, made = prepare(Path(tmp), max(counts))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with (
            process(["-m", "web.cli", "serve"], project_env(tmp, port)) as server,
            restrict_host_addresses(("127.0.0.1",)),
        ):
            await wait_http(f"{url}/healthz", server)
            await asyncio.sleep(2)
            for count in [0, *counts]:
                case = await run_case(url, server.pid, key, made, media, count, window)
                cases.append(case)
                fps = summary(case.fps)
                print(
                    f"M={count:>3}  server {case.server_cpu_pct:5.1f}%  generator "
                    f"{case.generator_cpu_pct:5.1f}%  streams {len(case.fps):>3}  fps min "
                    f"{fps['min']:5.1f} median {fps['median']:5.1f}  refused "
                    f"{case.refused_meetings}",
                    file=sys.stderr,
                )
                if (
                    count
                    and not case.all_at_target
                    and (case.server_cpu_pct >= 90 or case.refused_meetings)
                ):
                    break  # past the server's capacity: larger counts tell nothing more
    return report(cases, window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--counts", default="1,2,4,8,12,16,20,24", help="concurrent meetings")
    parser.add_argument(
        "--window",
        type=float,
        default=WINDOW,
        help="seconds of CPU measured per count (CPU is read in 10 ms ticks: longer is finer)",
    )
    args = parser.parse_args()
    result = asyncio.run(main_async([int(c) for c in args.counts.split(",") if c], args.window))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
