"""Property: whatever a signed-in person types into any form or query parameter, the server never
fails (no 500), and a refused request changes nothing (its refusal is audited, nothing else)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.models import Base, Case, CaseParty, Meeting, Site, User
from sessions.settings import Settings
from tests.conftest import Client, csrf_from
from tests.test_permissions import _sign_in, build_world
from web.keys import KIOSKS, SCHEDULER

# Tables a refusal may write to: the audit trail (refusals are audited) and the sign-in's own.
MAY_CHANGE = {"audit_events", "audit_head", "web_sessions", "login_failures"}

VALUE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=400),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            str(2**63),
            "9999-12-31",
            "0001-01-01",
            "25:99",
            "<script>alert(1)</script>",
            "Nguye\u0302\u0303n",  # combining marks, as some keyboards type
            "\x00\t\n",
            "x" * 10_000,
        ]
    ),
)


def form_for(fields: list[str], base: dict[str, str]) -> st.SearchStrategy[dict[str, str]]:
    """A form that would be accepted (``base``) with a few of its fields replaced by anything,
    or anything at all: so every field's checks are reached, not only the first one's."""
    some = st.dictionaries(st.sampled_from(fields), VALUE, max_size=3)
    return st.one_of(some.map(lambda d: {**base, **d}), some)


async def snapshot(db: AsyncSession) -> str:
    digest = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        if table.name in MAY_CHANGE:
            continue
        rows = (await db.execute(select(table).order_by(*table.primary_key.columns))).all()
        digest.update(f"{table.name}:{rows!r}".encode())
    return digest.hexdigest()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_form_or_query_parameter_breaks_the_server_or_half_saves(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    world = await build_world(db, settings)
    case = await db.scalar(select(Case).order_by(Case.id))
    meeting = (await db.scalars(select(Meeting).order_by(Meeting.id))).first()
    party = await db.scalar(select(CaseParty).where(CaseParty.protected_identity.is_not(None)))
    assert case is not None
    assert meeting is not None
    assert party is not None
    booking = ["title", "purpose", "kind", "date", "start_time", "end_time", "host_site_id"]
    booking += ["participant_site_ids", "chair_id", "secretary_id", "case_id", "ad_hoc_reason"]
    booking += ["recording_policy", "quality_profile", "invite_party_ids", "other_invitees"]
    province = await db.scalar(select(Site.id).where(Site.code == "TCD-LS"))
    commune = await db.scalar(select(Site.id).where(Site.code == "05977"))
    chair = await db.scalar(select(User.id).where(User.username == "lanhdao"))
    valid: dict[str, dict[str, str]] = {
        "/cases/new": {
            "title": "Kiến nghị về đường giao thông",
            "case_type": "KNGH",
            "received_on": "2026-03-01",
            "competent_level": "province",
        },
        f"/cases/{case.id}/parties": {"role": "complainant", "full_name": "Lò Văn Thử"},
        f"/cases/{case.id}/parties/{party.id}/identity": {"reason": "Xác minh"},
        "/meetings/new": {
            "title": "Tiếp công dân thử",
            "purpose": "reception",
            "kind": "regular",
            "date": "2026-03-20",
            "start_time": "08:00",
            "end_time": "09:00",
            "host_site_id": str(province),
            "participant_site_ids": str(commune),
            "recording_policy": "always",
            "quality_profile": "standard",
        },
        f"/meetings/{meeting.id}/cancel": {"reason": "Đổi lịch"},
        "/schedules": {
            "title": "Tiếp dân định kỳ",
            "recurrence": "weekly",
            "weekday": "0",
            "start_time": "08:00",
            "duration_minutes": "240",
            "chair_id": str(chair),
            "host_site_id": str(province),
            "recording_policy": "always",
        },
        "/urgent": {"commune_site_id": str(commune), "head_count": "12"},
    }
    posts: dict[str, list[str]] = {
        "/cases/new": [
            "title",
            "summary",
            "case_type",
            "complaint_instance",
            "received_on",
            "competent_level",
            "origin_site_id",
            "crowd_size",
            "flags",
        ],
        f"/cases/{case.id}/parties": [
            "role",
            "full_name",
            "address",
            "id_number",
            "phone",
            "represents_id",
            "appointment_document",
        ],
        f"/cases/{case.id}/parties/{party.id}/identity": ["reason"],
        "/meetings/new": booking,
        f"/meetings/{meeting.id}/cancel": ["reason"],
        f"/meetings/{meeting.id}/case": ["reference"],
        "/schedules": [
            "title",
            "recurrence",
            "weekday",
            "day_of_month",
            "start_time",
            "duration_minutes",
            "chair_id",
            "host_site_id",
            "participant_site_ids",
            "recording_policy",
        ],
        "/urgent": ["commune_site_id", "head_count"],
        "/account/password": ["current_password", "new_password", "repeat_password"],
        "/language": ["locale", "next"],
    }
    gets: dict[str, list[str]] = {
        "/cases": ["q", "status", "type", "flag", "page"],
        "/meetings": ["range", "status", "page"],
        "/calendar": ["view", "date", "site", "leader"],
        "/meetings/new": ["case"],
        f"/meetings/{meeting.id}/recordings": ["x"],
    }
    token = await _sign_in(client, "truongban", world.password)  # leader, officer, cleared
    # The timetable and the kiosk channel's sweep (readiness flags, presence) run on real time,
    # the test's clock is fixed: keep them from changing the database between two snapshots (a
    # booking accepted a moment earlier would otherwise be flagged in the middle of the next).
    assert client.app is not None
    client.app[SCHEDULER].scheduler.pause()
    channel = client.app[KIOSKS]
    for task in channel.tasks:
        task.cancel()
    await asyncio.gather(*channel.tasks, return_exceptions=True)
    loop = asyncio.get_running_loop()
    failures: list[str] = []

    async def post(path: str, data: dict[str, str]) -> None:
        nonlocal token
        before = await snapshot(db)
        response = await client.post(
            path, data={**data, "csrf_token": token}, allow_redirects=False
        )
        body = await response.text()
        if response.status >= 500:
            failures.append(f"POST {path} {data!r}: {response.status}")
        elif response.status >= 400:
            db.expire_all()
            if await snapshot(db) != before:
                failures.append(f"POST {path} {data!r}: refused ({response.status}) but saved")
            if "csrf_token" in body:
                token = csrf_from(body)

    async def get(path: str, query: dict[str, str]) -> None:
        response = await client.get(path, params=query, allow_redirects=False)
        if response.status >= 500:
            failures.append(f"GET {path} {query!r}: {response.status}")

    settings_ = hypothesis.settings(
        max_examples=30, deadline=None, suppress_health_check=list(hypothesis.HealthCheck)
    )

    def fuzz(call: Any, path: str, fields: list[str]) -> None:
        @settings_
        @hypothesis.given(form_for(fields, valid.get(path, {})))
        def run(data: dict[str, str]) -> None:
            asyncio.run_coroutine_threadsafe(call(path, data), loop).result(timeout=30)

        run()

    for path, fields in posts.items():
        await asyncio.to_thread(fuzz, post, path, fields)
    for path, params in gets.items():
        await asyncio.to_thread(fuzz, get, path, params)
    assert failures == [], "\n".join(failures[:20])
