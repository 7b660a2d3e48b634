"""The denouncer vault: a cleared reader opens an identity with a reason, the inspector sees
every opening, and a planted identity appears nowhere else — pages, feeds, links, logs or plain
database columns."""

from __future__ import annotations

import base64
import json
import logging
import re

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.models import AuditEvent, Base, Case, CaseParty, Meeting, MeetingInvitee
from sessions.permissions import Principal
from sessions.settings import Settings
from sessions.tokens import sign_feed as feed_token
from tests.conftest import Client, csrf_from
from tests.test_permissions import _routes, _sign_in, build_world

NAME, ADDRESS = "Nguyễn Thị Tuyết", "Khòn Pổ"  # planted by the demo, sealed at intake
SEALED = "case_parties.protected_identity"  # the vault itself: encrypted


async def _denunciation(db: AsyncSession) -> tuple[Case, CaseParty]:
    party = await db.scalar(select(CaseParty).where(CaseParty.protected_identity.is_not(None)))
    assert party is not None
    case = await db.get(Case, party.case_id)
    assert case is not None
    return case, party


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_cleared_reader_opens_an_identity_with_a_reason(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    world = await build_world(db, settings)
    case, party = await _denunciation(db)
    path = f"/cases/{case.id}/parties/{party.id}/identity"
    assert party.pseudonym == "Người tố cáo 1"
    # The leader is not cleared: no link, and the page refuses.
    await _sign_in(client, "lanhdao", world.password)
    page = await (await client.get(f"/cases/{case.id}")).text()
    assert "Người tố cáo 1" in page
    assert path not in page
    assert (await client.get(path)).status == 403
    # The head of the reception board is cleared.
    client.session.cookie_jar.clear()
    await _sign_in(client, "truongban", world.password)
    page = await (await client.get(f"/cases/{case.id}")).text()
    assert f'href="{path}"' in page
    form = await (await client.get(path)).text()
    assert NAME not in form
    refused = await client.post(path, data={"csrf_token": csrf_from(form), "reason": "  "})
    assert refused.status == 400
    assert "Hãy nêu lý do cần mở danh tính." in await refused.text()
    reads = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == "vault.read")))
    assert reads == []
    reason = "Xác minh nội dung tố cáo theo Điều 31 Luật Tố cáo"
    opened = await client.post(path, data={"csrf_token": csrf_from(form), "reason": reason})
    html = await opened.text()
    assert opened.status == 200
    assert NAME in html
    assert ADDRESS in html
    reads = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == "vault.read")))
    assert [(r.details["reason"], r.details["pseudonym"]) for r in reads] == [
        (reason, "Người tố cáo 1")
    ]
    # The inspector sees the opening, and cannot open the identity.
    client.session.cookie_jar.clear()
    await _sign_in(client, "thanhtra", world.password)
    listing = await (await client.get("/audit/vault")).text()
    assert reason in listing
    assert "Hoàng Văn Quân" in listing  # who opened it
    assert NAME not in listing
    assert (await client.get(path)).status == 403


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_planted_identity_is_found_only_in_the_vault(
    client: Client, db: AsyncSession, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = await build_world(db, settings)
    case, party = await _denunciation(db)
    # An officer books a meeting for the denunciation and invites the denouncer.
    await _sign_in(client, "canbo", world.password)
    form = await (await client.get(f"/meetings/new?case={case.id}")).text()
    assert "Người tố cáo 1" in form
    assert NAME not in form
    province = re.search(r'<option value="(\d+)"[^>]*>Trụ sở Tiếp công dân tỉnh', form)
    assert province is not None
    booked = await client.post(
        "/meetings/new",
        data={
            "csrf_token": csrf_from(form),
            "title": "Làm việc với người tố cáo",
            "purpose": "reception",
            "kind": "regular",
            "date": "2026-03-20",
            "start_time": "08:00",
            "end_time": "09:00",
            "host_site_id": province.group(1),
            "case_id": str(case.id),
            "invite_party_ids": str(party.id),
            "recording_policy": "always",
            "quality_profile": "standard",
        },
        allow_redirects=False,
    )
    assert booked.status == 303, await booked.text()
    meeting_path = booked.headers["Location"]
    invitee = await db.scalar(select(MeetingInvitee).where(MeetingInvitee.party_id == party.id))
    assert invitee is not None
    assert invitee.display_name == "Người tố cáo 1"
    meeting_page = await (await client.get(meeting_path)).text()
    links = re.findall(r'value="(https?://[^"]*/join/([^"]+))"', meeting_page)
    assert links
    for _, token_text in links:
        payload = base64.urlsafe_b64decode(token_text.split(".")[0] + "==").decode()
        assert NAME not in payload
        assert "Người tố cáo" not in payload  # no name at all in an invitee's link
        if "invitee:" in payload:
            assert json.loads(payload)["name"] == ""
    seen: dict[str, str] = {"booking form": form, "meeting page": meeting_page}
    for _, token_text in links:
        seen[f"join link {token_text[:12]}"] = await (
            await client.get(f"/join/{token_text}")
        ).text()
    # Every page every role may open, and their calendar feeds.
    world.meetings = list((await db.scalars(select(Meeting))).unique())
    routes = [r for r in _routes(world) if r[0] == "GET" and "/identity" not in r[1]]
    for user in world.users:
        principal = Principal.of(user)
        client.session.cookie_jar.clear()
        await _sign_in(client, user.username, world.password)
        for _, path, action, target in routes:
            if action is None or principal.allows(action, target):
                seen[f"{user.username} {path}"] = await (await client.get(path)).text()
        feed = f"/calendar/feed/{feed_token(user.id, settings.session_key)}.ics"
        seen[f"{user.username} feed"] = await (await client.get(feed)).text()
    leaks = [where for where, text in seen.items() if NAME in text or ADDRESS in text]
    assert leaks == []
    assert len(seen) > 150
    # Logs, and every plain column of every table.
    assert NAME not in caplog.text
    for table in Base.metadata.sorted_tables:
        columns = [
            c for c in table.columns if isinstance(c.type, String | Text | JSON | LargeBinary)
        ]
        columns = [c for c in columns if f"{table.name}.{c.name}" != SEALED]
        if not columns:
            continue
        for row in (await db.execute(select(*columns))).all():
            text = " ".join(str(v) for v in row if v is not None)
            assert NAME not in text, table.name
            assert ADDRESS not in text, table.name
