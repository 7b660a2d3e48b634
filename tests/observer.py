"""A participant for the browser tests that is not a browser: the reference aiortc client, run
inside the test namespace (``python -m tests.observer URL TOKEN TRACKS OUT``). It publishes a
tone and a test pattern, audits every RTP packet the server forwards to it exactly as a stock
aiortc subscriber parses it (``PacketAudit``), and writes what it saw to OUT as JSON once it
has received ``TRACKS`` tracks with 30 frames each, or after 40 s.

With ``--seconds S`` it is ``bench.watcher`` instead (sound only, behind a link of
``--limit-kbps``, decoding what it receives), with the packet audit added to its report."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import bench.watcher
from bench.client import Client, SyntheticAudioTrack, SyntheticVideoTrack
from signaling.media.adapter import restrict_host_addresses
from tests.live.support import PacketAudit


async def observe(url: str, token: str, tracks: int) -> dict[str, object]:
    audit = PacketAudit()
    client = Client(
        url,
        token,
        audio=SyntheticAudioTrack,
        video=SyntheticVideoTrack,
        on_subscribe_pc=audit.attach,
    )
    welcome = await client.connect()
    if welcome["type"] == "welcome":
        await client.publish()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            counted = [t for t in client.tracks.values() if sum(t.frames.values()) >= 30]
            if len(counted) >= tracks:
                break
            await asyncio.sleep(0.2)
    report: dict[str, object] = {
        "welcome": welcome["type"],
        "packets": audit.packets,
        "mids": audit.mids,
        "errors": audit.errors[:10],
        "frames": {mid: sum(t.frames.values()) for mid, t in client.tracks.items()},
        "connection": client.subscribe_pc.connectionState if client.subscribe_pc else None,
    }
    await client.close()
    return report


async def watch(url: str, token: str, seconds: float, limit_kbps: int) -> dict[str, object]:
    audit = PacketAudit()
    report = await bench.watcher.watch(
        url, token, seconds, limit_kbps, decode=True, on_subscribe_pc=audit.attach
    )
    return {**report, "errors": audit.errors[:10]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("tracks", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--limit-kbps", type=int, default=0)
    args = parser.parse_args()
    with restrict_host_addresses(("127.0.0.1",)):  # aioice leaves loopback out otherwise
        if args.seconds:
            seen = asyncio.run(watch(args.url, args.token, args.seconds, args.limit_kbps))
        else:
            seen = asyncio.run(observe(args.url, args.token, args.tracks))
    args.out.write_text(json.dumps(seen), encoding="utf-8")
