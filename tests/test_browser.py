"""Real Chromium (Debian's, driven by Playwright) against the real server, both inside a
loopback-only network namespace. These tests never skip: without root or Chromium they fail
with the command to run."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.netns import CHROMIUM_ARGS, Netns, NetnsUnavailable, Stage
from bench.watcher import frame_rate, freezes, paused_spans
from sessions import audit, devices, lifecycle, meetings, sites, tokens
from sessions import db as database
from sessions.clock import SystemClock
from sessions.enums import (
    MeetingKind,
    MeetingPurpose,
    MeetingStatus,
    RecordingPolicy,
    Role,
)
from sessions.models import Attendance, Meeting, Recording, Site
from sessions.settings import Settings, load_settings
from sessions.tokens import JoinClaims, RoomRole
from tests.conftest import PASSWORD, ZONE, make_user
from web import kiosk_setup, tls

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def netns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Netns]:
    space = Netns(tmp_path_factory.mktemp("netns"))
    try:
        space.start()
    except NetnsUnavailable as exc:
        pytest.fail(str(exc))
    yield space
    space.close()


@pytest.fixture
def stage_settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "diemcau.sqlite3")
    return load_settings(environ={}, overrides={"data_dir": data_dir})


@pytest.fixture
async def sdb(stage_settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = database.create_async(stage_settings.effective_database_url)
    async with database.session_factory(engine, stage_settings.audit_key)() as session:
        yield session
    await engine.dispose()


@pytest.fixture
def stage(netns: Netns, stage_settings: Settings) -> Iterator[Stage]:
    running = Stage(netns, stage_settings.data_dir)
    yield running
    running.stop()


@pytest.fixture
async def browser(netns: Netns) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(netns.chromium), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
async def pages(
    browser: Browser, request: pytest.FixtureRequest, stage: Stage
) -> AsyncIterator[Callable[..., Awaitable[Page]]]:
    """Open pages in separate browser contexts; on failure keep a screenshot of each."""
    opened: list[tuple[str, Page, BrowserContext]] = []

    async def open_page(name: str, **options: Any) -> Page:
        context = await browser.new_context(**options)
        page = await context.new_page()
        page.set_default_timeout(20_000)
        opened.append((name, page, context))
        return page

    yield open_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = ARTIFACTS / request.node.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, page, _ in opened:
            try:
                await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            except Exception as exc:  # a crashed page still must not hide the real failure
                (folder / f"{name}.txt").write_text(f"no screenshot: {exc}")
        if stage.log.exists():
            shutil.copyfile(stage.log, folder / "server.log")
    for _, _, context in opened:
        await context.close()


# ---- arranging ---------------------------------------------------------------------------


async def arrange(
    db: AsyncSession,
    *,
    status: MeetingStatus,
    waiting_room: bool = False,
    recording: RecordingPolicy = RecordingPolicy.ALWAYS,
) -> dict[str, Any]:
    now = SystemClock().now()
    await sites.seed_sites(db, now)
    await db.flush()
    by_code = {s.code: s for s in await db.scalars(select(Site))}
    host = by_code[sites.PROVINCIAL_OFFICE_CODE]
    commune_a, commune_b = by_code["05977"], by_code["05983"]
    chair = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    meeting = await meetings.add(
        db,
        meetings.build(
            title="Đối thoại trực tuyến thử nghiệm",
            kind=MeetingKind.SCHEDULED,
            purpose=MeetingPurpose.DIALOGUE,
            chair_id=chair.id,
            # A scheduled meeting starts beyond the rooms' lead time, so the server's own
            # timetable does not open it before the test does.
            start=now + timedelta(minutes=5 if status is not MeetingStatus.SCHEDULED else 40),
            end=now + timedelta(hours=2),
            status=status,
            waiting_room=waiting_room,
            recording_policy=recording,
            created_at=now,
            host_site_id=host.id,
            participant_site_ids=[commune_a.id, commune_b.id],
        ),
        ZONE,
    )
    token_a = await devices.issue(db, commune_a, now, actor_id=None)
    token_b = await devices.issue(db, commune_b, now, actor_id=None)
    await db.commit()
    return {
        "meeting": meeting,
        "chair": chair,
        "a": commune_a,
        "b": commune_b,
        "kiosk_a": token_a,
        "kiosk_b": token_b,
    }


async def sign_in(page: Page, stage: Stage, username: str) -> None:
    await page.goto(f"{stage.url}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button.primary")
    await page.wait_for_url(f"{stage.url}/")


async def join_as_chair(page: Page, stage: Stage, meeting_id: int) -> None:
    await sign_in(page, stage, "lanhdao")
    await page.goto(f"{stage.url}/meetings/{meeting_id}/room")
    await page.wait_for_function("() => document.getElementById('preview').srcObject !== null")
    await page.check("#recording-ack")
    await page.click("#join")
    await page.wait_for_function("() => window.diemcau && window.diemcau.session.state === 'live'")


RENDERED = """() => Object.fromEntries(
    [...document.querySelectorAll('.tile:not(.self)')].map(t => [
        t.querySelector('.name').textContent,
        Number(t.querySelector('video').dataset.frames || 0),
    ]))"""
AUDIO = """async () => {
    const s = window.diemcau.session; const out = {};
    if (!s.subscribePc) return out;
    (await s.subscribePc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        const info = s.tracks.get(r.mid); if (!info) return;
        const p = s.participants.get(info.participant_id);
        if (p) out[p.name] = r.packetsReceived;
      }
    });
    return out;
}"""


async def rendered(page: Page) -> dict[str, int]:
    result: dict[str, int] = await page.evaluate(RENDERED)
    return result


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.25)


# ---- tests -----------------------------------------------------------------------------------


async def test_chair_and_two_kiosks_see_and_hear_each_other(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.start()
    chair = await pages("chair", viewport={"width": 1280, "height": 800})
    kiosk_a = await pages("kiosk-a", viewport={"width": 1280, "height": 720})
    kiosk_b = await pages("kiosk-b", viewport={"width": 1280, "height": 720})
    await join_as_chair(chair, stage, world["meeting"].id)
    await kiosk_a.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    await kiosk_b.goto(f"{stage.url}/kiosk/{world['kiosk_b']}")
    names = {chair: world["chair"].full_name, kiosk_a: world["a"].name, kiosk_b: world["b"].name}

    async def everyone_renders() -> bool:
        for page, own in names.items():
            frames = await rendered(page)
            others = [n for n in names.values() if n != own]
            if not all(frames.get(n, 0) >= 30 for n in others):
                return False
        return True

    await wait_for(everyone_renders, timeout=40)
    for page, own in names.items():
        audio = await page.evaluate(AUDIO)
        for other in (n for n in names.values() if n != own):
            assert audio.get(other, 0) > 25, (own, other, audio)
    # The server's side of the story.
    rooms = await chair.evaluate("fetch('/live/rooms').then(r => r.json())")
    people = {p["name"]: p for p in rooms["rooms"][0]["participants"]}
    assert set(people) == set(names.values())
    assert all(p["forwarded_packets"] > 100 and p["subscriptions"] == 4 for p in people.values())
    # Kiosks show titles only and joined as their endpoint.
    assert await kiosk_a.get_attribute("#app", "data-mode") == "room"

    # The chair's buttons on a tile never cover its picture.
    tile = chair.locator(".tile", has_text=world["a"].name)
    video_box = await tile.locator("video").bounding_box()
    buttons_box = await tile.locator(".chair-actions").bounding_box()
    assert video_box is not None
    assert buttons_box is not None
    assert buttons_box["y"] >= video_box["y"] + video_box["height"] - 0.5
    # The chair mutes commune A; its kiosk shows it, and so does everyone else.
    await tile.locator("[data-chair]").first.click()
    await kiosk_a.wait_for_selector(".tile.self[data-muted-by-chair=true]")
    await kiosk_a.wait_for_selector("[data-notice]:not([hidden])")
    await kiosk_b.wait_for_selector(".tile[data-muted-by-chair=true]")
    rooms = await chair.evaluate("fetch('/live/rooms').then(r => r.json())")
    assert {p["name"]: p["muted_by_chair"] for p in rooms["rooms"][0]["participants"]}[
        world["a"].name
    ]
    # Attendance recorded the chair's acknowledgement of the recording notice.
    sdb.expire_all()
    rows = list(await sdb.scalars(select(Attendance)))
    acks = {r.display_name: r.recording_notice_ack_at is not None for r in rows}
    assert acks[names[chair]] is True


CAMERA_DENIED = """const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (c) => c && c.video
      ? Promise.reject(new DOMException('denied', 'NotAllowedError')) : real(c);"""


async def test_four_participants_every_forwarded_packet_parses(
    stage: Stage,
    netns: Netns,
    sdb: AsyncSession,
    stage_settings: Settings,
    pages: Callable[..., Awaitable[Page]],
    tmp_path: Path,
) -> None:
    """Three browsers and one aiortc participant. A browser whose camera is denied publishes
    sound only and joins first, so the video of the next publisher lands on mid "2" in later
    subscriptions: the aiortc participant parses every packet forwarded to it as a stock
    aiortc subscriber does (a malformed send-time extension closed its transport)."""
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.start()
    meeting_id = world["meeting"].id
    voice = await pages("sound-only")
    await voice.add_init_script(CAMERA_DENIED)
    link = tokens.sign(
        JoinClaims(meeting_id, f"site:{world['b'].id}", world["b"].name, RoomRole.SITE, 4102444800),
        stage_settings.session_key,
    )
    await voice.goto(f"{stage.url}/join/{link}")
    await voice.wait_for_selector("#device-notice:not([hidden])")
    await voice.check("#recording-ack")
    await voice.click("#join")
    await voice.wait_for_function("() => window.diemcau && window.diemcau.session.audioOnly")
    chair = await pages("chair")
    await join_as_chair(chair, stage, meeting_id)
    kiosk = await pages("kiosk")
    await kiosk.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    await wait_for(lambda: _renders(kiosk, world["chair"].full_name, 10))
    # The sound-only browser sees the two cameras.
    await wait_for(lambda: _renders(voice, world["chair"].full_name, 30))
    await wait_for(lambda: _renders(voice, world["a"].name, 30))

    observer_token = tokens.sign(
        JoinClaims(meeting_id, "invitee:9", "Người quan sát", RoomRole.PARTICIPANT, 4102444800),
        stage_settings.session_key,
    )
    out = tmp_path / "observer.json"
    proc = netns.spawn(
        ["-m", "tests.observer", stage.url, observer_token, "5", str(out)],
        {},
        tmp_path / "observer.log",
    )
    await asyncio.to_thread(proc.wait, 60)
    assert out.exists(), (tmp_path / "observer.log").read_text()
    report = json.loads(out.read_text())
    assert report["welcome"] == "welcome"
    assert report["errors"] == [], report["errors"]
    # Sound only, then the chair's and the kiosk's sound and video: video on mid "2".
    assert report["mids"] == {"0": "audio", "1": "audio", "2": "video", "3": "audio", "4": "video"}
    assert all(count >= 30 for count in report["frames"].values()), report["frames"]
    assert report["connection"] == "connected"


async def test_a_weak_link_takes_fewer_layers_and_nobody_else_does(
    stage: Stage,
    netns: Netns,
    sdb: AsyncSession,
    stage_settings: Settings,
    pages: Callable[..., Awaitable[Page]],
    tmp_path: Path,
) -> None:
    """The chair's browser publishes three temporal layers. Two aiortc participants watch it,
    one behind a 450 kbps link: that one is moved off the top layer (to fewer frames, or to sound
    only and told so) while its decoder keeps a clean stream with no picture frozen for over a
    second; the other keeps every layer at the camera's 30 fps and loses no packet to the
    choice."""
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.start()
    meeting_id = world["meeting"].id
    chair = await pages("chair")
    await join_as_chair(chair, stage, meeting_id)

    async def rooms() -> dict[str, Any]:
        result = await chair.evaluate("fetch('/live/rooms').then(r => r.json())")
        room: dict[str, Any] = result["rooms"][0]
        return room

    async def chair_layered() -> bool:
        people = (await rooms())["participants"]
        return any(p["sources"].get("video", {}).get("layered") for p in people)

    await wait_for(chair_layered)
    procs = {}
    for name, limit in (("weak", 450), ("strong", 0)):
        token = tokens.sign(
            JoinClaims(meeting_id, f"invitee:{name}", name, RoomRole.PARTICIPANT, 4102444800),
            stage_settings.session_key,
        )
        procs[name] = netns.spawn(
            [
                "-m", "tests.observer", stage.url, token, "1", str(tmp_path / f"{name}.json"),
                "--seconds", "30", "--limit-kbps", str(limit),
            ],
            {},
            tmp_path / f"{name}.log",
        )  # fmt: skip
    seen: list[dict[str, Any]] = []
    while any(proc.poll() is None for proc in procs.values()):
        seen.append(await rooms())
        await asyncio.sleep(1)
    reports = {}
    for name in procs:
        out = tmp_path / f"{name}.json"
        assert out.exists(), (tmp_path / f"{name}.log").read_text()
        reports[name] = json.loads(out.read_text())
    last = {p["name"]: p for p in seen[-1]["participants"]}
    chair_id = next(p["id"] for p in last.values() if p["role"] == "chair")
    weak, strong = reports["weak"], reports["strong"]
    for report in (weak, strong):
        assert report["welcome"] == "welcome"
        assert report["errors"] == [], report["errors"]  # every forwarded packet parsed
    # The browser published layers, and the weak link was moved off the top at some point.
    assert last["weak"]["layers"][0]["switches"] >= 1, seen
    assert last["weak"]["layers"][0]["dropped_packets"] > 0
    weak_layers = {r["layer"] for r in _layer_history(seen, "weak")}
    assert weak_layers & {0, 1, None}, weak_layers
    # What it was sent decoded: frames arrived, fewer than for the strong link.
    assert len(weak["video"][chair_id]) > 0
    assert len(strong["video"][chair_id]) > len(weak["video"][chair_id])
    # No picture froze for over a second on the weak link (but while it was told it gets sound
    # only), and the strong link took every frame of the top layer: the chair's 30 fps camera.
    assert freezes(weak["video"][chair_id], paused_spans(weak["video_link"], 30.0)) == []
    assert frame_rate(strong["video_pts"][chair_id]) >= 29
    # Told when its link carried no video, and told again when it did.
    states = [m["paused"] for m in weak["video_link"]]
    assert states == [i % 2 == 0 for i in range(len(states))], states
    assert (None in weak_layers) == bool(states)
    # The strong link ends on the top layer, and none of its choices touched the weak one's.
    assert last["strong"]["layers"][0]["layer"] == 2
    assert strong["video_link"] == []
    assert (strong["bottleneck"]["dropped"], strong["bottleneck"]["passed"]) == (0, 0)


def _layer_history(seen: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        layer
        for room in seen
        for person in room["participants"]
        if person["name"] == name
        for layer in person["layers"]
    ]


async def test_the_chair_starts_and_pauses_the_recording(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    world = await arrange(sdb, status=MeetingStatus.OPEN, recording=RecordingPolicy.CHAIR)
    stage.start()
    chair = await pages("chair")
    kiosk = await pages("kiosk")
    await join_as_chair(chair, stage, world["meeting"].id)
    await kiosk.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    await wait_for(lambda: _renders(kiosk, world["chair"].full_name))
    switch = chair.locator("[data-action=recording]")
    assert await switch.inner_text() == "Bắt đầu ghi hình"
    assert await kiosk.locator("[data-recording]").is_hidden()

    await switch.click()
    await kiosk.wait_for_selector("[data-recording]:not([hidden]):not(.paused)")
    assert "Ghi hình" in await kiosk.inner_text("[data-recording]")
    await chair.wait_for_selector("[data-action=recording][aria-pressed=true]")
    assert await switch.inner_text() == "Tạm dừng ghi hình"
    await asyncio.sleep(2)  # something worth keeping

    await switch.click()
    await kiosk.wait_for_selector("[data-recording].paused:not([hidden])")
    assert await kiosk.inner_text("[data-recording]") == "Đã tạm dừng ghi hình"
    assert await switch.inner_text() == "Tiếp tục ghi hình"  # paused, not yet started
    # The pause closed the files: each participant's stretch is filed, hashed.
    meeting_id = world["meeting"].id
    expected = {world["chair"].full_name, world["a"].name}
    names: set[str] = set()
    for _ in range(40):
        sdb.expire_all()
        rows = list(await sdb.scalars(select(Recording).where(Recording.meeting_id == meeting_id)))
        names = {r.participant_label for r in rows if r.sha256}
        if len(names) >= 2:
            break
        await asyncio.sleep(0.25)
    assert names == expected


async def test_a_full_disk_alerts_the_chair_and_the_meeting_goes_on(
    stage: Stage, sdb: AsyncSession, small_disk: Path, pages: Callable[..., Awaitable[Page]]
) -> None:
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    filler = small_disk / "filler.bin"
    filler.write_bytes(b"\0" * 450_000)
    stage.extra_env["DIEMCAU_RECORDINGS_DIR"] = str(small_disk)
    stage.start()
    chair = await pages("chair")
    kiosk = await pages("kiosk")
    await join_as_chair(chair, stage, world["meeting"].id)
    await kiosk.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    problem = chair.locator("[data-recording-problem]")
    await chair.wait_for_selector("[data-recording-problem]:not([hidden])", timeout=40_000)
    assert "Ghi hình đang bị gián đoạn" in await problem.inner_text()
    # The meeting goes on: the chair still sees the commune.
    seen = (await rendered(chair)).get(world["a"].name, 0)
    await wait_for(lambda: _renders(chair, world["a"].name, seen + 30))
    # Space comes back: the alert goes by itself and the recording indicator returns.
    filler.unlink()
    await chair.wait_for_selector("[data-recording-problem]", state="hidden", timeout=30_000)
    await chair.wait_for_selector("[data-recording]:not([hidden])")


async def _renders(page: Page, name: str, at_least: int = 20) -> bool:
    return (await rendered(page)).get(name, 0) >= at_least


async def test_kiosk_joins_when_the_meeting_opens_and_returns_to_idle(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    world = await arrange(sdb, status=MeetingStatus.SCHEDULED)
    stage.start()
    kiosk = await pages("kiosk", viewport={"width": 1920, "height": 1080})
    await kiosk.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    await kiosk.wait_for_selector("#next-meetings li")
    assert "Đối thoại trực tuyến thử nghiệm" in await kiosk.inner_text("#next-meetings")
    assert await kiosk.inner_text("#site-name") == world["a"].name
    assert await kiosk.get_attribute("#app", "data-mode") == "idle"
    # Opened and ended from another process (as the command line or another node would), so
    # the server hears of it from the audit trail within a heartbeat and pushes it.
    meeting_id = world["meeting"].id
    now = datetime.now(UTC)
    assert await lifecycle.guarded_update(sdb, meeting_id, MeetingStatus.OPEN, now)
    await audit.record(sdb, now, None, "meeting.open", "meeting", meeting_id, {"by": "test"})
    await sdb.commit()
    await kiosk.wait_for_function(
        "() => document.getElementById('app').dataset.mode === 'room' && "
        "window.diemcau.session.state === 'live'",
        timeout=30_000,
    )
    assert await lifecycle.end_meeting(sdb, meeting_id, datetime.now(UTC), by="test")
    await sdb.commit()
    await kiosk.wait_for_function(
        "() => document.getElementById('app').dataset.mode === 'idle'", timeout=30_000
    )


async def test_kiosk_rejoins_after_the_server_restarts(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.start()
    chair = await pages("chair")
    kiosk = await pages("kiosk")
    await join_as_chair(chair, stage, world["meeting"].id)
    await kiosk.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    chair_name = world["chair"].full_name

    async def kiosk_sees_chair(at_least: int) -> bool:
        return (await rendered(kiosk)).get(chair_name, 0) >= at_least

    await wait_for(lambda: kiosk_sees_chair(20))
    # Every state the kiosk's session passes through, recorded in the page: the restart blocks
    # this test while the browser goes on, and may reconnect before the test looks again.
    await kiosk.evaluate(
        """() => { window.seenStates = [];
        window.diemcau.session.addEventListener('state',
            (e) => window.seenStates.push(e.detail.state)); }"""
    )
    await asyncio.to_thread(stage.restart)
    await kiosk.wait_for_function(
        "() => window.seenStates.some((s) => s !== 'live')", timeout=20_000
    )
    await kiosk.wait_for_function("() => window.diemcau.session.state === 'live'", timeout=40_000)
    before = (await rendered(kiosk)).get(chair_name, 0)
    await wait_for(lambda: kiosk_sees_chair(before + 20), timeout=40)


async def test_prejoin_check_reports_a_verdict(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.start()
    page = await pages("prejoin")
    await sign_in(page, stage, "lanhdao")
    await page.goto(f"{stage.url}/meetings/{world['meeting'].id}/room")
    await page.wait_for_function("() => document.getElementById('preview').srcObject !== null")
    assert await page.is_disabled("#join")  # the recording notice must be acknowledged
    await page.wait_for_function("() => Number(document.getElementById('level').dataset.level) > 0")
    assert await page.locator("#camera option").count() >= 1
    await page.click("#test-call")
    await page.wait_for_function(
        "() => ['good', 'fair', 'poor']"
        ".includes(document.getElementById('verdict').dataset.verdict)",
        timeout=20_000,
    )
    text = await page.inner_text("#verdict")
    assert any(word in text for word in ("Tốt", "Chấp nhận được", "Kém"))
    assert "ms" in text
    assert "kbps" in text


async def test_refusals_and_fallbacks(
    stage: Stage,
    sdb: AsyncSession,
    stage_settings: Settings,
    pages: Callable[..., Awaitable[Page]],
) -> None:
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.start()
    page = await pages("refusals")
    expired = tokens.sign(
        JoinClaims(world["meeting"].id, "invitee:1", "Hoàng Văn Sáng", RoomRole.PARTICIPANT, 1),
        stage_settings.session_key,
    )
    response = await page.goto(f"{stage.url}/join/{expired}")
    assert response is not None
    assert response.status == 410
    assert "Đường dẫn tham gia đã hết hạn" in await page.inner_text("main")
    response = await page.goto(f"{stage.url}/kiosk/khong-hop-le")
    assert response is not None
    assert response.status == 403
    assert "Thiết bị chưa được đăng ký" in await page.inner_text("main")

    # A browser without WebRTC is sent to the page naming supported browsers.
    no_webrtc = await pages("no-webrtc")
    await no_webrtc.add_init_script("delete window.RTCPeerConnection")
    await no_webrtc.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    await no_webrtc.wait_for_url(f"{stage.url}/unsupported")
    assert "Google Chrome" in await no_webrtc.inner_text("main")

    # A denied camera: the person joins with sound only and is told so.
    denied = await pages("camera-denied")
    await denied.add_init_script(CAMERA_DENIED)
    valid = tokens.sign(
        JoinClaims(world["meeting"].id, "site:1", "Trụ sở TCD tỉnh", RoomRole.SITE, 4102444800),
        stage_settings.session_key,
    )
    await denied.goto(f"{stage.url}/join/{valid}")
    await denied.wait_for_selector("#device-notice:not([hidden])")
    assert "âm thanh" in await denied.inner_text("#device-notice")
    assert await denied.get_attribute("#app", "data-camera") == "false"
    await denied.check("#recording-ack")
    await denied.click("#join")
    await denied.wait_for_function(
        "() => window.diemcau && window.diemcau.session.state === 'live'"
    )
    await denied.wait_for_function("() => window.diemcau.session.audioOnly === true")


async def test_over_https_with_the_local_ca_chromium_joins_a_meeting(
    netns: Netns, stage: Stage, sdb: AsyncSession, tmp_path: Path
) -> None:
    """`diemcau gen-cert`'s CA, installed in Chromium's own certificate store as a kiosk's
    guide says, and the server on TLS: the pages load as trusted HTTPS (no certificate
    override), cookies are Secure, HSTS is sent, and the chair and a kiosk see each other."""
    issued = tls.issue(tmp_path / "tls", ("127.0.0.1",))
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    store = ["certutil", "-d", f"sql:{nssdb}"]
    trust = ["-A", "-t", "C,,", "-n", "Diem cau CA", "-i", str(issued.ca_cert)]
    for command in ([*store, "-N", "--empty-password"], [*store, *trust]):
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.port = 8443
    stage.cafile = issued.ca_cert
    stage.extra_env = {
        "DIEMCAU_TLS_CERT": str(issued.cert),
        "DIEMCAU_TLS_KEY": str(issued.key),
        "DIEMCAU_PUBLIC_URL": "https://127.0.0.1:8443",
    }
    stage.start()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(netns.chromium), args=CHROMIUM_ARGS, env={"HOME": str(home)}
        )
        try:
            chair = await (await chromium.new_context()).new_page()
            kiosk = await (await chromium.new_context()).new_page()
            first = await chair.goto(f"{stage.url}/login")
            assert first is not None
            assert first.url.startswith("https://")
            assert first.headers.get("strict-transport-security") == "max-age=31536000"
            await join_as_chair(chair, stage, world["meeting"].id)
            cookies = await chair.context.cookies()
            assert {c["name"]: c["secure"] for c in cookies}["diemcau_session"] is True
            await kiosk.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
            await wait_for(lambda: _renders(chair, world["a"].name, 20), timeout=40)
            await wait_for(lambda: _renders(kiosk, world["chair"].full_name, 20), timeout=40)
        finally:
            await chromium.close()


async def test_booking_finds_endpoints_by_typing_and_links_copy(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    """The booking form's endpoint picker finds "Bắc Sơn" from "bac son"; a link copies."""
    await arrange(sdb, status=MeetingStatus.OPEN)
    await make_user(sdb, "canbo", Role.OFFICER)
    stage.start()
    page = await pages("officer", viewport={"width": 1280, "height": 900})
    await sign_in(page, stage, "canbo")
    await page.goto(f"{stage.url}/meetings/new")
    search = page.locator("[data-picker-search]")
    await search.fill("bac")  # no marks, no capitals: "Bắc Sơn" and "Lợi Bác" both match
    visible = await page.locator("[data-picker] label[data-name]:visible").all_inner_texts()
    assert sorted(v.strip() for v in visible) == ["UBND Xã Bắc Sơn", "UBND Xã Lợi Bác"]
    await search.fill("bac son")
    visible = await page.locator("[data-picker] label[data-name]:visible").all_inner_texts()
    assert [v.strip() for v in visible] == ["UBND Xã Bắc Sơn"]
    await page.check("[data-picker] label[data-name='UBND Xã Bắc Sơn'] input")
    await search.fill("dong dang")
    visible = await page.locator("[data-picker] label[data-name]:visible").all_inner_texts()
    # What is chosen stays in view whatever is typed next.
    assert sorted(v.strip() for v in visible) == ["UBND Xã Bắc Sơn", "UBND Xã Đồng Đăng"]
    assert await page.inner_text("[data-picker-count]") == "(1)"
    await page.screenshot(path=str(stage.data_dir / "booking-picker.png"))
    # A meeting's join link copies with one press (the field's text is what is copied).
    meeting = await sdb.scalar(select(Meeting))
    assert meeting is not None
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto(f"{stage.url}/meetings/{meeting.id}")
    copy = page.locator("[data-copy]").first
    await copy.click()
    await page.wait_for_function(
        "() => document.querySelector('[data-copy]').textContent === 'Đã sao chép'"
    )
    copied = await page.evaluate("navigator.clipboard.readText()")
    field = await page.input_value("#link-1")
    assert copied == field
    assert "/join/" in copied


