"""Dashboard, meetings and endpoints pages on the demo data; cancelling; health."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import demo
from sessions.enums import MeetingStatus
from sessions.identity import IdentityVault
from sessions.models import Case, Meeting
from sessions.settings import Settings
from tests.conftest import START, Client, csrf_of, login


async def load_demo(db: AsyncSession, settings: Settings) -> demo.DemoResult:
    result = await demo.load_demo(
        db,
        now=START,
        zone=settings.zone,
        vault=IdentityVault(settings.identity_key),
        crowd_threshold=settings.crowd_threshold,
    )
    await db.commit()
    assert result.password is not None
    return result


async def meeting_titled(db: AsyncSession, title: str) -> Meeting:
    meeting = await db.scalar(select(Meeting).where(Meeting.title == title))
    assert meeting is not None
    return meeting


async def test_dashboard_shows_today_and_endpoints(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    result = await load_demo(db, settings)
    assert result.password is not None
    await login(client, "canbo", result.password)
    html = await (await client.get("/")).text()
    assert "Các phiên hôm nay" in html
    assert "Tiếp công dân định kỳ của lãnh đạo UBND tỉnh" in html  # today, 2 hours from now
    assert "Đối thoại khiếu nại lần hai" not in html  # in two days
    assert "Trụ sở Tiếp công dân Trung ương" in html
    assert "65 điểm cầu cấp xã" in html
    assert "VV-2026-0001" in html
    sites_page = await (await client.get("/sites")).text()
    assert sites_page.count("<tr data-site=") == 67  # every endpoint on the board
    # Loading the demo twice adds nothing.
    again = await demo.load_demo(
        db,
        now=START,
        zone=settings.zone,
        vault=IdentityVault(settings.identity_key),
        crowd_threshold=5,
    )
    assert not again.created


async def test_meeting_pages_and_cancel(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    result = await load_demo(db, settings)
    assert result.password is not None
    await login(client, "canbo", result.password)
    upcoming = await (await client.get("/meetings")).text()
    assert "Đối thoại khiếu nại lần hai" in upcoming
    assert "Đối thoại giải quyết khiếu nại về bồi thường" not in upcoming  # yesterday
    past = await (await client.get("/meetings?range=past")).text()
    assert "Đối thoại giải quyết khiếu nại về bồi thường" in past

    ended = await meeting_titled(db, "Đối thoại giải quyết khiếu nại về bồi thường thu hồi đất")
    detail = await (await client.get(f"/meetings/{ended.id}")).text()
    assert "Trụ sở Tiếp công dân tỉnh Lạng Sơn" in detail
    assert "Điểm cầu chính" in detail
    assert "Lương Văn Bình" in detail
    assert "Hủy phiên này" not in detail  # an ended meeting cannot be cancelled
    assert "08:02 09/03/2026" in detail  # started, shown in Vietnam time

    upcoming_meeting = await meeting_titled(
        db, "Đối thoại khiếu nại lần hai về tranh chấp đất rừng"
    )
    token = await csrf_of(client, f"/meetings/{upcoming_meeting.id}")
    no_reason = await client.post(
        f"/meetings/{upcoming_meeting.id}/cancel", data={"csrf_token": token, "reason": " "}
    )
    assert no_reason.status == 400
    assert "Nêu lý do hủy phiên." in await no_reason.text()
    done = await client.post(
        f"/meetings/{upcoming_meeting.id}/cancel",
        data={"csrf_token": token, "reason": "Công dân xin hoãn"},
    )
    assert done.status == 200
    html = await done.text()
    assert "Đã hủy phiên." in html
    assert "Công dân xin hoãn" in html
    await db.refresh(upcoming_meeting)
    assert upcoming_meeting.status is MeetingStatus.CANCELLED

    refused = await client.post(
        f"/meetings/{ended.id}/cancel", data={"csrf_token": token, "reason": "Thử"}
    )
    assert refused.status == 409
    assert "không thể chuyển sang “Đã hủy”" in await refused.text()
    await db.refresh(ended)
    assert ended.status is MeetingStatus.ENDED


async def test_case_page_lists_its_meetings(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    result = await load_demo(db, settings)
    assert result.password is not None
    await login(client, "thanhtra", result.password)
    case = await db.scalar(select(Case).where(Case.reference == "VV-2026-0001"))
    assert case is not None
    html = await (await client.get(f"/cases/{case.id}")).text()
    assert "Đối thoại giải quyết khiếu nại về bồi thường" in html
    assert "Văn bản cử người đại diện ngày 02/10/2026" in html
    assert "Thêm người" not in html  # an auditor reads, does not edit


async def test_healthz(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok"}
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_times_shown_in_vietnam_time(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    result = await load_demo(db, settings)
    assert result.password is not None
    await login(client, "canbo", result.password)
    today = await meeting_titled(db, "Tiếp công dân định kỳ của lãnh đạo UBND tỉnh")
    # Loaded at 09:00 on a Tuesday in Vietnam, the demo's next meeting starts at 10:00.
    assert today.planned_start == START + timedelta(hours=1)  # 03:00 UTC
    html = await (await client.get(f"/meetings/{today.id}")).text()
    assert "10:00 10/03/2026" in html
