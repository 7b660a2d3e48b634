"""Media under loss: ``python -m bench.loss [--json]``.

A chair and two endpoints on loopback, every peer's datagrams impaired (2 % loss, up to 50 ms of
jitter, both directions, ``bench/impair.py``), against the same meeting on a clean path in the
same run. It reports, per case, the lowest frame rate any participant received from any other
over a steady window, the longest gap between two frames, and the ratio impaired / clean: how
much of the picture retransmission and the jitter buffer keep (the live test only checks that
video keeps flowing; rates are measured here, never asserted in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from bench.client import Client, SyntheticAudioTrack, SyntheticVideoTrack
from bench.impair import Impairment
from sessions import db as database
from sessions import meetings, sites
from sessions.enums import MeetingPurpose, MeetingStatus, RecordingPolicy
from sessions.settings import Settings, load_settings
from sessions.tokens import JoinClaims, RoomRole, sign
from web.app import create_app

WINDOW = 6.0  # seconds measured, after every participant sees every other
LOSS, JITTER = 0.02, 0.050


async def _meeting(settings: Settings) -> int:
    engine = database.create_async(settings.effective_database_url)
    now = datetime.now(UTC)
    try:
        async with database.session_factory(engine, settings.audit_key)() as db, db.begin():
            await sites.seed_sites(db, now)
            await db.flush()
            host = await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)
            assert host is not None
            meeting = await meetings.add(
                db,
                meetings.build(
                    title="Đo mất gói",
                    purpose=MeetingPurpose.RECEPTION,
                    start=now,
                    end=now + timedelta(hours=1),
                    status=MeetingStatus.OPEN,
                    waiting_room=False,
                    recording_policy=RecordingPolicy.NEVER,
                    created_at=now,
                    host_site_id=host.id,
                ),
                settings.zone,
            )
            return meeting.id
    finally:
        await engine.dispose()


def _token(settings: Settings, meeting_id: int, subject: str, role: RoomRole) -> str:
    claims = JoinClaims(
        meeting_id=meeting_id,
        subject=subject,
        name=subject,
        role=role,
        expires=int(datetime.now(UTC).timestamp()) + 3600,
        site_id=None,
    )
    return sign(claims, settings.session_key)


async def _case(settings: Settings, impaired: bool) -> dict[str, Any]:
    meeting_id = await _meeting(settings)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    impairments: list[Impairment] = []

    def impair(pc: Any) -> None:
        if impaired:
            impairment = Impairment(loss=LOSS, jitter=JITTER, seed=len(impairments) + 1)
            impairments.append(impairment)
            impairment.apply(pc)

    # Endpoints (seeded) as subjects, so the room's attendance journal has real rows to name.
    people = [("site:1", RoomRole.CHAIR), ("site:2", RoomRole.SITE), ("site:3", RoomRole.SITE)]
    everyone = [
        Client(
            str(server.make_url("/")),
            _token(settings, meeting_id, subject, role),
            video=SyntheticVideoTrack,
            audio=SyntheticAudioTrack,
            on_publish_pc=impair,
            on_subscribe_pc=impair,
        )
        for subject, role in people
    ]
    try:
        for c in everyone:
            await c.connect()
        await asyncio.gather(*(c.publish() for c in everyone))
        pairs = [(c, o) for c in everyone for o in everyone if o is not c]
        for _ in range(600):  # everyone sees everyone (at most a minute)
            if all(c.frames_from(o.participant_id) >= 30 for c, o in pairs):
                break
            await asyncio.sleep(0.1)
        marks = {(id(c), id(o)): c.frames_from(o.participant_id) for c, o in pairs}
        for c in everyone:
            for t in c.tracks.values():
                t.max_gap.clear()
        await asyncio.sleep(WINDOW)
        fps = [(c.frames_from(o.participant_id) - marks[(id(c), id(o))]) / WINDOW for c, o in pairs]
        gaps = [c.max_gap_from(o.participant_id) for c, o in pairs]
        return {
            "lowest_fps": round(min(fps), 1),
            "mean_fps": round(sum(fps) / len(fps), 1),
            "longest_gap_s": round(max(gaps), 3),
            "datagrams_dropped": sum(i.dropped for i in impairments),
        }
    finally:
        await asyncio.gather(*(c.close() for c in everyone), return_exceptions=True)
        await server.close()


async def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for impaired in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings(
                environ={},
                overrides={
                    "data_dir": Path(folder),
                    "ice_host_addresses": ("127.0.0.1",),
                    "ice_allowed_remote": ("127.0.0.1/32",),
                    "log_level": "WARNING",
                },
            )
            database.upgrade(database.create_sync(settings.effective_database_url))
            results["impaired" if impaired else "clean"] = await _case(settings, impaired)
    results["ratio_impaired_over_clean_lowest_fps"] = round(
        results["impaired"]["lowest_fps"] / max(results["clean"]["lowest_fps"], 0.1), 2
    )
    results["conditions"] = {"loss": LOSS, "jitter_s": JITTER, "window_s": WINDOW}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args()
    out = asyncio.run(run())
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
