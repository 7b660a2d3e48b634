"""Recording benchmark: ``python -m bench.recording [--json]``.

Server CPU per recorded participant, the project's recorder (WebM muxed from the forwarded
frames) against aiortc's ``MediaRecorder`` (decode and re-encode), measured in one run on the
same load: P participants, each publishing VP8 640x480 at 30 fps (pre-encoded) and Opus, each
alone in its meeting so nothing else differs between "recorded" and "not recorded".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.client import (
    Client,
    PreEncodedAudioTrack,
    PreEncodedVideoTrack,
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
    wait_http,
)
from bench.sfu import Media, configuration
from sessions import meetings as meetings_
from sessions import tokens
from sessions.enums import (
    MeetingKind,
    MeetingPurpose,
    MeetingStatus,
    RecordingPolicy,
)
from sessions.tokens import RoomRole
from signaling.media.adapter import restrict_host_addresses

WARMUP = 3.0
WINDOW = 10.0


@dataclass
class Result:
    server: str
    recorded: bool
    participants: int
    cpu_pct: float
    rss_mib: float
    bytes_written: int
    bytes_after_stop: int

    def as_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "recorded": self.recorded,
            "participants": self.participants,
            "server_cpu_pct": round(self.cpu_pct, 1),
            "server_rss_mib": round(self.rss_mib, 1),
            "bytes_written_in_window": self.bytes_written,
            "bytes_after_stop": self.bytes_after_stop,
        }


def prepare(data_dir: Path, count: int) -> tuple[bytes, dict[bool, list[int]]]:
    """``count`` open meetings recorded always and ``count`` never, one commune each."""
    meetings: dict[bool, list[int]] = {True: [], False: []}
    with project_database(data_dir) as world:
        session, now = world.session, world.now
        for recorded in (True, False):
            for n in range(count):
                meeting = meetings_.build(
                    title="Đo ghi hình",
                    kind=MeetingKind.AD_HOC,
                    purpose=MeetingPurpose.RECEPTION,
                    start=now - timedelta(minutes=1),
                    end=now + timedelta(hours=3),
                    status=MeetingStatus.OPEN,
                    waiting_room=False,
                    created_at=now,
                    recording_policy=RecordingPolicy.ALWAYS if recorded else RecordingPolicy.NEVER,
                    host_site_id=n + 3,
                )
                session.add(meeting)
                session.flush()
                meeting.reference = meetings_.reference_of(meeting, world.zone)
                meetings[recorded].append(meeting.id)
    return world.token_key, meetings


def folder_size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def measure(pid: int, out_dir: Path) -> tuple[float, float, int]:
    await asyncio.sleep(WARMUP)
    before = await asyncio.to_thread(folder_size, out_dir)
    window = CpuWindow(pid)
    window.start()
    await asyncio.sleep(WINDOW)
    share, _ = window.stop()
    after = await asyncio.to_thread(folder_size, out_dir)
    return 100 * share, rss_mib(pid), after - before


async def project_case(
    url: str,
    pid: int,
    key: bytes,
    meetings: list[int],
    media: Media,
    recorded: bool,
    out_dir: Path,
    session: aiohttp.ClientSession,
) -> Result:
    clients = []
    start_size = await asyncio.to_thread(folder_size, out_dir)
    try:
        for n, meeting_id in enumerate(meetings):
            token = tokens.sign(
                tokens.JoinClaims(
                    meeting_id,
                    f"site:{n + 3}",
                    f"Điểm cầu {n}",
                    RoomRole.SITE,
                    int(time.time()) + 3600,
                ),
                key,
            )
            client = Client(
                url,
                token,
                video=lambda: PreEncodedVideoTrack(media.video),
                audio=lambda: PreEncodedAudioTrack(media.audio),
                decode=False,
                session=session,
            )
            clients.append(client)
            await client.connect()
            await client.publish()
        cpu, rss, written = await measure(pid, out_dir)
    finally:
        for client in clients:
            await client.send({"type": "leave"})
            await client.close()
    await asyncio.sleep(2.0)  # the writer thread closes the files after the room empties
    total = await asyncio.to_thread(folder_size, out_dir) - start_size
    return Result("project", recorded, len(meetings), cpu, rss, written, total)


async def relay_case(
    url: str,
    pid: int,
    count: int,
    media: Media,
    recorded: bool,
    out_dir: Path,
    session: aiohttp.ClientSession,
) -> Result:
    pcs: list[RTCPeerConnection] = []
    start_size = await asyncio.to_thread(folder_size, out_dir)
    try:
        for n in range(count):
            pc = RTCPeerConnection(configuration())
            pcs.append(pc)
            pc.addTransceiver(PreEncodedAudioTrack(media.audio), direction="sendonly")
            pc.addTransceiver(PreEncodedVideoTrack(media.video), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            assert pc.localDescription is not None
            target = f"{url}/publish"
            if recorded:
                await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
                target += f"?record={out_dir / f'baseline-{n}-{time.time_ns()}.webm'}"
            async with session.post(target, json={"sdp": pc.localDescription.sdp}) as r:
                answer = await r.json()
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        cpu, rss, written = await measure(pid, out_dir)
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs))
        async with session.post(f"{url}/reset"):
            pass
    # MediaRecorder's muxer buffers; its files reach their size when stopped.
    total = await asyncio.to_thread(folder_size, out_dir) - start_size
    return Result("baseline_mediarecorder", recorded, count, cpu, rss, written, total)


async def run(count: int, rounds: int) -> dict[str, Any]:
    media = Media(video=encode_vp8(640, 480, 60, noisy=True), audio=encode_opus(1.0))
    results: list[Result] = []
    per_round: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="diemcau-bench-rec-") as tmp:
        data = Path(tmp) / "data"
        key, meetings = prepare(data, count)
        project_port, relay_port = free_port(), free_port()
        env = project_env(data, project_port)
        baseline_dir = Path(tmp) / "baseline"
        with (
            process(["-m", "web.cli", "serve"], env) as project,
            process(["-m", "bench.relay_server", "--port", str(relay_port)]) as relay,
            restrict_host_addresses(("127.0.0.1",)),
        ):
            project_url = f"http://127.0.0.1:{project_port}"
            relay_url = f"http://127.0.0.1:{relay_port}"
            await wait_http(f"{project_url}/healthz", project)
            await wait_http(f"{relay_url}/reset", relay)
            async with aiohttp.ClientSession() as session:
                for _ in range(rounds):
                    # Alternate without/with for both servers, so drift hits both alike.
                    this_round: list[Result] = []
                    for recorded in (False, True):
                        this_round.append(
                            await relay_case(
                                relay_url, relay.pid, count, media, recorded, baseline_dir, session
                            )
                        )
                        print(this_round[-1].as_json(), file=sys.stderr)
                        this_round.append(
                            await project_case(
                                project_url + "/",
                                project.pid,
                                key,
                                meetings[recorded],
                                media,
                                recorded,
                                data / "recordings",
                                session,
                            )
                        )
                        print(this_round[-1].as_json(), file=sys.stderr)
                    results.extend(this_round)
                    by = {(r.server, r.recorded): r for r in this_round}
                    per_round.append(
                        {
                            server: (by[(server, True)].cpu_pct - by[(server, False)].cpu_pct)
                            / count
                            for server in ("project", "baseline_mediarecorder")
                        }
                    )
    per = {
        server: statistics.median(r[server] for r in per_round)
        for server in ("project", "baseline_mediarecorder")
    }
    ratios = [r["baseline_mediarecorder"] / r["project"] for r in per_round if r["project"] > 0]
    return {
        "command": "python -m bench.recording --json",
        "machine": {"cpus": os.cpu_count()},
        "load": (
            f"{count} participants, each VP8 640x480 30 fps (~800 kbps) + Opus, one per meeting"
        ),
        "window_seconds": WINDOW,
        "rounds": rounds,
        "cases": [r.as_json() for r in results],
        "cpu_pct_per_recorded_participant_by_round": [
            {k: round(v, 2) for k, v in r.items()} for r in per_round
        ],
        "cpu_pct_per_recorded_participant_median": {k: round(v, 2) for k, v in per.items()},
        "ratio_baseline_over_project_by_round": [round(r, 1) for r in ratios],
        "ratio_baseline_over_project_median": (
            round(statistics.median(ratios), 1) if ratios else None
        ),
        "note": "a per-participant cost below the CPU window's resolution (~0.1 %) gives no ratio",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--participants", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args.participants, args.rounds))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
