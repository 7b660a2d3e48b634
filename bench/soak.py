"""A day of sessions on one server process: ``python -m bench.soak [--json] [--meetings N]
[--seconds S] [--probe [--trace]]``.

One ``diemcau serve`` process hosts N recorded meetings one after another, each with four
endpoints (a chair and three sites, every one publishing pre-encoded VP8 640x480 and Opus, every
one receiving the others through the forwarder), each ended by its chair after S seconds. After
each meeting (once its room is gone and its files closed) the server's RSS, threads and open file
descriptors are read from /proc; the baseline is the same figures before the first meeting.
Target: after the last, RSS within 30 MB of its value after the first, threads and fds back to
their value before the first.

With ``--probe`` the server runs under ``bench.soak_probe``: after each meeting's figures are
read, it reports the media and server objects it still holds (against before the first meeting)
and its RSS before and after returning freed heap to the system (``malloc_trim``); ``--trace``
adds tracemalloc's lines that allocated most (slower).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.client import Client, PreEncodedAudioTrack, PreEncodedVideoTrack, encode_opus, encode_vp8
from bench.harness import free_port, process, project_database, project_env, rss_mib, wait_http
from bench.sfu import Media
from sessions import meetings as meetings_
from sessions import tokens
from sessions.enums import MeetingKind, MeetingPurpose, MeetingStatus, RecordingPolicy
from sessions.tokens import RoomRole
from signaling.media.adapter import restrict_host_addresses

SITES = 3
SETTLE = 3.0  # seconds after the chair ends a meeting: the room closes, the writer closes files


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError("no Threads line")


def fds_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def prepare(data_dir: Path, count: int) -> tuple[bytes, list[int]]:
    """``count`` open meetings, recorded always, each with a host and three communes."""
    made = []
    with project_database(data_dir) as world:
        session, now = world.session, world.now
        for _ in range(count):
            meeting = meetings_.build(
                title="Phiên đo cả ngày",
                kind=MeetingKind.AD_HOC,
                purpose=MeetingPurpose.RECEPTION,
                start=now - timedelta(minutes=1),
                end=now + timedelta(hours=12),
                status=MeetingStatus.OPEN,
                waiting_room=False,
                created_at=now,
                recording_policy=RecordingPolicy.ALWAYS,
                host_site_id=1,
                participant_site_ids=[3, 4, 5],
            )
            session.add(meeting)
            session.flush()
            meeting.reference = meetings_.reference_of(meeting, world.zone)
            made.append(meeting.id)
    return world.token_key, made


def thread_names(pid: int) -> list[str]:
    return sorted(
        (task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()
    )


def fd_targets(pid: int) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        found.append(target.split(":[")[0] if ":[" in target else target)
    return sorted(found)


def _extra(now: list[str], then: list[str]) -> list[str]:
    left = list(now)
    for item in then:
        if item in left:
            left.remove(item)
    return left


async def probe(pid: int, report: Path, before: int) -> dict[str, Any]:
    """Ask the probed server (``bench.soak_probe``) for its report and wait for it."""
    os.kill(pid, signal.SIGUSR1)
    for _ in range(600):
        await asyncio.sleep(0.1)
        with contextlib.suppress(FileNotFoundError, ValueError):
            found: dict[str, Any] = json.loads(await asyncio.to_thread(report.read_text))
            if found["report"] > before:
                return found
    raise TimeoutError("the probed server did not report")


def _grown(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
    return {k: v - then.get(k, 0) for k, v in now.items() if v - then.get(k, 0) > 0}


def figures(pid: int) -> dict[str, float]:
    return {"rss_mib": round(rss_mib(pid), 1), "threads": threads_of(pid), "fds": fds_of(pid)}


async def one_meeting(
    url: str, key: bytes, meeting_id: int, media: Media, seconds: float, session: Any
) -> None:
    people = [("user:1", "Chủ trì", RoomRole.CHAIR)] + [
        (f"site:{n + 3}", f"Điểm cầu {n + 1}", RoomRole.SITE) for n in range(SITES)
    ]
    clients = []
    try:
        for subject, name, role in people:
            claims = tokens.JoinClaims(meeting_id, subject, name, role, int(time.time()) + 3600)
            client = Client(
                url,
                tokens.sign(claims, key),
                video=lambda: PreEncodedVideoTrack(media.video),
                audio=lambda: PreEncodedAudioTrack(media.audio),
                decode=False,
                session=session,
            )
            clients.append(client)
            await client.connect()
            await client.publish()
        await asyncio.sleep(seconds)
        await clients[0].send({"type": "end_meeting"})
        for client in clients:
            await client.wait_for("meeting_ended")
    finally:
        for client in clients:
            await client.close()


async def run(count: int, seconds: float, probed: bool, trace: bool) -> dict[str, Any]:
    media = Media(video=encode_vp8(640, 480, 60, noisy=True), audio=encode_opus(1.0))
    after: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="diemcau-soak-") as tmp:
        key, made = prepare(Path(tmp), count)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = project_env(tmp, port)
        report = Path(tmp) / "probe.json"
        command = ["-m", "web.cli", "serve"]
        if probed:
            command = ["-m", "bench.soak_probe", "serve"]
            env["DIEMCAU_SOAK_REPORT"] = str(report)
            if trace:
                env["PYTHONTRACEMALLOC"] = "1"
        with (
            process(command, env) as server,
            restrict_host_addresses(("127.0.0.1",)),
        ):
            await wait_http(f"{url}/healthz", server)
            await asyncio.sleep(2)
            before: dict[str, Any] = figures(server.pid)
            names_before, fds_before = thread_names(server.pid), fd_targets(server.pid)
            held: dict[str, Any] = {}
            if probed:
                held = await probe(server.pid, report, 0)
                before["rss_after_trim_mib"] = held["rss_after_trim_mib"]
            async with aiohttp.ClientSession() as session:
                for number, meeting_id in enumerate(made, start=1):
                    await one_meeting(url, key, meeting_id, media, seconds, session)
                    await asyncio.sleep(SETTLE)
                    after.append(figures(server.pid))
                    if probed:
                        found = await probe(server.pid, report, number)
                        after[-1]["rss_after_trim_mib"] = found["rss_after_trim_mib"]
                        after[-1]["objects_grown"] = _grown(found["objects"], held["objects"])
                        after[-1]["tasks"] = found["tasks"]
                        if trace:
                            after[-1]["allocated_most"] = found["grown_since_first"][:10]
                    print(f"meeting {number}: {after[-1]}", file=sys.stderr)
            extra_threads = _extra(thread_names(server.pid), names_before)
            extra_fds = _extra(fd_targets(server.pid), fds_before)
    first, last = after[0], after[-1]
    return {
        "command": f"python -m bench.soak --json --meetings {count} --seconds {seconds:g}"
        + (" --probe" if probed else "")
        + (" --trace" if trace else ""),
        "meetings": count,
        "endpoints_per_meeting": 1 + SITES,
        "seconds_per_meeting": seconds,
        "before_first": before,
        "after_each": after,
        "rss_growth_after_first_mib": round(last["rss_mib"] - first["rss_mib"], 1),
        "threads_left_over": last["threads"] - before["threads"],
        "fds_left_over": last["fds"] - before["fds"],
        "threads_left_over_names": extra_threads,
        "fds_left_over_kinds": extra_fds,
        "targets": {"rss_growth_mib": 30, "threads_left_over": 0, "fds_left_over": 0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--meetings", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--probe", action="store_true", help="report what the server holds")
    parser.add_argument("--trace", action="store_true", help="with --probe: tracemalloc too")
    args = parser.parse_args()
    result = asyncio.run(run(args.meetings, args.seconds, args.probe, args.trace))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
