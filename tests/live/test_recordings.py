"""Recordings: muxed without transcoding, verifiable, surviving a killed server and a full disk,
played and downloaded only by those entitled, every access audited."""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bench.client import (
    Client,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    encode_opus,
    encode_vp8,
)
from recordings import catalog
from recordings import combine as combiner
from recordings.store import RecordingStore
from recordings.writer import Segment
from sessions import audit
from sessions import db as database
from sessions.clock import Clock, SystemClock
from sessions.enums import (
    MeetingStatus,
    RecordingKind,
    RecordingPolicy,
    RecordingStatus,
    Role,
)
from sessions.models import Attendance, AuditEvent, Notification, Recording, Site
from sessions.settings import Settings
from sessions.tokens import RoomRole
from signaling.media.adapter import restrict_host_addresses
from tests.conftest import Client as WebClient
from tests.conftest import csrf_of, login, make_user
from tests.factories import make_meeting, shown, token
from tests.live.support import (
    ClientFactory,
    Served,
    all_see_all,
    flowing,
    joined,
    wait_until,
)
from web.app import create_app
from web.cli import main as cli


@pytest.fixture
def clock() -> Clock:
    """Recordings are about real durations: a real clock."""
    return SystemClock()


def decode_counts(path: Path) -> tuple[int, int, float]:
    """(video frames, audio frames, seconds) decoded by PyAV."""
    video = audio = 0
    last = 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            video += 1
            last = max(last, float(frame.time or 0))
    with av.open(str(path)) as container:
        if container.streams.audio:
            for sound in container.decode(audio=0):
                audio += 1
                last = max(last, float(sound.time or 0))
    return video, audio, last


async def finished_rows(db: AsyncSession, meeting_id: int, count: int) -> list[Recording]:
    for _ in range(100):
        db.expire_all()
        rows = list(await db.scalars(select(Recording).where(Recording.meeting_id == meeting_id)))
        done = [r for r in rows if r.status is not RecordingStatus.RECORDING]
        if len(done) >= count and len(done) == len(rows):
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"recordings did not finish: {[(r.id, r.status) for r in rows]}")


