"""Hardening found by trying the server as an outsider would: CSRF whatever the content type,
redirect targets, out-of-range ids and dates, headers on every response, file modes, probes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import db as database
from sessions import sites
from sessions.enums import MeetingStatus, Role
from sessions.models import AuditEvent, Case, DutyRosterEntry, Meeting, Site
from sessions.settings import Settings
from sessions.tokens import RoomRole
from tests.conftest import START, Client, csrf_of, login, make_user
from tests.factories import make_meeting, token
from web.auth import safe_next


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "text/plain"}, "title=x"),
        ({"Content-Type": "application/json"}, '{"title": "x"}'),
        ({}, None),
    ],
)
async def test_state_changes_need_the_csrf_token_whatever_the_content_type(
    client: Client, db: AsyncSession, headers: dict[str, str], body: str | None
) -> None:
    await sites.seed_sites(db, START)
    await make_user(db, "canbo", Role.OFFICER)
    await make_user(db, "lanhdao", Role.CHAIR)
    await login(client, "canbo")
    for path in ("/cases/new", "/duty", "/sites/1/device-token", "/cases/1/hold"):
        response = await client.post(path, data=body, headers=headers, allow_redirects=False)
        assert response.status == 400, (path, response.status)
        assert "Biểu mẫu đã hết hạn" in await response.text()
    assert await db.scalar(select(func.count()).select_from(Case)) == 0
    assert await db.scalar(select(func.count()).select_from(DutyRosterEntry)) == 0
    site = await db.get(Site, 1)
    assert site is not None
    assert site.device_token_hash is None
    # The header form of the token is accepted (for scripts of this site).
    token = await csrf_of(client)
    ok = await client.post(
        "/cases/new",
        data="",
        headers={"Content-Type": "text/plain", "X-CSRF-Token": token},
        allow_redirects=False,
    )
    assert ok.status == 400  # past CSRF: the empty form is refused field by field
    assert "Biểu mẫu đã hết hạn" not in await ok.text()


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "http:/evil.example",
        "evil.example",
        "/%09/evil.example" + "\r",
        "javascript:alert(1)",
    ],
)
def test_redirect_targets_stay_on_the_site(target: str) -> None:
    assert safe_next(target) == "/"


def test_a_path_on_the_site_is_kept() -> None:
    assert safe_next("/cases?q=đất#list") == "/cases?q=đất#list"


async def test_out_of_range_ids_and_dates_are_refused_not_crashed(
    client: Client, db: AsyncSession
) -> None:
    await make_user(db, "lanhdao", Role.CHAIR)
    await login(client, "lanhdao")
    huge = str(2**63)
    for path in (
        f"/cases/{huge}",
        f"/meetings/{huge}",
        f"/meetings/{huge}/room",
        f"/meetings/{huge}/recordings",
        f"/recordings/{huge}/file",
        "/cases/99999999999999999999",
        f"/calendar/feed/{huge}-abc.ics",
    ):
        response = await client.get(path)
        assert response.status == 404, (path, response.status)
    for query in ("date=0001-01-01", "date=9999-12-31", "date=x", f"site={huge}&leader={huge}"):
        response = await client.get(f"/calendar?{query}")
        assert response.status in (200, 400), (query, response.status)
        if response.status == 400:
            text = await response.text()
            assert "năm 1990 đến năm 2200" in text or "NNNN-TT-NN" in text, query
    response = await client.get(f"/meetings/new?case={huge}")
    assert response.status == 200


async def test_every_response_carries_the_security_headers(
    client: Client, db: AsyncSession
) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    responses = [
        await client.get("/login"),
        await client.get("/cases", allow_redirects=False),  # a redirect to sign in
        await client.get("/static/app.css"),
        await client.get("/no-such-page"),
        await client.get("/live/ws", headers={"Origin": "http://evil.example"}),
    ]
    assert responses[1].status == 303
    assert responses[4].status == 403
    for response in responses:
        assert response.headers["Server"] == "diemcau", response.url
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_sqlite_database_and_its_wal_are_the_owners_only(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    await login(client, "canbo")
    path = Path(settings.effective_database_url.removeprefix("sqlite:///"))
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("file modes are a SQLite matter")
    found = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    assert any(p.name.endswith("-wal") for p in found), found
    for p in found:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_a_new_sqlite_file_is_created_0600(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    engine = database.create_sync(url)
    database.upgrade(engine)
    engine.dispose()
    for p in tmp_path.glob("new.sqlite3*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


async def test_probes_take_only_real_offers_for_joinable_meetings(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    ended = await make_meeting(db, status=MeetingStatus.ENDED)
    live = await make_meeting(db, status=MeetingStatus.OPEN)
    key, who = settings.session_key, "Hoàng Văn Sáng"
    old = token(key, ended.id, "invitee:1", who, RoomRole.PARTICIPANT)
    good = token(key, live.id, "invitee:1", who, RoomRole.PARTICIPANT)
    refused = await client.post("/live/probe", json={"token": old, "sdp": "v=0"})
    assert (refused.status, (await refused.json())["error"]) == (403, "meeting_not_open")
    for _ in range(30):  # more than there are places: garbage never takes one
        response = await client.post("/live/probe", json={"token": good, "sdp": "garbage"})
        assert (response.status, (await response.json())["error"]) == (400, "bad_sdp")
    # Nobody but its maker ends a test call.
    stranger = await client.delete("/live/probe/anything", headers={"X-Join-Token": good})
    assert stranger.status == 403
    anonymous = await client.delete("/live/probe/anything")
    assert anonymous.status == 403


async def test_a_refused_request_saves_nothing_and_is_audited(
    client: Client, db: AsyncSession
) -> None:
    await sites.seed_sites(db, START)
    await make_user(db, "canbo", Role.OFFICER)
    await login(client, "canbo")
    province = await db.scalar(select(Site.id).where(Site.code == "TCD-LS"))
    form = {
        "csrf_token": await csrf_of(client, "/meetings/new"),
        "title": "Tiếp công dân",
        "purpose": "reception",
        "kind": "regular",
        "date": "9999-12-31",
        "start_time": "08:00",
        "end_time": "09:00",
        "host_site_id": str(province),
        "recording_policy": "always",
        "quality_profile": "standard",
    }
    response = await client.post("/meetings/new", data=form)
    assert response.status == 400
    html = await response.text()
    assert "Chỉ đặt lịch phiên trong vòng hai năm tới." in html
    assert 'value="Tiếp công dân"' in html  # what was typed is kept
    assert await db.scalar(select(func.count()).select_from(Meeting)) == 0
    refused = list(
        await db.scalars(select(AuditEvent).where(AuditEvent.action == "request.refused"))
    )
    assert [(e.object_id, e.details["path"]) for e in refused] == [("POST", "/meetings/new")]
