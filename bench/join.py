"""Join latency in real Chromium: ``python -m bench.join [--json] [--runs N]`` (root).

- **join → first remote frame**: a leader clicks "join" on the meeting page while a commune kiosk
  is already in the meeting; until the first frame of the kiosk's video is rendered
  (``requestVideoFrameCallback``).
- **meeting opens → kiosk's first frame**: two idle kiosks; the server's own scheduler opens a
  meeting that has come due (its ``opened_at`` is the start); the kiosks hear it on their push
  channel (no polling) and join; until each kiosk renders the other's first frame.

Everything runs inside a loopback-only network namespace, as the browser tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import select

from bench.netns import CHROMIUM_ARGS, Netns, Stage
from sessions import db as database
from sessions import devices, meetings, sites, users
from sessions.enums import (
    MeetingKind,
    MeetingPurpose,
    MeetingStatus,
    RecordingPolicy,
    Role,
)
from sessions.models import Meeting, Site
from sessions.settings import load_settings

PASSWORD = "mat-khau-do-hieu-nang"
FIRST_REMOTE_FRAME = """() => {
  const times = [...document.querySelectorAll('.tile:not(.self) video')]
    .map(v => Number(v.dataset.firstFrameAt || 0)).filter(Boolean);
  return times.length ? Math.min(...times) : 0;
}"""


async def prepare(data_dir: Path) -> dict[str, Any]:
    settings = load_settings(environ={}, overrides={"data_dir": data_dir})
    database.upgrade(database.create_sync(settings.effective_database_url))
    engine = database.create_async(settings.effective_database_url)
    now = datetime.now(UTC)
    async with database.session_factory(engine, settings.audit_key)() as db, db.begin():
        await sites.seed_sites(db, now)
        await db.flush()
        by_code = {s.code: s for s in await db.scalars(select(Site))}
        leader = await users.create_user(
            db,
            username="lanhdao",
            full_name="Lãnh đạo",
            password=PASSWORD,
            roles=[Role.CHAIR],
            at=now,
        )
        kiosk_a = await devices.issue(db, by_code["05977"], now, actor_id=None)
        kiosk_b = await devices.issue(db, by_code["05983"], now, actor_id=None)
        ids = {
            "leader": leader.id,
            "host": by_code[sites.PROVINCIAL_OFFICE_CODE].id,
            "a": by_code["05977"].id,
            "b": by_code["05983"].id,
        }
    await engine.dispose()
    return {"settings": settings, "kiosk_a": kiosk_a, "kiosk_b": kiosk_b, **ids}


async def new_meeting(url: str, world: dict[str, Any], status: MeetingStatus, n: int) -> int:
    engine = database.create_async(url)
    now = datetime.now(UTC)
    async with database.session_factory(engine, world["settings"].audit_key)() as db, db.begin():
        meeting = await meetings.add(
            db,
            meetings.build(
                title=f"Phiên đo {n}",
                kind=MeetingKind.AD_HOC,
                purpose=MeetingPurpose.RECEPTION,
                chair_id=world["leader"],
                start=now,
                end=now + timedelta(hours=1),
                status=status,
                waiting_room=False,
                recording_policy=RecordingPolicy.NEVER,
                created_at=now,
                host_site_id=world["host"],
                participant_site_ids=[world["a"], world["b"]],
            ),
            world["settings"].zone,
        )
        meeting_id = meeting.id
    await engine.dispose()
    return meeting_id


async def opened_by_the_server(url: str, meeting_id: int, timeout: float = 90.0) -> float:
    """Wait for the server's scheduler to open the meeting; when it did, in epoch ms."""
    engine = database.create_async(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            async with database.session_factory(engine, b"")() as db:
                meeting = await db.get(Meeting, meeting_id)
                if meeting is not None and meeting.opened_at is not None:
                    return meeting.opened_at.timestamp() * 1000
            await asyncio.sleep(0.02)
    finally:
        await engine.dispose()
    raise TimeoutError("the scheduler did not open the meeting")


async def signed_in_leader(browser: Browser, url: str) -> Page:
    """A page of its own with the demo leader signed in (dialogs accepted)."""
    leader = await (await browser.new_context()).new_page()
    leader.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await leader.goto(f"{url}/login")
    await leader.fill("#username", "lanhdao")
    await leader.fill("#password", PASSWORD)
    await leader.click("button.primary")
    await leader.wait_for_url(f"{url}/")
    return leader


async def enter_room(leader: Page, url: str, meeting_id: int) -> None:
    """Open a meeting's room, wait for the camera's preview and press join."""
    await leader.goto(f"{url}/meetings/{meeting_id}/room")
    await leader.wait_for_function("() => document.getElementById('preview').srcObject !== null")
    await leader.click("#join")


async def first_frame(page: Page, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = float(await page.evaluate(FIRST_REMOTE_FRAME))
        if value:
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError("no remote frame rendered")


async def run(runs: int) -> dict[str, Any]:
    join_ms: list[float] = []
    kiosk_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="diemcau-join-") as tmp:
        space = Netns(Path(tmp))
        space.start()
        try:
            world = await prepare(Path(tmp) / "data")
            url = world["settings"].effective_database_url
            stage = Stage(space, Path(tmp) / "data")
            await new_meeting(url, world, MeetingStatus.ENDED, 0)
            stage.start()
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(space.chromium), args=CHROMIUM_ARGS
                )
                kiosks = []
                for token in (world["kiosk_a"], world["kiosk_b"]):
                    page = await (await browser.new_context()).new_page()
                    await page.goto(f"{stage.url}/kiosk/{token}")
                    kiosks.append(page)
                leader = await signed_in_leader(browser, stage.url)
                for n in range(1, runs + 1):
                    # Meeting opens: both idle kiosks join by themselves.
                    meeting_id = await new_meeting(url, world, MeetingStatus.SCHEDULED, n)
                    opened = await opened_by_the_server(url, meeting_id)
                    for page in kiosks:
                        kiosk_ms.append(await first_frame(page) - opened)
                    # A leader joins a meeting the kiosks are already in.
                    await enter_room(leader, stage.url, meeting_id)
                    clicked = float(
                        await leader.evaluate(
                            "() => Number(document.getElementById('app').dataset.joinClickedAt)"
                        )
                    )
                    join_ms.append(await first_frame(leader) - clicked)
                    # The leader ends it; the kiosks go back to their idle screens.
                    await leader.wait_for_function("() => window.diemcau.session.role === 'chair'")
                    await leader.click("[data-action=end]")
                    for page in kiosks:
                        await page.wait_for_function(
                            "() => document.getElementById('app').dataset.mode === 'idle'"
                        )
                    print(
                        f"run {n}: join {join_ms[-1]:.0f} ms, "
                        f"kiosks {kiosk_ms[-2]:.0f} / {kiosk_ms[-1]:.0f} ms",
                        file=sys.stderr,
                    )
                await browser.close()
            stage.stop()
        finally:
            space.close()
    return {
        "command": "python -m bench.join --json",
        "runs": runs,
        "join_to_first_remote_frame_ms": {
            "median": round(statistics.median(join_ms)),
            "min": round(min(join_ms)),
            "max": round(max(join_ms)),
        },
        "meeting_open_to_kiosk_first_frame_ms": {
            "median": round(statistics.median(kiosk_ms)),
            "min": round(min(kiosk_ms)),
            "max": round(max(kiosk_ms)),
            "includes": "the push to the kiosk, its join and the other kiosk's first frame",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(run(args.runs))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