async def test_each_participant_is_recorded_as_it_was_sent(
    clients: ClientFactory,
    db: AsyncSession,
    server: TestServer,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    meeting = await make_meeting(db, recording=RecordingPolicy.ALWAYS)
    folder = f"chua-gan-vu-viec/{meeting.reference.lower()}/"
    meeting_id = meeting.id
    chair, site = await joined(clients, db, meeting_id, n_sites=1)
    assert chair.welcome["recording"] is True
    await wait_until(lambda: all_see_all([chair, site], 10))
    await flowing([chair, site], 150)  # about five seconds each way, then end
    await chair.send({"type": "end_meeting"})
    await chair.wait_for("meeting_ended")
    rows = await finished_rows(db, meeting_id, 2)
    assert {r.kind for r in rows} == {RecordingKind.PARTICIPANT}
    assert {r.participant_label for r in rows} == {"Lương Văn Bình", "Điểm cầu 1"}
    store = RecordingStore(settings.recordings_root, settings.signing_key)

    async def departures() -> dict[str, Attendance]:
        """Each participant's attendance, once the room has written its departure."""
        query = (
            select(Attendance)
            .where(Attendance.meeting_id == meeting_id)
            .execution_options(populate_existing=True)
        )
        for _ in range(100):
            found = {a.display_name: a for a in await db.scalars(query)}
            if found and all(a.left_at is not None for a in found.values()):
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("the departures were not written")

    attendance = await departures()
    for row in rows:
        assert row.status is RecordingStatus.COMPLETE
        path = store.resolve(row.relative_path)
        assert row.relative_path.startswith(folder)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert store.hash(row.relative_path) == (row.sha256, row.size_bytes)
        video, audio, seconds = decode_counts(path)
        # Everything the other side received went into the file too (the file starts at the
        # first keyframe, the other side's count a little before).
        assert video >= 150
        assert audio > 0
        assert row.video_frames == video  # the catalog says what the file holds
        # The file lies within the participant's attendance.
        present = attendance[row.participant_label]
        assert present.left_at is not None
        assert present.joined_at is not None
        assert seconds <= (present.left_at - present.joined_at).total_seconds()
    # One signed manifest as the participants' files closed, one as the meeting ended; the
    # last one covers every file.
    manifests = list(store.manifests())
    assert len(manifests) >= 2
    checks = [store.check_manifest(m) for m in manifests]
    assert all(c.signature_ok and c.problems == () for c in checks), checks
    assert {(r.relative_path, r.sha256) for r in rows} <= set().union(*(c.covers for c in checks))
    # The stop is audited once the manifest is written (a background write: wait for it).
    for _ in range(100):
        actions = set(await db.scalars(select(AuditEvent.action)))  # columns: read afresh
        if "recording.stop" in actions:
            break
        await asyncio.sleep(0.1)
    assert {"recording.start", "recording.stop"} <= actions
    # And the whole store verifies; an altered byte is found.
    os.environ["DIEMCAU_DATA_DIR"] = str(settings.data_dir)
    os.environ["DIEMCAU_DATABASE_URL"] = settings.effective_database_url
    try:
        assert await asyncio.to_thread(cli, ["verify"]) == 0
        capsys.readouterr()
        victim = store.resolve(rows[0].relative_path)
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
        assert await asyncio.to_thread(cli, ["verify"]) == 1
        assert f"{rows[0].relative_path}: altered" in capsys.readouterr().out
        # A manifest removed: the files it vouched for are named.
        for relative in store.manifests():
            store.resolve(relative).unlink()
        assert await asyncio.to_thread(cli, ["verify"]) == 1
        out = capsys.readouterr().out
        for row in rows:
            assert f"recording #{row.id} {row.relative_path}: no signed manifest covers it" in out
        # An audit event edited in the database, the chain recomputed without the key.
        await db.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "recording.start")
            .values(details={"by": "someone else"})
        )
        await db.commit()
        seq = await db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "recording.start"))
        assert await asyncio.to_thread(cli, ["verify"]) == 1
        assert f"audit trail: event {seq}: content does not match its hash" in (
            capsys.readouterr().out
        )
    finally:
        del os.environ["DIEMCAU_DATA_DIR"]
        del os.environ["DIEMCAU_DATABASE_URL"]


async def test_the_chair_starts_and_pauses_where_allowed(
    clients: ClientFactory, db: AsyncSession, server: TestServer, settings: Settings
) -> None:
    meeting = await make_meeting(db, recording=RecordingPolicy.CHAIR)
    meeting_id = meeting.id
    chair, site = await joined(clients, db, meeting_id, n_sites=1)
    assert chair.welcome["recording"] is False
    await wait_until(lambda: all_see_all([chair, site], 10))
    mark = len(site.messages)
    await site.send({"type": "recording_control", "action": "start"})
    assert (await site.wait_for("error", after=mark))["id"] == "not_allowed"
    await chair.send({"type": "recording_control", "action": "start"})
    assert (await site.wait_for("recording", after=mark))["active"] is True
    await flowing([chair, site], 60)
    mark = len(site.messages)
    await chair.send({"type": "recording_control", "action": "stop"})
    paused = await site.wait_for("recording", after=mark)
    assert paused == {"type": "recording", "active": False, "detail": "paused"}
    # The two files the pause closed are vouched for by a signed manifest while the meeting
    # goes on, not only when it ends.
    store = RecordingStore(settings.recordings_root, settings.signing_key)

    def closed_files_signed() -> bool:
        for relative in store.manifests():
            check = store.check_manifest(relative)
            if check.signature_ok and sum(sha not in ("", "None") for _, sha in check.covers) >= 2:
                return True
        return False

    await wait_until(closed_files_signed)
    await flowing([chair, site], 30)  # a stretch not recorded
    await chair.send({"type": "recording_control", "action": "start"})
    await flowing([chair, site], 60)
    await chair.send({"type": "end_meeting"})
    await chair.wait_for("meeting_ended")
    rows = await finished_rows(db, meeting_id, 4)
    assert len(rows) == 4  # two participants, two stretches each

    # The last manifest is written as the room closes, just after meeting_ended went out.
    def final() -> list[dict[str, Any]]:
        documents = [json.loads(store.resolve(m).read_bytes()) for m in store.manifests()]
        return [d for d in documents if d["reason"] == "meeting ended"]

    await wait_until(lambda: bool(final()))
    document = final()[0]
    assert [g["reason"] for g in document["gaps"]] == ["paused by the chair"]
    assert document["gaps"][0]["to"] is not None
    actions = [a for a in await db.scalars(select(AuditEvent.action)) if a.startswith("recording.")]
    assert actions.count("recording.pause") == 1
    assert "recording.resume" in actions