async def test_two_editors_converge_on_the_minutes_and_a_conflict_is_merged(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    """The secretary writes, the chair's page follows within a second (server-sent events);
    an editor who missed an update meets the conflict and merges instead of overwriting."""
    world = await arrange(sdb, status=MeetingStatus.LIVE)
    meeting = world["meeting"]
    meeting.started_at = SystemClock().now()  # live: opinions can be marked "now"
    await sdb.commit()
    await make_user(sdb, "thuky", Role.SECRETARY, full_name="Vi Thị Lan")
    stage.start()
    secretary = await pages("secretary", viewport={"width": 1280, "height": 900})
    chair = await pages("chair", viewport={"width": 1280, "height": 900})
    await sign_in(secretary, stage, "thuky")
    await secretary.goto(f"{stage.url}/meetings/{meeting.id}/minutes")
    await secretary.click("text=Lập biên bản")
    await secretary.wait_for_selector("#minutes-editor")
    await sign_in(chair, stage, "lanhdao")
    await chair.goto(f"{stage.url}/meetings/{meeting.id}/minutes")
    await chair.wait_for_selector("#minutes-editor")
    # Live: the secretary types; autosave; the chair's page shows it without reloading.
    await secretary.fill("#m-issues", "Bồi thường đất nông nghiệp")
    await secretary.wait_for_function(
        "() => window.diemcauMinutes && window.diemcauMinutes.state.version === 2"
    )
    await chair.wait_for_function(
        "() => document.getElementById('m-issues').value === 'Bồi thường đất nông nghiệp'",
        timeout=5000,
    )
    # An opinion marked at the recording's "now".
    await secretary.click("[data-add-opinion]")
    await secretary.fill(".opinion [data-o=who]", "Hoàng Văn Sáng")
    await secretary.fill(".opinion [data-o=text]", "Đề nghị đo đạc lại")
    await secretary.click(".opinion button:has-text('Lúc này')")
    await secretary.wait_for_function(
        "() => window.diemcauMinutes.state.content.opinions.length === 1"
        " && window.diemcauMinutes.state.content.opinions[0].at !== null"
    )
    # The chair stops hearing of updates (a dropped link), the secretary saves once more,
    # then the chair edits another field and the same one: the chair's save meets a conflict.
    await chair.evaluate("() => { window.stop(); }")  # drops the open event stream
    await chair.route("**/minutes/events", lambda route: route.abort())
    await secretary.fill("#m-agreed", "Rà soát lại diện tích")
    await secretary.wait_for_function("() => window.diemcauMinutes.state.version >= 4")
    await chair.fill("#m-outstanding", "Đơn giá bồi thường")
    await chair.fill("#m-agreed", "Giữ nguyên diện tích")
    await chair.wait_for_selector("[data-conflict]:not([hidden])")
    merge = chair.locator("[data-merge]")
    assert await merge.count() == 1  # only the field both changed is asked about
    assert "Những nội dung đã thống nhất" in await merge.inner_text()
    await chair.screenshot(path=str(stage.data_dir / "minutes-conflict.png"), full_page=True)
    await chair.check("[data-merge] input[value=theirs]")
    await chair.click("[data-conflict-done]")
    await chair.wait_for_function("() => !window.diemcauMinutes.dirty")
    state = await chair.evaluate("() => window.diemcauMinutes.state")
    content = state["content"]
    assert content["agreed"] == "Rà soát lại diện tích"  # theirs, as chosen
    assert content["outstanding"] == "Đơn giá bồi thường"  # the chair's own change kept
    assert content["issues"] == "Bồi thường đất nông nghiệp"
    assert content["opinions"][0]["who"] == "Hoàng Văn Sáng"


async def test_a_kiosk_set_up_by_its_policy_joins_with_no_prompt_and_no_click(
    stage: Stage,
    sdb: AsyncSession,
    netns: Netns,
    tmp_path: Path,
    pages: Callable[..., Awaitable[Page]],
) -> None:
    """The managed policy ``diemcau site kiosk --setup`` writes, read by Chromium from
    /etc/chromium/policies/managed (bind-mounted in a private mount namespace, so this machine's
    own /etc is untouched): camera and microphone allowed for our origin without a prompt, sound
    playing without a click. Chromium runs without the fake-UI flag that accepts prompts."""
    world = await arrange(sdb, status=MeetingStatus.OPEN)
    stage.start()
    chair = await pages("chair")
    await join_as_chair(chair, stage, world["meeting"].id)
    kiosk_url = f"{stage.url}/kiosk/{world['kiosk_a']}"
    setup = kiosk_setup.write(tmp_path / "kiosk", kiosk_url)
    etc = tmp_path / "etc-chromium"
    (etc / "policies" / "managed").mkdir(parents=True)
    # Only the policy: the bind mount hides /etc/chromium's master_preferences, which a kiosk
    # does not need.
    policy_file = etc / "policies" / "managed" / kiosk_setup.POLICY_NAME
    shutil.copyfile(setup.folder / kiosk_setup.POLICY_NAME, policy_file)
    assert "--kiosk" in (setup.folder / kiosk_setup.AUTOSTART_NAME).read_text()
    wrapper = tmp_path / "chromium-with-policy"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'exec unshare -m --propagation private sh -c \'mount --bind "$0" /etc/chromium && '
        f'exec {netns.chromium} "$@"\' {etc} "$@"\n'
    )
    wrapper.chmod(0o755)
    bare = [
        a
        for a in CHROMIUM_ARGS
        if a not in ("--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required")
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(wrapper), args=bare)
        try:
            kiosk = await (await browser.new_context()).new_page()
            await kiosk.goto(kiosk_url)
            await kiosk.wait_for_function(
                "() => window.diemcau && window.diemcau.session.state === 'live'", timeout=30_000
            )
            # The camera was granted by the policy (no prompt was answered) ...
            assert await kiosk.get_attribute("#app", "data-camera") == "true"
            await wait_for(lambda: _renders(kiosk, world["chair"].full_name))
            # ... and the chair's sound plays though nobody clicked.
            await kiosk.wait_for_function(
                "() => [...document.querySelectorAll('audio')].some((a) => !a.paused)",
                timeout=20_000,
            )
        finally:
            await browser.close()


