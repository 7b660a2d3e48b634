"""Scheduling through the web: booking form, join links, urgent link and alerts, calendars,
the iCalendar feed, recurring days and the duty roster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import sites, tokens
from sessions.enums import MeetingStatus, Role
from sessions.models import AuditEvent, DutyRosterEntry, Meeting, ReceptionSchedule, Site
from sessions.settings import Settings
from sessions.tokens import sign_feed as feed_token
from tests.conftest import START, Client, csrf_of, login, make_user
from tests.factories import smtp_inbox
from web.app import create_app


async def arrange(db: AsyncSession) -> dict[str, Any]:
    await sites.seed_sites(db, START)
    await db.flush()
    by_code = {s.code: s.id for s in await db.scalars(select(Site))}
    officer = await make_user(db, "canbo", Role.OFFICER)
    chair = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    liaison = await make_user(db, "lienlac", Role.CENTRAL_LIAISON)
    return {"sites": by_code, "officer": officer.id, "chair": chair.id, "liaison": liaison.id}


def booking_form(world: dict[str, Any], token: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": token,
        "title": "Đối thoại với 12 hộ dân thôn Nà Phai",
        "purpose": "dialogue",
        "kind": "scheduled",
        "date": "2026-03-12",
        "start_time": "08:00",
        "end_time": "10:00",
        "host_site_id": str(world["sites"]["TCD-LS"]),
        "participant_site_ids": [str(world["sites"]["05977"])],
        "chair_id": str(world["chair"]),
        "recording_policy": "always",
        "quality_profile": "standard",
        "waiting_room": "on",
        "other_invitees": "Hoàng Văn Sáng | Người đại diện | 05977",
    }
    form.update(changes)
    return form


async def test_booking_through_the_form(client: Client, db: AsyncSession) -> None:
    world = await arrange(db)
    await login(client, "canbo")
    token = await csrf_of(client, "/meetings/new")
    response = await client.post(
        "/meetings/new", data=booking_form(world, token), allow_redirects=False
    )
    assert response.status == 303, await response.text()
    page = await client.get(response.headers["Location"])
    html = await page.text()
    assert "Đã đặt lịch phiên" in html
    assert "Đường dẫn tham gia" in html
    assert html.count("/join/") == 3  # two endpoints and one invitee
    meeting = await db.scalar(select(Meeting))
    assert meeting is not None
    assert meeting.status is MeetingStatus.SCHEDULED
    # Its join links open the meeting page for the invitee.
    link = html.split('value="http://127.0.0.1:8080', 1)[1].split('"', 1)[0]
    assert (await client.get(link)).status == 200


async def test_bad_booking_keeps_the_form(client: Client, db: AsyncSession) -> None:
    world = await arrange(db)
    await login(client, "canbo")
    token = await csrf_of(client, "/meetings/new")
    response = await client.post(
        "/meetings/new",
        data=booking_form(
            world,
            token,
            date="2026-03-01",
            end_time="07:00",
            host_site_id="",
            title="Giữ nguyên <tiêu đề>",
        ),
    )
    assert response.status == 400
    html = await response.text()
    assert "Giờ kết thúc phải sau giờ bắt đầu." in html
    assert "Chọn điểm cầu chính." in html
    assert 'value="Giữ nguyên &lt;tiêu đề&gt;"' in html
    assert await db.scalar(select(func.count()).select_from(Meeting)) == 0
    # A clash names the other meeting.
    first = await client.post(
        "/meetings/new",
        data=booking_form(world, token, title="Phiên thứ nhất"),
        allow_redirects=False,
    )
    assert first.status == 303
    clash = await client.post(
        "/meetings/new",
        data=booking_form(world, token, start_time="09:00", end_time="11:00"),
    )
    assert clash.status == 400
    assert "đã có phiên “Phiên thứ nhất” từ 08:00 12/03/2026 đến 10:00" in await clash.text()
    # Booking in the past.
    past = await client.post("/meetings/new", data=booking_form(world, token, date="2026-03-09"))
    assert "Không thể đặt lịch phiên trong quá khứ." in await past.text()


async def test_every_problem_of_a_booking_is_named_and_nothing_typed_is_lost(
    client: Client, db: AsyncSession
) -> None:
    world = await arrange(db)
    await login(client, "canbo")
    token = await csrf_of(client, "/meetings/new")
    lines = "Hoàng Văn Sáng | Người đại diện | 05977\nBà Lan | a | b | c\nÔng Tư | | ZZZ"
    response = await client.post(
        "/meetings/new",
        data=booking_form(
            world,
            token,
            participant_site_ids=["999999", str(world["sites"]["05977"])],
            other_invitees=lines,
            title="Đối thoại giữ nguyên",
        ),
    )
    assert response.status == 400
    html = await response.text()
    assert "Không có điểm cầu 999999." in html  # the unknown endpoint
    # Both bad invitee lines, each by its number, in the one message beside the field.
    assert "Dòng 2: ghi “Họ tên | tư cách | mã điểm cầu”" in html
    assert "Dòng 3: không có điểm cầu mã ZZZ." in html
    assert "%(" not in html
    assert "Bà Lan | a | b | c" in html  # what was typed is still there
    assert 'value="Đối thoại giữ nguyên"' in html
    assert await db.scalar(select(func.count()).select_from(Meeting)) == 0


async def test_a_wrong_case_reference_is_said_beside_the_field(
    client: Client, db: AsyncSession
) -> None:
    world = await arrange(db)
    await login(client, "canbo")
    token = await csrf_of(client, "/meetings/new")
    booked = await client.post(
        "/meetings/new", data=booking_form(world, token), allow_redirects=False
    )
    meeting_page = booked.headers["Location"]
    wrong = await client.post(
        f"{meeting_page}/case", data={"csrf_token": token, "reference": "vv-2026-9999"}
    )
    assert wrong.status == 400  # the meeting's page again, not an error page
    html = await wrong.text()
    assert 'id="reference-error"' in html
    assert "Không có vụ việc số hiệu vv-2026-9999 mà bạn được gắn phiên vào." in html
    assert 'value="vv-2026-9999"' in html


async def test_urgent_link_from_hanoi(
    client: Client, db: AsyncSession, aiohttp_client: Any, settings: Settings, clock: Any
) -> None:
    world = await arrange(db)
    db.add(DutyRosterEntry(user_id=world["chair"], rank=1))
    await db.commit()
    await login(client, "lienlac")
    token = await csrf_of(client, "/urgent")
    refused = await client.post(
        "/urgent", data={"csrf_token": token, "commune_site_id": "", "head_count": "nhiều"}
    )
    assert refused.status == 400
    assert "Chọn xã, phường nơi công dân cư trú." in await refused.text()
    response = await client.post(
        "/urgent",
        data={
            "csrf_token": token,
            "commune_site_id": str(world["sites"]["05977"]),
            "head_count": "23",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    meeting = await db.scalar(select(Meeting))
    assert meeting is not None
    assert response.headers["Location"] == f"/meetings/{meeting.id}/room"
    assert meeting.status is MeetingStatus.OPEN
    # The leader on duty is alerted, and takes the call.
    from web.app import create_app

    leader = await aiohttp_client(create_app(settings, clock=clock))
    await login(leader, "lanhdao")
    alerts = await (await leader.get("/alerts")).json()
    assert len(alerts["urgent"]) == 1
    assert "23 người" in alerts["urgent"][0]["text"]
    accept = await leader.post(
        alerts["urgent"][0]["accept_url"],
        data={"csrf_token": await csrf_of(leader)},
        allow_redirects=False,
    )
    assert accept.headers["Location"] == f"/meetings/{meeting.id}/room"
    assert (await (await leader.get("/alerts")).json())["urgent"] == []
    # Until tied to a case, the meeting is on the dashboard as a task.
    home = await (await leader.get("/")).text()
    assert "phiên đột xuất chưa gắn vụ việc" in home


async def test_calendars_and_feed(client: Client, db: AsyncSession, settings: Settings) -> None:
    world = await arrange(db)
    await login(client, "canbo")
    token = await csrf_of(client, "/meetings/new")
    await client.post("/meetings/new", data=booking_form(world, token), allow_redirects=False)
    week = await (await client.get("/calendar?date=2026-03-12")).text()
    assert "Đối thoại với 12 hộ dân thôn Nà Phai" in week
    assert week.count('class="day') == 7
    month = await (await client.get("/calendar?view=month&date=2026-03-12")).text()
    assert "Đối thoại với 12 hộ dân thôn Nà Phai" in month
    elsewhere = await (
        await client.get(f"/calendar?date=2026-03-12&site={world['sites']['05983']}")
    ).text()
    assert "Đối thoại với 12 hộ dân thôn Nà Phai" not in elsewhere
    by_leader = await (
        await client.get(f"/calendar?date=2026-03-12&leader={world['chair']}")
    ).text()
    assert "Đối thoại với 12 hộ dân thôn Nà Phai" in by_leader
    feed = await client.get(
        f"/calendar/feed/{feed_token(world['chair'], settings.session_key)}.ics"
    )
    assert feed.status == 200
    assert feed.content_type == "text/calendar"
    text = await feed.text()
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))  # folded lines
    # Read back as a calendar application would.
    events = Calendar.from_ical(text).walk("VEVENT")
    (event,) = [e for e in events if e["SUMMARY"] == "Đối thoại với 12 hộ dân thôn Nà Phai"]
    assert event.decoded("DTSTART") == datetime(2026, 3, 12, 1, 0, tzinfo=UTC)
    assert str(event["STATUS"]) == "CONFIRMED"
    forged = await client.get(f"/calendar/feed/{world['chair']}-{'0' * 32}.ics")
    assert forged.status == 404
    # A join token (same key, other purpose) is not a feed token.
    joining = tokens.sign(
        tokens.JoinClaims(1, f"user:{world['chair']}", "x", tokens.RoomRole.CHAIR, 2**40),
        settings.session_key,
    )
    assert (await client.get(f"/calendar/feed/{joining}.ics")).status == 404


async def test_recurring_days_and_roster_pages(client: Client, db: AsyncSession) -> None:
    world = await arrange(db)
    await login(client, "canbo")
    token = await csrf_of(client, "/schedules")
    bad = await client.post(
        "/schedules",
        data={
            "csrf_token": token,
            "title": "",
            "recurrence": "weekly",
            "weekday": "9",
            "start_time": "25:00",
            "duration_minutes": "5",
            "host_site_id": str(world["sites"]["05977"]),
            "participant_site_ids": "888888",
        },
    )
    assert bad.status == 400
    refused = await bad.text()
    assert "Chọn thứ trong tuần." in refused
    assert "Không có điểm cầu 888888." in refused  # the same endpoint check as booking
    assert await db.scalar(select(func.count()).select_from(ReceptionSchedule)) == 0
    done = await client.post(
        "/schedules",
        data={
            "csrf_token": token,
            "title": "Chủ tịch UBND phường tiếp công dân",
            "recurrence": "weekly",
            "weekday": "1",
            "start_time": "08:00",
            "duration_minutes": "240",
            "chair_id": str(world["chair"]),
            "host_site_id": str(world["sites"]["05977"]),
            "recording_policy": "always",
        },
    )
    assert done.status == 200
    assert "Đã tạo lịch tiếp định kỳ" in await done.text()
    assert await db.scalar(select(func.count()).select_from(ReceptionSchedule)) == 1
    created = await db.scalar(
        select(func.count()).select_from(Meeting).where(Meeting.schedule_id.is_not(None))
    )
    assert created is not None
    assert created >= 4
    roster = await client.post("/duty", data={"csrf_token": token, f"rank_{world['chair']}": "1"})
    assert "Đã lưu danh sách lãnh đạo trực." in await roster.text()
    assert await db.scalar(select(DutyRosterEntry.rank)) == 1


async def test_a_later_day_of_the_week(client: Client, db: AsyncSession) -> None:
    """The clock is a Tuesday: the week view starts on Monday."""
    await arrange(db)
    await login(client, "canbo")
    html = await (await client.get("/calendar")).text()
    assert 'data-date="2026-03-09"' in html
    assert 'data-date="2026-03-15"' in html
    assert (START + timedelta(days=0)).weekday() == 1


async def test_join_links_are_copied_printed_with_qr_codes_and_emailed(
    aiohttp_client: Any, db: AsyncSession, settings: Settings, clock: Any
) -> None:
    """Real SMTP on loopback; the QR code on each slip is the code of that slip's own link."""
    import dataclasses
    import email
    import email.policy
    import re

    import segno

    world = await arrange(db)
    operator = await make_user(db, "diemcau", Role.SITE_OPERATOR)
    operator.site_id = world["sites"]["05977"]
    operator.email = "dongkinh@langson.example"
    await db.commit()
    with smtp_inbox() as (port, received):
        mailing = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=port)
        client = await aiohttp_client(create_app(mailing, clock=clock))
        await login(client, "canbo")
        token = await csrf_of(client, "/meetings/new")
        booked = await client.post(
            "/meetings/new", data=booking_form(world, token), allow_redirects=False
        )
        meeting_url = booked.headers["Location"]
        page = await (await client.get(meeting_url)).text()
        assert page.count('data-copy="link-') == 3  # a copy button per link
        assert "Gửi qua thư điện tử (1 người có địa chỉ)" in page
        slips = await (await client.get(f"{meeting_url}/links/print")).text()
        urls = re.findall(r"<code>(http://[^<]+/join/[^<]+)</code>", slips)
        assert len(urls) == 3
        for name in ("UBND Phường Đông Kinh", "Hoàng Văn Sáng"):
            assert name in slips
        for url in urls:
            assert segno.make(url, error="m").svg_inline(scale=3, border=2) in slips
        sent = await client.post(
            f"{meeting_url}/links/email", data={"csrf_token": token}, allow_redirects=False
        )
        assert sent.status == 303
    assert [e.rcpt_tos for e in received] == [["dongkinh@langson.example"]]
    message = email.message_from_bytes(received[0].content, policy=email.policy.default)
    body = message.get_content()
    assert "Đường dẫn tham gia cho UBND Phường Đông Kinh" in body
    endpoint_url = next(u for u in urls if u in body)  # its own link, and only that one
    assert sum(u in body for u in urls) == 1
    assert endpoint_url in slips
    await db.rollback()
    actions = list(await db.scalars(select(AuditEvent.action)))
    assert "meeting.links_printed" in actions
    assert "meeting.links_emailed" in actions