async def test_always_recorded_meetings_cannot_be_switched_off(
    clients: ClientFactory, db: AsyncSession, server: TestServer
) -> None:
    meeting = await make_meeting(db, recording=RecordingPolicy.ALWAYS)
    (chair,) = await joined(clients, db, meeting.id, n_sites=0)
    mark = len(chair.messages)
    await chair.send({"type": "recording_control", "action": "stop"})
    assert (await chair.wait_for("error", after=mark))["id"] == "recording_not_allowed"


# ---- a full disk --------------------------------------------------------------------------


@pytest.fixture
def small_disk_settings(settings: Settings, small_disk: Path) -> Settings:
    return dataclasses.replace(settings, recordings_dir=small_disk)


async def test_a_full_disk_leaves_a_gap_and_the_meeting_goes_on(
    db: AsyncSession,
    small_disk_settings: Settings,
    small_disk: Path,
    clock: Clock,
) -> None:
    settings = small_disk_settings
    filler = small_disk / "filler.bin"
    filler.write_bytes(b"\0" * 450_000)
    app = create_app(settings, clock=clock)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    made: list[Client] = []
    try:
        meeting = await make_meeting(db, recording=RecordingPolicy.ALWAYS)
        meeting_id = meeting.id
        officer = await make_user(db, "canbo", Role.OFFICER)
        leader = await make_user(db, "lanhdao", Role.CHAIR)
        meeting.chair_id = leader.id
        await db.commit()
        for subject, name, role in (
            (f"user:{leader.id}", "Lương Văn Bình", RoomRole.CHAIR),
            ("site:1", "Điểm cầu 1", RoomRole.SITE),
        ):
            client = Client(
                str(test_server.make_url("/")),
                token(settings.session_key, meeting_id, subject, name, role),
                video=SyntheticVideoTrack,
                audio=SyntheticAudioTrack,
            )
            made.append(client)
            await client.connect()
            await client.publish()
        chair, site = made
        failure = await site.wait_for(
            lambda m: m["type"] == "recording" and m["detail"] == "storage_error", timeout=30
        )
        assert failure["active"] is False
        # The meeting goes on: media still flows both ways.
        before = site.frames_from(chair.participant_id)
        await wait_until(lambda: site.frames_from(chair.participant_id) > before + 30)
        notices = list(await db.scalars(select(Notification)))
        alerted = {n.user_id for n in notices if "Ghi hình bị gián đoạn" in shown(n)}
        assert {officer.id, leader.id} <= alerted  # the dashboards of officers and the chair
        # Someone joining now learns why nothing is being recorded.
        late = Client(
            str(test_server.make_url("/")),
            token(settings.session_key, meeting_id, "site:2", "Điểm cầu 2", RoomRole.SITE),
        )
        made.append(late)
        welcome = await late.connect()
        assert (welcome["recording"], welcome["recording_detail"]) == (False, "storage_error")
        # Space comes back: recording resumes by itself.
        mark = len(site.messages)
        filler.unlink()
        resumed = await site.wait_for(
            lambda m: m["type"] == "recording" and m["active"], after=mark, timeout=20
        )
        assert resumed["detail"] == ""
        await flowing([chair, site], 45)
        await chair.send({"type": "end_meeting"})
        await chair.wait_for("meeting_ended")
        rows = await finished_rows(db, meeting_id, 3)
        assert any(r.status is RecordingStatus.INTERRUPTED for r in rows)
        assert any(r.status is RecordingStatus.COMPLETE for r in rows)
        store = RecordingStore(settings.recordings_root, settings.signing_key)
        manifest = json.loads(store.resolve(next(store.manifests())).read_bytes())
        gap = manifest["gaps"][0]
        assert gap["reason"].startswith("storage error")
        assert gap["to"] is not None
    finally:
        for client in made:
            await client.close()
        await test_server.close()