async def test_staff_check_an_idle_kiosk_from_the_board_and_see_its_verdict(
    stage: Stage, sdb: AsyncSession, pages: Callable[..., Awaitable[Page]]
) -> None:
    """The board's "Kiểm tra" reaches the idle kiosk at once; the kiosk makes its test call to
    the server (the pre-join probe, its device link as the ticket) and the verdict is shown."""
    world = await arrange(sdb, status=MeetingStatus.SCHEDULED)
    await make_user(sdb, "canbo", Role.OFFICER, full_name="Hoàng Thị Mai")
    await sdb.commit()
    stage.start()
    kiosk = await pages("kiosk")
    await kiosk.goto(f"{stage.url}/kiosk/{world['kiosk_a']}")
    await kiosk.wait_for_selector("#next-meetings li")
    officer = await pages("officer")
    await sign_in(officer, stage, "canbo")
    await officer.goto(f"{stage.url}/sites")
    row = f"tr[data-site='{world['a'].code}']"
    await officer.wait_for_selector(f"{row}[data-online=yes]")
    assert "Chrom" in await officer.inner_text(f"{row} td:nth-child(4)")
    await officer.click(f"{row} button[name=site]")
    await officer.wait_for_url(f"{stage.url}/sites#checks")

    async def verdict() -> bool:
        await officer.goto(f"{stage.url}/sites")
        text = await officer.inner_text(f"{row} td:nth-child(7)")
        return "Tốt" in text or "Trung bình" in text

    await wait_for(verdict, timeout=40)
    history = await (await officer.goto(f"{stage.url}/sites/readiness")).text()  # type: ignore[union-attr]
    assert world["a"].name in history
    assert "hoạt động / hoạt động" in history  # camera and microphone worked in the test call
