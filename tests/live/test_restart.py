"""Continuity across a restart: the server process is killed during a recorded meeting with a
waiting room; when it is back, those who were in come back as who they were, admitted, their
media flows again, the recording goes on by itself, and the gap is on the record (attendance,
the trail, the minutes' facts)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.client import Client, SyntheticAudioTrack, SyntheticVideoTrack
from sessions import db as database
from sessions import meetings, minutes
from sessions.enums import AttendanceOutcome, RecordingPolicy, RecordingStatus, Role
from sessions.models import Attendance, AuditEvent, Recording
from sessions.tokens import RoomRole
from signaling.media.adapter import restrict_host_addresses
from tests.conftest import make_user
from tests.factories import make_meeting, token
from tests.live.support import Served, wait_until


async def test_after_a_kill_those_in_the_room_come_back_as_themselves_and_the_gap_is_recorded(
    served: Served,
) -> None:
    server, settings = served, served.settings
    engine = database.create_async(settings.effective_database_url)
    async with database.session_factory(engine, settings.audit_key)() as db:
        meeting = await make_meeting(
            db,
            waiting_room=True,
            recording=RecordingPolicy.ALWAYS,
            start=datetime.now(UTC) - timedelta(minutes=5),
        )
        leader = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
        meeting_id, chair_subject = meeting.id, f"user:{leader.id}"
    tokens = {
        "chair": token(
            settings.session_key, meeting_id, chair_subject, "Lương Văn Bình", RoomRole.CHAIR
        ),
        "site": token(
            settings.session_key, meeting_id, "site:2", "UBND Phường Đông Kinh", RoomRole.SITE
        ),
    }

    def people() -> dict[str, Client]:
        return {
            who: Client(server.url, t, video=SyntheticVideoTrack, audio=SyntheticAudioTrack)
            for who, t in tokens.items()
        }

    before: dict[str, Client] = {}
    after: dict[str, Client] = {}
    server.start()
    try:
        await server.ready()
        with restrict_host_addresses(("127.0.0.1",)):
            before = people()
            chair, site = before["chair"], before["site"]
            await chair.connect()
            assert (await site.connect())["waiting"] is True
            await chair.send({"type": "admit", "participant_id": site.participant_id})
            await site.wait_for("admitted")
            for c in (chair, site):
                await c.publish()
            await wait_until(lambda: chair.frames_from(site.participant_id) >= 10)
            await wait_until(lambda: site.frames_from(chair.participant_id) >= 10)
            ids = {who: c.participant_id for who, c in before.items()}
            server.kill()
            for c in before.values():
                await c.close()
            killed_at = datetime.now(UTC)

            server.start()
            await server.ready()
            after = people()
            chair, site = after["chair"], after["site"]
            # Back as who they were: the same ids, the site admitted without the chair.
            for c in (chair, site):
                welcome = await c.connect()
                assert welcome["waiting"] is False
            assert {who: c.participant_id for who, c in after.items()} == ids
            for c in (chair, site):
                await c.publish()
            await wait_until(lambda: chair.frames_from(site.participant_id) >= 10)
            await wait_until(lambda: site.frames_from(chair.participant_id) >= 10)
            for c in (site, chair):
                await c.send({"type": "leave"})
            await left_both(engine, settings.audit_key, meeting_id)
    finally:
        for c in (*before.values(), *after.values()):
            await c.close()
        server.stop()

    async with database.session_factory(engine, settings.audit_key)() as db:
        rows = list(await db.scalars(select(Attendance).where(Attendance.meeting_id == meeting_id)))
        restart = await db.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.restart"))
        recordings = list(await db.scalars(select(Recording).order_by(Recording.id)))
        trail = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        facts = await minutes.facts_of(db, await meetings.get_meeting(db, meeting_id))
    await engine.dispose()
    # One presence each, from the first join to the leave, interrupted once by the restart.
    assert sorted((r.display_name, r.interruptions, r.outcome) for r in rows) == [
        ("Lương Văn Bình", 1, AttendanceOutcome.LEFT),
        ("UBND Phường Đông Kinh", 1, AttendanceOutcome.LEFT),
    ]
    assert all(
        r.joined_at is not None and r.joined_at.replace(tzinfo=UTC) < killed_at for r in rows
    )
    # The gap: from the last moment the record knew the meeting alive to the reopening.
    assert restart is not None
    assert restart.details["subjects"] == sorted([chair_subject, "site:2"])
    gap_from = datetime.fromisoformat(restart.details["from"])
    gap_to = datetime.fromisoformat(restart.details["to"])
    admitted = max(e.at for e in trail if e.action == "meeting.chair.admit")
    assert admitted <= gap_from < gap_to
    assert killed_at < gap_to
    # The recording went on by itself: the interrupted files recovered, new ones after.
    statuses = [r.status for r in recordings]
    assert RecordingStatus.INTERRUPTED in statuses
    assert any(
        r.status is RecordingStatus.RECORDING
        or (r.started_at is not None and r.started_at.replace(tzinfo=UTC) > killed_at)
        for r in recordings
        if r.status is not RecordingStatus.INTERRUPTED and r.recovered_from_id is None
    )
    # And the minutes' facts show it, with its times.
    (shown,) = [i for i in facts["interruptions"] if i["until"]]
    assert shown["what"] == "the server restarted: no sound or image"
    assert (shown["at"], shown["until"]) == (restart.details["from"], restart.details["to"])


async def left_both(engine: AsyncEngine, key: bytes, meeting_id: int) -> None:
    for _ in range(100):
        async with database.session_factory(engine, key)() as db:
            rows = list(
                await db.scalars(select(Attendance).where(Attendance.meeting_id == meeting_id))
            )
        if rows and all(r.left_at is not None for r in rows):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the leaves were not recorded")