# ---- a killed server ----------------------------------------------------------------------


async def test_a_killed_server_leaves_recoverable_files(
    served: Served,
) -> None:
    server, settings = served, served.settings
    engine = database.create_async(settings.effective_database_url)
    async with database.session_factory(engine, settings.audit_key)() as db:
        # Planned around now: the server's scheduler must not end it as overdue.
        meeting = await make_meeting(
            db, recording=RecordingPolicy.ALWAYS, start=datetime.now(UTC) - timedelta(minutes=5)
        )
        meeting_id = meeting.id
    server.start()
    publisher = Client(
        server.url,
        token(settings.session_key, meeting_id, "site:2", "UBND Phường Đông Kinh", RoomRole.SITE),
        video=SyntheticVideoTrack,
        audio=SyntheticAudioTrack,
    )
    try:
        await server.ready()
        with restrict_host_addresses(("127.0.0.1",)):
            await publisher.connect()
            await publisher.publish()
            # The server writes as it goes: wait until the file holds a few seconds.
            await wait_until(lambda: _written(settings.recordings_root) > 100_000, timeout=30)
        server.kill()
    finally:
        await publisher.close()
        server.stop()
    async with database.session_factory(engine, settings.audit_key)() as db:
        (open_row,) = list(await db.scalars(select(Recording)))
        assert open_row.status is RecordingStatus.RECORDING
    restarted_at = datetime.now(UTC)
    server.start()  # the next start recovers
    try:
        await server.ready()
    finally:
        server.stop()
    async with database.session_factory(engine, settings.audit_key)() as db:
        rows = {r.kind: r for r in await db.scalars(select(Recording))}
        actions = set(await db.scalars(select(AuditEvent.action)))
    await engine.dispose()
    interrupted, copy = rows[RecordingKind.PARTICIPANT], rows[RecordingKind.RECOVERED]
    store = RecordingStore(settings.recordings_root, settings.signing_key)
    assert interrupted.status is RecordingStatus.INTERRUPTED
    assert store.hash(interrupted.relative_path) == (interrupted.sha256, interrupted.size_bytes)
    assert copy.status is RecordingStatus.COMPLETE
    assert copy.recovered_from_id == interrupted.id
    # The interrupted file ends at its last packet, before the server came back.
    for row in (interrupted, copy):
        assert row.ended_at is not None
        assert row.started_at is not None
        assert row.duration_ms
        assert row.ended_at == row.started_at + timedelta(milliseconds=row.duration_ms)
        assert row.ended_at.replace(tzinfo=UTC) < restarted_at
    video, audio, seconds = decode_counts(store.resolve(copy.relative_path))
    assert seconds > 0
    assert video > 0
    assert audio > 0
    # The file as the crash left it plays too, up to the moment of the crash.
    assert decode_counts(store.resolve(interrupted.relative_path))[0] >= video - 2
    (manifest,) = list(store.manifests())
    assert store.check_manifest(manifest).problems == ()
    assert "recording.recovered" in actions


