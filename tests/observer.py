"""A participant for the browser tests that is not a browser: the reference aiortc client, run
inside the test namespace (``python -m tests.observer URL TOKEN TRACKS OUT``). It publishes a
tone and a test pattern, audits every RTP packet the server forwards to it exactly as a stock
aiortc subscriber parses it (``PacketAudit``), and writes what it saw to OUT as JSON once it
has received ``TRACKS`` tracks with 30 frames each, or after 40 s."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

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


if __name__ == "__main__":
    with restrict_host_addresses(("127.0.0.1",)):  # aioice leaves loopback out otherwise
        seen = asyncio.run(observe(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    Path(sys.argv[4]).write_text(json.dumps(seen), encoding="utf-8")
