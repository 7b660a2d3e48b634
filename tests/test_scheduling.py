"""Booking, timers, reminders, recurring days and urgent links, with a clock the test controls,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import booking, devices, lifecycle, reminders, sites, tokens, urgent
from sessions import db as database
from sessions.cases import CaseDraft, PartyDraft, add_party, create_case
from sessions.clock import FixedClock
from sessions.enums import (
    AttendanceOutcome,
    MeetingStatus,
    NotificationKind,
    Recurrence,
    Role,
    UrgentStatus,
)
from sessions.errors import InvalidInput, TransitionRefused
from sessions.identity import IdentityVault
from sessions.models import (
    Attendance,
    AuditEvent,
    DutyRosterEntry,
    Meeting,
    Notification,
    ReceptionSchedule,
    Site,
    UrgentCall,
)
from sessions.scheduler import MeetingScheduler
from sessions.settings import Settings
from sessions.timing import Timing
from tests.conftest import ZONE, make_user
from tests.factories import shown, smtp_inbox

# The timers are real APScheduler timers: keep the test clock near real time so none fires
# by itself during a test; the test moves the clock and runs what would have fired.
# Tomorrow at 08:00 in Hanoi: in the future whenever the suite runs, and early enough in the
# local day that a meeting booked hours after it ends the same day (booked in the evening, the
# afternoon session of a test ran past local midnight and was refused).
NOW = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) + timedelta(days=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def world(db: AsyncSession) -> dict[str, Any]:
    await sites.seed_sites(db, NOW)
    await db.flush()
    by_code = {s.code: s for s in await db.scalars(select(Site))}
    chair = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    deputy = await make_user(db, "phochutich", Role.CHAIR, full_name="Hoàng Văn Quân")
    secretary = await make_user(db, "thuky", Role.SECRETARY, full_name="Vi Thị Lan")
    officer = await make_user(db, "canbo", Role.OFFICER)
    liaison = await make_user(db, "lienlac", Role.CENTRAL_LIAISON)
    people = {
        "chair": chair,
        "deputy": deputy,
        "secretary": secretary,
        "officer": officer,
        "liaison": liaison,
    }
    places = {
        "province": by_code[sites.PROVINCIAL_OFFICE_CODE],
        "central": by_code[sites.CENTRAL_OFFICE_CODE],
        "a": by_code["05977"],
        "b": by_code["05983"],
    }
    # Plain ids too: objects expire after a rollback, ids do not.
    ids = {name: obj.id for name, obj in people.items()}
    ids.update({name: obj.id for name, obj in places.items()})
    return {
        "id": ids,
        "province": by_code[sites.PROVINCIAL_OFFICE_CODE],
        "central": by_code[sites.CENTRAL_OFFICE_CODE],
        "a": by_code["05977"],
        "b": by_code["05983"],
        "chair": chair,
        "deputy": deputy,
        "secretary": secretary,
        "officer": officer,
        "liaison": liaison,
    }


def draft(
    world: dict[str, Any], start: datetime, minutes: int = 120, **changes: Any
) -> booking.MeetingDraft:
    local = start.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    end = local + timedelta(minutes=minutes)
    values: dict[str, Any] = {
        "title": "Đối thoại giải quyết khiếu nại về đất đai",
        "purpose": "dialogue",
        "kind": "scheduled",
        "date": local.date().isoformat(),
        "start_time": local.strftime("%H:%M"),
        "end_time": end.strftime("%H:%M"),
        "host_site_id": str(world["id"]["province"]),
        "participant_site_ids": [str(world["id"]["a"])],
        "chair_id": str(world["id"]["chair"]),
        "secretary_id": str(world["id"]["secretary"]),
    }
    values.update(changes)
    return booking.MeetingDraft(**values)


async def book(
    db: AsyncSession, world: dict[str, Any], settings: Settings, start: datetime, **changes: Any
) -> Meeting:
    meeting = await booking.book(
        db,
        draft(world, start, **changes),
        now=NOW,
        zone=settings.zone,
        actor_id=world["id"]["officer"],
    )
    await db.commit()
    return meeting


async def count(db: AsyncSession, model: Any, *where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# ---- booking -------------------------------------------------------------------------------


async def test_booking_creates_the_meeting_and_its_links(
    db: AsyncSession, world: dict[str, Any], settings: Settings
) -> None:
    start = NOW + timedelta(days=2)
    meeting = await book(
        db,
        world,
        settings,
        start,
        other_invitees="Hoàng Văn Sáng | Người đại diện | 05977\nLuật sư Nông Thị Hà | Luật sư",
    )
    full = await booking_meeting(db, meeting.id)
    assert full.reference.startswith("PH-")
    assert [ms.site.code for ms in full.sites] == ["TCD-LS", "05977"]
    assert [i.display_name for i in full.invitees] == ["Hoàng Văn Sáng", "Luật sư Nông Thị Hà"]
    links = booking.join_links(full, settings.session_key, settings.join_link_valid_hours)
    assert len(links) == 4
    for link in links:
        claims = tokens.verify(link.path.removeprefix("/join/"), settings.session_key, NOW)
        assert claims.meeting_id == meeting.id
        assert claims.expires == int((full.planned_end + timedelta(hours=12)).timestamp())
    # The links stop working after the meeting (plus the margin).
    with pytest.raises(tokens.TokenError):
        tokens.verify(
            links[0].path.removeprefix("/join/"),
            settings.session_key,
            full.planned_end + timedelta(hours=13),
        )


async def booking_meeting(db: AsyncSession, meeting_id: int) -> Meeting:
    from sessions.meetings import get_meeting

    return await get_meeting(db, meeting_id)


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"date": "2020-01-01"}, "date", "cannot be booked in the past"),
        ({"end_time": "06:00", "start_time": "08:00"}, "end_time", "end must be after the start"),
        ({"host_site_id": ""}, "host_site_id", "host endpoint"),
        ({"host_site_id": "999999"}, "host_site_id", "Unknown endpoint"),
        ({"participant_site_ids": ["12", "abc"]}, "participant_site_ids", "Unknown endpoint"),
        ({"chair_id": "999"}, "chair_id", "Choose a person"),
        ({"kind": "ad_hoc"}, "ad_hoc_reason", "reason"),
        ({"recording_policy": "never"}, "recording_policy", "dialogue must be recorded"),
        ({"other_invitees": "A | b | c | d"}, "other_invitees", "Line 1"),
    ],
)
async def test_bad_bookings_are_refused_and_nothing_is_stored(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    changes: dict[str, Any],
    field: str,
    text: str,
) -> None:
    start = NOW + timedelta(days=2, hours=1)
    with pytest.raises(InvalidInput) as refused:
        await booking.book(
            db, draft(world, start, **changes), now=NOW, zone=settings.zone, actor_id=None
        )
    await db.rollback()
    assert field in refused.value.field_errors
    message = refused.value.field_errors[field] % refused.value.field_params.get(field, {})
    assert text in message
    assert await count(db, Meeting) == 0


async def test_clashes_name_the_other_meeting(
    db: AsyncSession, world: dict[str, Any], settings: Settings
) -> None:
    start = NOW + timedelta(days=3)
    await book(db, world, settings, start, title="Phiên thứ nhất")
    # Same commune, overlapping: refused, naming the endpoint and the other meeting.
    with pytest.raises(InvalidInput) as refused:
        await booking.book(
            db,
            draft(
                world,
                start + timedelta(minutes=30),
                chair_id=str(world["id"]["deputy"]),
                host_site_id=str(world["id"]["b"]),
            ),
            now=NOW,
            zone=settings.zone,
            actor_id=None,
        )
    message = (
        refused.value.field_errors["host_site_id"] % refused.value.field_params["host_site_id"]
    )
    assert "UBND Phường Đông Kinh" in message
    assert "Phiên thứ nhất" in message
    await db.rollback()
    # Same chair elsewhere at the same time: refused too.
    with pytest.raises(InvalidInput) as refused:
        await booking.book(
            db,
            draft(
                world,
                start + timedelta(minutes=60),
                host_site_id=str(world["id"]["central"]),
                participant_site_ids=[str(world["id"]["b"])],
            ),
            now=NOW,
            zone=settings.zone,
            actor_id=None,
        )
    assert "Lương Văn Bình" in (
        refused.value.field_errors["chair_id"] % refused.value.field_params["chair_id"]
    )
    await db.rollback()
    # Right after the first one ends is fine.
    await book(db, world, settings, start + timedelta(hours=2), title="Phiên thứ hai")
    assert await count(db, Meeting) == 2


async def test_denouncer_and_accused_are_never_invited_together(
    db: AsyncSession, world: dict[str, Any], settings: Settings
) -> None:
    case = await create_case(
        db,
        CaseDraft(
            title="Tố cáo sai phạm",
            case_type="TC",
            received_on="2026-01-05",
            competent_level="province",
        ),
        at=NOW,
        today=NOW.date(),
        actor_id=None,
        crowd_threshold=5,
    )
    vault = IdentityVault(settings.identity_key)
    denouncer = await add_party(
        db,
        case,
        PartyDraft(role="denouncer", full_name="Người A"),
        vault=vault,
        at=NOW,
        actor_id=None,
    )
    accused = await add_party(
        db,
        case,
        PartyDraft(role="accused", full_name="Người B"),
        vault=vault,
        at=NOW,
        actor_id=None,
    )
    await db.commit()
    with pytest.raises(InvalidInput) as refused:
        await booking.book(
            db,
            draft(
                world,
                NOW + timedelta(days=1),
                case_id=str(case.id),
                invite_party_ids=[str(denouncer.id), str(accused.id)],
            ),
            now=NOW,
            zone=settings.zone,
            actor_id=None,
        )
    assert "cannot be in the same meeting" in refused.value.field_errors["invite_party_ids"]


# ---- timers -----------------------------------------------------------------------------------


@pytest.fixture
async def scheduler_factory(settings: Settings, clock: FixedClock) -> AsyncIterator[Any]:
    made: list[MeetingScheduler] = []
    engines = []

    async def make(occupancy: Any = lambda meeting_id: 0, on_ended: Any = None) -> MeetingScheduler:
        engine = database.create_async(settings.effective_database_url)
        engines.append(engine)
        scheduler = MeetingScheduler(
            database.session_factory(engine, settings.audit_key),
            clock,
            settings,
            occupancy=occupancy,
            on_ended=on_ended,
            render=shown,
        )
        await scheduler.start()
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.shutdown()
    for engine in engines:
        await engine.dispose()


async def status_of(db: AsyncSession, meeting_id: int) -> MeetingStatus:
    # A column query always reads the database (no identity map): no need to expire objects.
    status = await db.scalar(select(Meeting.status).where(Meeting.id == meeting_id))
    assert status is not None
    return status


async def test_timers_are_planned_from_the_database(
    db: AsyncSession, world: dict[str, Any], settings: Settings, scheduler_factory: Any
) -> None:
    meeting = await book(db, world, settings, NOW + timedelta(days=2))
    scheduler = await scheduler_factory()
    planned = scheduler.planned(meeting.id)
    start = meeting.planned_start
    assert planned["open"] == start - timedelta(minutes=10)
    assert planned["remind:86400"] == start - timedelta(days=1)
    assert planned["remind:900"] == start - timedelta(minutes=15)
    assert planned["end"] == meeting.planned_end + timedelta(minutes=15)


async def test_restart_in_the_middle_misses_nothing(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    clock: FixedClock,
    scheduler_factory: Any,
) -> None:
    first = await book(db, world, settings, NOW + timedelta(hours=1), title="Phiên sáng")
    later = await book(
        db,
        world,
        settings,
        NOW + timedelta(hours=5),
        title="Phiên chiều",
        participant_site_ids=[str(world["id"]["b"])],
        chair_id=str(world["id"]["deputy"]),
    )
    before = await scheduler_factory()
    assert "open" in before.planned(first.id)
    before.shutdown()  # the server dies before anything fired
    clock.advance(timedelta(hours=1, minutes=5))  # the first meeting has started meanwhile
    after = await scheduler_factory()  # the restart rebuilds and sweeps
    assert await status_of(db, first.id) is MeetingStatus.OPEN
    assert await status_of(db, later.id) is MeetingStatus.SCHEDULED
    assert after.planned(later.id)["open"] == later.planned_start - timedelta(minutes=10)
    # The reminders that fell due during the outage were sent, once.
    reminders = await count(db, Notification, Notification.kind == NotificationKind.REMINDER)
    assert reminders > 0
    await after.sweep()
    assert (
        await count(db, Notification, Notification.kind == NotificationKind.REMINDER) == reminders
    )
    opened = await count(db, AuditEvent, AuditEvent.action == "meeting.open")
    assert opened == 1


async def test_down_at_start_opens_on_startup_only_within_the_window(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    clock: FixedClock,
    scheduler_factory: Any,
) -> None:
    current = await book(db, world, settings, NOW + timedelta(minutes=30), minutes=60)
    missed = await book(
        db,
        world,
        settings,
        NOW + timedelta(minutes=30),
        minutes=30,
        title="Phiên đã qua",
        host_site_id=str(world["id"]["b"]),
        participant_site_ids=[],
        chair_id=str(world["id"]["deputy"]),
    )
    clock.advance(timedelta(minutes=70))  # server was down; "missed" is already over
    await scheduler_factory()
    assert await status_of(db, current.id) is MeetingStatus.OPEN
    assert await status_of(db, missed.id) is MeetingStatus.SCHEDULED


async def test_a_cancelled_meeting_never_opens(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    clock: FixedClock,
    scheduler_factory: Any,
) -> None:
    meeting = await book(db, world, settings, NOW + timedelta(hours=1))
    scheduler = await scheduler_factory()
    from sessions.meetings import cancel_meeting, get_meeting

    loaded = await get_meeting(db, meeting.id)
    await cancel_meeting(db, loaded, "Công dân xin hoãn", at=NOW, actor_id=None)
    await db.commit()
    clock.advance(timedelta(hours=1))
    await scheduler._open(meeting.id)  # the stale timer fires anyway
    await scheduler.sweep()
    await scheduler.rebuild()
    assert await status_of(db, meeting.id) is MeetingStatus.CANCELLED
    assert scheduler.planned(meeting.id) == {}


async def test_empty_rooms_end_after_grace_and_absent_sites_are_marked(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    clock: FixedClock,
    scheduler_factory: Any,
) -> None:
    meeting = await book(db, world, settings, NOW + timedelta(minutes=5), minutes=60)
    occupied = {meeting.id: 1}
    scheduler = await scheduler_factory(occupancy=lambda mid: occupied.get(mid, 0))
    clock.advance(timedelta(minutes=5))
    await scheduler.sweep()
    assert await status_of(db, meeting.id) is MeetingStatus.OPEN
    db.add(
        Attendance(
            meeting_id=meeting.id,
            site_id=world["id"]["province"],
            display_name="Trụ sở",
            joined_at=clock.now(),
        )
    )
    await db.commit()
    clock.advance(timedelta(minutes=70))  # past the end, within the grace
    await scheduler.sweep()
    assert await status_of(db, meeting.id) is MeetingStatus.OPEN
    clock.advance(timedelta(minutes=10))  # past the grace, but people are still talking
    await scheduler.sweep()
    assert await status_of(db, meeting.id) is MeetingStatus.OPEN
    occupied[meeting.id] = 0
    await scheduler.sweep()
    assert await status_of(db, meeting.id) is MeetingStatus.ENDED
    absent = list(
        await db.scalars(select(Attendance).where(Attendance.outcome == AttendanceOutcome.ABSENT))
    )
    assert [a.site_id for a in absent] == [world["id"]["a"]]


@pytest.mark.postgres
async def test_two_schedulers_racing_make_exactly_one_transition(
    db: AsyncSession, world: dict[str, Any], settings: Settings, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is between two PostgreSQL connections (runs in the postgresql case)")
    meeting = await book(db, world, settings, NOW + timedelta(minutes=5))
    timing = Timing.of(settings)
    engines = [database.create_async(settings.effective_database_url) for _ in range(2)]
    makers = [database.session_factory(e, settings.audit_key) for e in engines]

    async def node(maker: Any) -> bool:
        async with maker() as session, session.begin():
            return await lifecycle.open_meeting(session, meeting.id, NOW, timing)

    results = await asyncio.gather(*(node(m) for m in makers for _ in range(3)))
    for engine in engines:
        await engine.dispose()
    assert sorted(results) == [False] * 5 + [True]
    assert await count(db, AuditEvent, AuditEvent.action == "meeting.open") == 1
    assert await status_of(db, meeting.id) is MeetingStatus.OPEN


# ---- recurring reception days --------------------------------------------------------------------


async def test_recurring_days_create_meetings_ahead_once(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    scheduler_factory: Any,
    clock: FixedClock,
) -> None:
    weekly = ReceptionSchedule(
        title="Chủ tịch UBND phường tiếp công dân định kỳ",
        recurrence=Recurrence.WEEKLY,
        weekday=1,
        start_local="08:00",
        duration_minutes=240,
        chair_id=world["id"]["deputy"],
        host_site_id=world["id"]["a"],
        participant_site_ids=[world["id"]["province"]],
    )
    monthly = ReceptionSchedule(
        title="Chủ tịch UBND tỉnh tiếp công dân định kỳ",
        recurrence=Recurrence.MONTHLY,
        day_of_month=15,
        start_local="14:00",
        duration_minutes=180,
        chair_id=world["id"]["chair"],
        host_site_id=world["id"]["province"],
        participant_site_ids=[world["id"]["b"]],
    )
    db.add_all([weekly, monthly])
    await db.commit()
    scheduler = await scheduler_factory()
    created = list(await db.scalars(select(Meeting).order_by(Meeting.planned_start)))
    weekly_days = [m for m in created if m.schedule_id == weekly.id]
    monthly_days = [m for m in created if m.schedule_id == monthly.id]
    assert 4 <= len(weekly_days) <= 6  # 35 days ahead
    assert all(m.planned_start.astimezone(settings.zone).weekday() == 1 for m in weekly_days)
    assert all(m.planned_start.astimezone(settings.zone).hour == 8 for m in weekly_days)
    assert 1 <= len(monthly_days) <= 2
    assert all(m.planned_start.astimezone(settings.zone).day == 15 for m in monthly_days)
    lead = timedelta(minutes=settings.room_lead_minutes)
    for m in weekly_days:
        if m.planned_start - lead > clock.now():
            assert "open" in scheduler.planned(m.id)
        else:  # the clock stands in its opening window (NOW is 08:00 on a Tuesday): opened
            assert await status_of(db, m.id) is MeetingStatus.OPEN
    await scheduler.sweep()
    await scheduler.rebuild()
    assert await count(db, Meeting) == len(created)


# ---- urgent link --------------------------------------------------------------------------------


async def test_urgent_link_opens_at_once_and_escalates_until_accepted(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    clock: FixedClock,
    scheduler_factory: Any,
) -> None:
    db.add_all(
        [
            DutyRosterEntry(user_id=world["id"]["deputy"], rank=1),
            DutyRosterEntry(user_id=world["id"]["chair"], rank=2),
        ]
    )
    await db.commit()
    timing = Timing.of(settings)
    with pytest.raises(InvalidInput):
        await urgent.raise_urgent(
            db,
            commune_site_id=str(world["id"]["central"]),
            head_count="0",
            liaison_id=None,
            now=NOW,
            timing=timing,
        )
    await db.rollback()
    call = await urgent.raise_urgent(
        db,
        commune_site_id=str(world["id"]["a"]),
        head_count="23",
        liaison_id=world["id"]["liaison"],
        now=NOW,
        timing=timing,
    )
    await db.commit()
    call_id, call_meeting = call.id, call.meeting_id
    meeting = await booking_meeting(db, call_meeting)
    assert meeting.status is MeetingStatus.OPEN
    assert sorted(ms.site.code for ms in meeting.sites) == ["05977", "TCD-LS", "TCD-TW"]
    assert meeting.ad_hoc_reason == urgent.REASON  # a message id, shown in each reader's words
    alerts = list(
        await db.scalars(select(Notification).where(Notification.kind == NotificationKind.URGENT))
    )
    assert [shown(n) for n in alerts] == [
        "KHẨN: Đoàn đông người (23 người) từ UBND Phường Đông Kinh tại Trụ sở Tiếp công dân "
        f"Trung ương từ {NOW.astimezone(ZONE):%H:%M %d/%m/%Y} — cần lãnh đạo tiếp nhận ngay."
    ]
    assert [c.id for c in await urgent.alerting_for(db, world["id"]["deputy"])] == [call_id]
    assert await urgent.alerting_for(db, world["id"]["chair"]) == []
    scheduler = await scheduler_factory()
    clock.advance(timedelta(minutes=3))
    await scheduler.sweep()
    assert [c.id for c in await urgent.alerting_for(db, world["id"]["chair"])] == [call_id]
    assert await count(db, Notification, Notification.kind == NotificationKind.URGENT) == 2
    await scheduler.sweep()  # no third rank: nothing more
    assert await count(db, Notification, Notification.kind == NotificationKind.URGENT) == 2
    with pytest.raises(TransitionRefused):
        await urgent.accept(db, call_id, world["id"]["officer"], NOW)
    accepted = await urgent.accept(db, call_id, world["id"]["chair"], clock.now())
    await db.commit()
    assert accepted.status is UrgentStatus.ACCEPTED
    with pytest.raises(TransitionRefused):
        await urgent.accept(db, call_id, world["id"]["deputy"], clock.now())
    await db.rollback()
    assert await urgent.alerting_for(db, world["id"]["deputy"]) == []
    db.expire_all()
    assert (await booking_meeting(db, call_meeting)).chair_id == world["id"]["chair"]
    # Until it is tied to a case, the meeting is a task.
    assert [m.id for m in await urgent.unlinked(db)] == [call_meeting]
    case = await create_case(
        db,
        CaseDraft(
            title="Khiếu nại đông người",
            case_type="KN",
            complaint_instance="first",
            received_on=NOW.date().isoformat(),
            competent_level="province",
        ),
        at=NOW,
        today=NOW.date(),
        actor_id=None,
        crowd_threshold=5,
    )
    from sessions.meetings import link_case

    await link_case(db, await booking_meeting(db, call_meeting), case.id, at=NOW, actor_id=None)
    await db.commit()
    assert await urgent.unlinked(db) == []


async def test_an_empty_roster_alerts_every_leader_and_tells_the_liaison(
    db: AsyncSession, world: dict[str, Any], settings: Settings
) -> None:
    call = await urgent.raise_urgent(
        db,
        commune_site_id=str(world["id"]["a"]),
        head_count="40",
        liaison_id=world["id"]["liaison"],
        now=NOW,
        timing=Timing.of(settings),
    )
    await db.commit()
    call_id = call.id
    notices = list(await db.scalars(select(Notification).order_by(Notification.id)))
    alerted = {n.user_id for n in notices if n.kind is NotificationKind.URGENT}
    assert alerted == {world["id"]["chair"], world["id"]["deputy"]}  # every leader
    told = [shown(n) for n in notices if n.user_id == world["id"]["liaison"]]
    assert told == [
        "Chưa có ai trong lịch trực: đã báo cho mọi lãnh đạo và Trưởng Ban Tiếp công dân về "
        "đoàn đông người từ UBND Phường Đông Kinh."
    ]
    # Each leader sees the call and may take it; an officer may not.
    assert [c.id for c in await urgent.alerting_for(db, world["id"]["deputy"])] == [call_id]
    with pytest.raises(TransitionRefused):
        await urgent.accept(db, call_id, world["id"]["officer"], NOW)
    await db.rollback()
    taken = await urgent.accept(db, call_id, world["id"]["deputy"], NOW)
    assert taken.status is UrgentStatus.ACCEPTED


async def test_an_unanswered_urgent_room_ends_by_itself_and_blocks_no_booking(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    clock: FixedClock,
    scheduler_factory: Any,
) -> None:
    db.add(DutyRosterEntry(user_id=world["id"]["deputy"], rank=1))
    await db.commit()
    call = await urgent.raise_urgent(
        db,
        commune_site_id=str(world["id"]["a"]),
        head_count="12",
        liaison_id=world["id"]["liaison"],
        now=NOW,
        timing=Timing.of(settings),
    )
    await db.commit()
    call_id, meeting_id = call.id, call.meeting_id
    # The provincial office books its next hour as usual: the urgent room holds no calendar.
    booked = await book(db, world, settings, NOW + timedelta(minutes=30))
    assert booked.status is MeetingStatus.SCHEDULED
    ended: list[int] = []

    async def collect(meeting_id: int) -> None:
        ended.append(meeting_id)

    scheduler = await scheduler_factory(on_ended=collect)
    clock.advance(timedelta(minutes=settings.urgent_timeout_minutes - 1))
    assert (await scheduler.sweep())["closed_urgent"] == []
    clock.advance(timedelta(minutes=1))
    assert (await scheduler.sweep())["closed_urgent"] == [call_id]
    assert ended == [meeting_id]  # the room is closed for whoever is still in it
    db.expire_all()
    assert (await db.get(UrgentCall, call_id)).status is UrgentStatus.CLOSED  # type: ignore[union-attr]
    assert (await booking_meeting(db, meeting_id)).status is MeetingStatus.ENDED
    assert await urgent.alerting_for(db, world["id"]["deputy"]) == []  # the banner clears
    told = {
        n.user_id: shown(n)
        for n in await db.scalars(
            select(Notification).where(Notification.kind == NotificationKind.TASK)
        )
    }
    assert set(told) == {world["id"]["liaison"], world["id"]["officer"]}
    assert told[world["id"]["liaison"]].startswith(
        "Không có lãnh đạo nào nhận cuộc gọi khẩn về đoàn đông người từ UBND Phường Đông Kinh"
    )
    assert (await scheduler.sweep())["closed_urgent"] == []  # once


async def test_one_failing_sweep_step_leaves_the_others_done(
    db: AsyncSession,
    world: dict[str, Any],
    settings: Settings,
    scheduler_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    meeting_id = (await book(db, world, settings, NOW + timedelta(minutes=5))).id

    async def broken(*args: Any) -> int:
        raise RuntimeError("reminders are broken")

    monkeypatch.setattr(reminders, "send_reminders", broken)
    await scheduler_factory()  # its first sweep runs at start
    assert "scheduler step 'reminded' failed" in caplog.text
    db.expire_all()
    assert (await booking_meeting(db, meeting_id)).status is MeetingStatus.OPEN  # still opened
    assert await count(db, AuditEvent, AuditEvent.action == "meeting.open") == 1


async def test_device_tokens_identify_one_site(db: AsyncSession, world: dict[str, Any]) -> None:
    site: Site = world["a"]
    token = await devices.issue(db, site, NOW, actor_id=None)
    assert (await devices.site_for(db, token)) is site
    again = await devices.issue(db, site, NOW, actor_id=None)
    assert await devices.site_for(db, token) is None  # the old link stopped working
    assert (await devices.site_for(db, again)) is site
    assert await devices.site_for(db, "x" * 500) is None


async def test_reminders_are_emailed_when_smtp_is_configured(
    db: AsyncSession, world: dict[str, Any], settings: Settings, clock: FixedClock
) -> None:
    """A real SMTP conversation with a server on loopback."""
    import dataclasses

    with smtp_inbox() as (port, received):
        chair = await db.get(type(world["chair"]), world["id"]["chair"])
        assert chair is not None
        chair.email = "lanhdao@langson.example"
        await db.commit()
        await book(db, world, settings, NOW + timedelta(minutes=30))
        mailing = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=port)
        engine = database.create_async(settings.effective_database_url)
        scheduler = MeetingScheduler(
            database.session_factory(engine, settings.audit_key), clock, mailing, render=shown
        )
        report = await scheduler.sweep()
        again = await scheduler.sweep()
        await engine.dispose()
    assert report["emailed"] == 1  # the one-day reminder is due (the 15-minute one not yet)
    assert again["emailed"] == 0  # sent once
    assert [e.rcpt_tos for e in received] == [["lanhdao@langson.example"]]
    import email
    import email.policy

    message = email.message_from_bytes(received[0].content, policy=email.policy.default)
    assert message["Subject"].startswith("[Điểm cầu] Nhắc lịch")
    assert "Đối thoại giải quyết khiếu nại về đất đai" in message.get_content()