def _written(root: Path) -> int:
    """Bytes of media written under the recordings folder so far."""
    return sum(f.stat().st_size for f in root.rglob("*.webm")) if root.exists() else 0


# ---- access -------------------------------------------------------------------------------


async def stored_recording(db: AsyncSession, settings: Settings, meeting_id: int) -> Recording:
    """A real WebM written through the store, as the recorder writes them."""
    store = RecordingStore(settings.recordings_root, settings.signing_key)
    relative, fh = store.create("vv-2026-0001/ph-test-1", "dong-kinh-01", ".webm")
    segment = Segment(fh, (320, 240), True)
    video, audio = encode_vp8(320, 240, 60), encode_opus(2.0)
    for i, packet in enumerate(video):
        segment.write("video", bytes(packet), i * 3000, packet.is_keyframe)
    for i, packet in enumerate(audio):
        segment.write("audio", bytes(packet), i * 960, True)
    segment.close()
    digest, size = store.hash(relative)
    start = datetime.now(UTC) - timedelta(hours=1)
    row = Recording(
        meeting_id=meeting_id,
        participant_label="UBND Phường Đông Kinh",
        relative_path=relative,
        status=RecordingStatus.COMPLETE,
        sha256=digest,
        size_bytes=size,
        started_at=start,
        ended_at=start + timedelta(seconds=2),
        duration_ms=2000,
    )
    db.add(row)
    await db.commit()
    return row


async def test_downloads_ranges_refusals_and_audit(
    aiohttp_client: Any, db: AsyncSession, settings: Settings, clock: Clock
) -> None:
    meeting = await make_meeting(db, status=MeetingStatus.ENDED)
    row = await stored_recording(db, settings, meeting.id)
    await make_user(db, "thanhtra", Role.AUDITOR)
    await make_user(db, "diemcau", Role.SITE_OPERATOR)
    auditor: WebClient = await aiohttp_client(create_app(settings, clock=clock))
    await login(auditor, "thanhtra")
    page = await auditor.get(f"/meetings/{meeting.id}/recordings")
    assert page.status == 200
    html = await page.text()
    assert "UBND Phường Đông Kinh" in html
    assert row.sha256 is not None
    assert row.sha256 in html
    partial = await auditor.get(f"/recordings/{row.id}/file", headers={"Range": "bytes=100-199"})
    assert partial.status == 206
    assert partial.headers["Content-Range"] == f"bytes 100-199/{row.size_bytes}"
    body = await partial.read()
    assert body == settings.recordings_root.joinpath(row.relative_path).read_bytes()[100:200]
    whole = await auditor.get(f"/recordings/{row.id}/file?download=1")
    assert whole.status == 200
    # The downloaded file says whose it is: no case yet, the meeting, the participant's file.
    assert (
        f'filename="chua-gan-vu-viec_{meeting.reference}_dong-kinh-01'
        in (whole.headers["Content-Disposition"])
    )
    outsider: WebClient = await aiohttp_client(create_app(settings, clock=clock))
    await login(outsider, "diemcau")
    assert (await outsider.get(f"/recordings/{row.id}/file")).status == 403
    assert (await outsider.get(f"/meetings/{meeting.id}/recordings")).status == 403
    db.expire_all()
    actions = list(await db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions.count("recording.list") == 1
    assert actions.count("recording.download") == 1
    assert "recording.play" not in actions  # a range from the middle is not a new play


async def test_the_page_names_people_and_works_while_a_file_is_made(
    aiohttp_client: Any, db: AsyncSession, settings: Settings, clock: Clock
) -> None:
    meeting = await make_meeting(db, status=MeetingStatus.ENDED)
    row = await stored_recording(db, settings, meeting.id)
    chair = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    await make_user(db, "canbo", Role.OFFICER)
    site_id = (await db.scalars(select(Site.id).where(Site.code == "05977"))).one()
    after = row.started_at + timedelta(seconds=1)
    for action, details in (
        ("meeting.join", {"participant": "38605245d6f9", "subject": f"site:{site_id}"}),
        ("recording.start", {"by": "policy"}),
        ("meeting.chair.mute", {"actor": f"user:{chair.id}", "target": f"site:{site_id}"}),
        ("meeting.chair.admit", {"actor": f"user:{chair.id}", "target": "38605245d6f9"}),
    ):
        await audit.record(db, after, None, action, "meeting", meeting.id, details)
    # A combined file still being made (the page failed with a 500 while one was).
    await catalog.add_row(
        db,
        meeting_id=meeting.id,
        relative_path="x/tong-hop-01.webm",
        label="Combined file",
        subject=None,
        at=row.started_at,
        kind=RecordingKind.COMBINED,
        status=RecordingStatus.PROCESSING,
    )
    await db.commit()
    client: WebClient = await aiohttp_client(create_app(settings, clock=clock))
    await login(client, "canbo")
    page = await client.get(f"/meetings/{meeting.id}/recordings")
    assert page.status == 200
    html = await page.text()
    assert "Tệp tổng hợp" in html
    assert "Đang xử lý" in html
    assert "UBND Phường Đông Kinh — tham gia" in html
    assert "theo chế độ ghi hình của phiên — bắt đầu ghi hình" in html
    assert "UBND Phường Đông Kinh — chủ trì đã tắt micro" in html
    for raw in ("38605245d6f9", f"site:{site_id}", f"user:{chair.id}", "policy"):
        assert raw not in html


async def test_combined_file_in_the_background(
    aiohttp_client: Any, db: AsyncSession, settings: Settings, clock: Clock
) -> None:
    meeting = await make_meeting(db, status=MeetingStatus.ENDED)
    await stored_recording(db, settings, meeting.id)
    await make_user(db, "canbo", Role.OFFICER)
    client: WebClient = await aiohttp_client(create_app(settings, clock=clock))
    await login(client, "canbo")
    token_ = await csrf_of(client, f"/meetings/{meeting.id}/recordings")
    started = await client.post(
        f"/meetings/{meeting.id}/recordings/combine",
        data={"csrf_token": token_},
        allow_redirects=False,
    )
    assert started.status == 303
    # Generous: the combine shares two CPUs with whatever else runs (not a speed check).
    for _ in range(600):
        status = await (await client.get(f"/meetings/{meeting.id}/recordings/status")).json()
        combined = [r for r in status["recordings"] if r["kind"] == "combined"]
        if combined and combined[0]["status"] != "processing":
            break
        await asyncio.sleep(0.1)
    assert combined[0]["status"] == "complete", combined
    assert combined[0]["progress"] == 100
    db.expire_all()
    row = await db.scalar(select(Recording).where(Recording.kind == RecordingKind.COMBINED))
    assert row is not None
    video, audio, seconds = decode_counts(settings.recordings_root / row.relative_path)
    assert video >= 25  # 2 s at 15 fps
    assert audio > 0
    assert 1.5 < seconds < 2.5
    # The combined file is filed like the others: listed, with its hash, in a signed manifest.
    store = RecordingStore(settings.recordings_root, settings.signing_key)
    listed: list[dict[str, Any]] = []
    for _ in range(100):
        listed = [
            entry
            for relative in store.manifests()
            for entry in json.loads(store.resolve(relative).read_bytes())["files"]
        ]
        if any(entry["id"] == row.id for entry in listed):
            break
        await asyncio.sleep(0.1)
    assert {"id": row.id, "sha256": row.sha256} in [
        {"id": e["id"], "sha256": e["sha256"]} for e in listed
    ]
    assert all(not store.check_manifest(m).problems for m in store.manifests())


def test_grid_layout() -> None:
    assert combiner._layout(1) == (1, 1, 640, 480)
    assert combiner._layout(3) == (2, 2, 320, 240)
    assert combiner._layout(5)[:2] == (3, 2)
    assert fractions.Fraction(1, 15) == fractions.Fraction(1, combiner.FPS)
