"""The permissions table: every route and every room action, for every role, as the table says.

The expectations are computed from ``sessions.permissions`` and the records themselves; the
routes are listed here, independently of the views, so a view that forgets to ask the table (or
asks about the wrong record) fails."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, demo, meetings, sites, users
from sessions.clock import FixedClock
from sessions.enums import MeetingPurpose, Role
from sessions.identity import IdentityVault
from sessions.models import Case, CaseParty, Meeting, User
from sessions.permissions import ROOM_RULES, RULES, Action, Principal, room_allows
from sessions.settings import Settings
from sessions.tokens import JoinClaims, RoomRole
from signaling import protocol
from signaling.hub import Hub
from tests.conftest import START, ZONE, Client, csrf_of, login
from tests.test_room import FakeConnection, hub

__all__ = ["hub"]  # the fixture, used by a test below


@dataclass
class World:
    password: str
    users: list[User]
    cases: list[Case]
    meetings: list[Meeting]
    protected: list[tuple[Case, int]]  # (case, party id) of each denouncer


async def build_world(db: AsyncSession, settings: Settings) -> World:
    """The demo (one account per role, cases and meetings of the provincial office), plus a
    second unit: an officer of a commune with a case and a meeting of its own."""
    result = await demo.load_demo(
        db,
        now=START,
        zone=settings.zone,
        vault=IdentityVault(settings.identity_key),
        crowd_threshold=settings.crowd_threshold,
    )
    assert result.password is not None
    commune = await sites.by_code(db, "05983")
    assert commune is not None
    other = await users.create_user(
        db,
        username="canbo.xa",
        full_name="Chu Văn Dũng",
        password=result.password,
        roles=(Role.OFFICER,),
        site_id=commune.id,
        at=START,
    )
    own = await cases.create_case(
        db,
        cases.CaseDraft(
            title="Kiến nghị về đường giao thông nông thôn",
            case_type="KNGH",
            received_on="2026-01-10",
            competent_level="commune",
        ),
        at=START,
        today=START.date(),
        actor_id=other.id,
        crowd_threshold=5,
        unit_site_id=commune.id,
    )
    await meetings.add(
        db,
        meetings.build(
            case_id=own.id,
            title="Đối thoại kiến nghị đường giao thông",
            purpose=MeetingPurpose.DIALOGUE,
            start=START + timedelta(days=3),
            end=START + timedelta(days=3, hours=2),
            created_at=START,
            created_by_id=other.id,
            host_site_id=commune.id,
        ),
        ZONE,
    )
    await db.commit()
    db.expire_all()
    all_cases = list(await db.scalars(select(Case).order_by(Case.id)))
    by_id = {c.id: c for c in all_cases}
    denouncers = await db.execute(
        select(CaseParty.case_id, CaseParty.id).where(CaseParty.protected_identity.is_not(None))
    )
    return World(
        result.password,
        list(await db.scalars(select(User).order_by(User.id))),
        all_cases,
        list((await db.scalars(select(Meeting).order_by(Meeting.id))).unique()),
        [(by_id[case_id], party_id) for case_id, party_id in denouncers],
    )


def test_the_table_names_every_role_and_room_role() -> None:
    assert set(RULES) == set(Role)
    assert set(ROOM_RULES) == {r.value for r in RoomRole}
    assert {a for rules in RULES.values() for a in rules} == set(Action)


async def test_scope_on_objects_and_in_sql_agree(db: AsyncSession, settings: Settings) -> None:
    """The two faces of each scope: the test on a loaded record and the SQL clause."""
    world = await build_world(db, settings)
    assert len(world.users) == 8
    assert len(world.protected) == 1
    for user in world.users:
        principal = Principal.of(user)
        for action in Action:
            listed = set(await db.scalars(select(Case.id).where(principal.case_clause(action))))
            tested = {c.id for c in world.cases if principal.allows(action, c)}
            assert listed == tested, (user.username, action)
            shown = set(
                await db.scalars(select(Meeting.id).where(principal.meeting_clause(action)))
            )
            allowed = {m.id for m in world.meetings if principal.allows(action, m)}
            assert shown == allowed, (user.username, action)
    # And the scopes mean what the issue asked for.
    by_name = {u.username: Principal.of(u) for u in world.users}
    commune_case = next(c for c in world.cases if c.title.startswith("Kiến nghị về đường"))
    province_cases = [c for c in world.cases if c is not commune_case]
    assert all(by_name["canbo"].allows(Action.CASE_VIEW, c) for c in province_cases)
    assert not by_name["canbo"].allows(Action.CASE_VIEW, commune_case)
    assert by_name["canbo.xa"].allows(Action.CASE_VIEW, commune_case)
    assert not any(by_name["canbo.xa"].allows(Action.CASE_VIEW, c) for c in province_cases)
    assert all(by_name["lanhdao"].allows(Action.CASE_VIEW, c) for c in world.cases)
    assert all(by_name["thanhtra"].allows(Action.CASE_VIEW, c) for c in world.cases)
    assert not any(by_name["thanhtra"].allows(Action.CASE_EDIT, c) for c in world.cases)
    for operator in ("diemcau.dongkinh", "lienlac.tw"):
        assert not any(by_name[operator].allows(Action.CASE_VIEW, c) for c in world.cases)
        seen = [m for m in world.meetings if by_name[operator].allows(Action.MEETING_VIEW, m)]
        own_site = by_name[operator].site_id
        assert seen
        assert all(own_site in {ms.site_id for ms in m.sites} for m in seen)
        assert len(seen) < len(world.meetings)


def _routes(world: World) -> list[tuple[str, str, Action | None, Case | Meeting | None]]:
    """(method, path, action, record) for every route; None: any signed-in person."""
    out: list[tuple[str, str, Action | None, Case | Meeting | None]] = [
        ("GET", "/", None, None),
        ("GET", "/cases", Action.CASE_LIST, None),
        ("GET", "/cases/new", Action.CASE_CREATE, None),
        ("POST", "/cases/new", Action.CASE_CREATE, None),
        ("GET", "/meetings", Action.MEETING_LIST, None),
        ("GET", "/meetings/new", Action.MEETING_BOOK, None),
        ("POST", "/meetings/new", Action.MEETING_BOOK, None),
        ("GET", "/calendar", Action.MEETING_LIST, None),
        ("GET", "/sites", Action.SITE_LIST, None),
        ("GET", "/schedules", Action.SCHEDULE_MANAGE, None),
        ("POST", "/schedules", Action.SCHEDULE_MANAGE, None),
        ("POST", "/schedules/999999/stop", Action.SCHEDULE_MANAGE, None),
        ("GET", "/duty", Action.DUTY_MANAGE, None),
        ("GET", "/urgent", Action.URGENT_RAISE, None),
        ("POST", "/urgent", Action.URGENT_RAISE, None),
        ("POST", "/urgent/999999/accept", Action.URGENT_ANSWER, None),
        ("GET", "/live/rooms", Action.LIVE_ROOMS, None),
        ("POST", "/sites/1/device-token", Action.SITE_DEVICE, None),
        ("GET", "/audit/vault", Action.AUDIT_READ, None),
        ("GET", "/users", Action.USER_MANAGE, None),
        ("POST", "/users", Action.USER_MANAGE, None),
        ("POST", "/users/1/roles", Action.USER_MANAGE, None),
        ("POST", "/users/1/active", Action.USER_MANAGE, None),
        ("POST", "/users/1/password", Action.USER_MANAGE, None),
    ]
    for case, party_id in world.protected:
        path = f"/cases/{case.id}/parties/{party_id}/identity"
        out += [("GET", path, Action.VAULT_READ, case), ("POST", path, Action.VAULT_READ, case)]
    for c in world.cases:
        out += [
            ("GET", f"/cases/{c.id}", Action.CASE_VIEW, c),
            ("POST", f"/cases/{c.id}/parties", Action.CASE_EDIT, c),
            ("POST", f"/cases/{c.id}/hold", Action.CASE_HOLD, c),
        ]
    for m in world.meetings:
        out += [
            ("GET", f"/meetings/{m.id}", Action.MEETING_VIEW, m),
            ("GET", f"/meetings/{m.id}/room", Action.MEETING_JOIN, m),
            ("GET", f"/meetings/{m.id}/recordings", Action.RECORDING_VIEW, m),
            ("GET", f"/meetings/{m.id}/recordings/status", Action.RECORDING_VIEW, m),
            ("POST", f"/meetings/{m.id}/recordings/combine", Action.RECORDING_COMBINE, m),
            ("POST", f"/meetings/{m.id}/cancel", Action.MEETING_CANCEL, m),
        ]
    return out


async def _sign_in(client: Client, username: str, password: str) -> str:
    """Sign in (conftest's helper) and return the session's CSRF token."""
    await login(client, username, password)
    return await csrf_of(client)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_route_answers_every_role_as_the_table_says(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    world = await build_world(db, settings)
    routes = _routes(world)
    wrong: list[str] = []
    for user in world.users:
        principal = Principal.of(user)
        client.session.cookie_jar.clear()
        token = await _sign_in(client, user.username, world.password)
        for method, path, action, target in routes:
            expected = action is None or principal.allows(action, target)
            if method == "GET":
                response = await client.get(path, allow_redirects=False)
            else:
                response = await client.post(
                    path, data={"csrf_token": token}, allow_redirects=False
                )
            body = await response.text()
            refused = response.status == 403
            if refused == expected or response.status >= 500:
                wrong.append(f"{user.username} {method} {path}: {response.status}")
            if refused:  # a page that says why, in Vietnamese
                assert 'class="narrow card error-page"' in body, path
                assert "Mã lỗi: 403" in body, path
    assert wrong == [], "\n".join(wrong)


LINK = re.compile(r'(?:href|action)="(/[^"#?]*)')


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_page_links_to_what_its_reader_may_not_do(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    """Navigation, links and buttons ask the same table: whatever a page a person may open
    links to or posts to, that person may do."""
    world = await build_world(db, settings)
    routes = _routes(world)
    rule = {(m, p): (a, t) for m, p, a, t in routes}
    for user in world.users:
        principal = Principal.of(user)
        client.session.cookie_jar.clear()
        await _sign_in(client, user.username, world.password)
        for method, path, action, target in routes:
            if method != "GET" or not (action is None or principal.allows(action, target)):
                continue
            html = await (await client.get(path)).text()
            for found in set(LINK.findall(html)):
                for kind in ("GET", "POST"):
                    linked_action, linked_target = rule.get((kind, found), (None, None))
                    if linked_action is not None:
                        assert principal.allows(linked_action, linked_target), (
                            user.username,
                            path,
                            kind,
                            found,
                        )


ROOM_ACTIONS: dict[str, Any] = {
    "admit": protocol.Admit(all=True),
    "send_back": protocol.SendBack(participant_id="x"),
    "mute_participant": protocol.MuteParticipant(participant_id="x"),
    "remove": protocol.RemoveParticipant(participant_id="x"),
    "give_floor": protocol.GiveFloor(participant_id=None),
    "recording_control": protocol.RecordingControl(action="start"),
    "end_meeting": protocol.EndMeeting(),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_room_actions_follow_the_table(db: AsyncSession, hub: Hub, clock: FixedClock) -> None:
    from tests.factories import make_meeting

    meeting = await make_meeting(db, waiting_room=False)
    room = await hub.room_for(meeting.id)
    expires = int(START.timestamp()) + 3600
    for role in RoomRole:
        actor = await room.join(
            JoinClaims(meeting.id, f"user:{role.value}", role.value, role, expires),
            FakeConnection(),
        )
        for kind, message in ROOM_ACTIONS.items():
            if kind == "end_meeting" and room_allows(role, kind):
                continue  # it would end the room for the roles after this one
            try:
                await room.handle(actor, message)
            except protocol.ProtocolError as exc:
                refused = exc.error_id == "not_allowed"
            else:
                refused = False
            assert refused is not room_allows(role, kind), (role, kind)
    waiting_room = await make_meeting(db, waiting_room=True)
    room = await hub.room_for(waiting_room.id)
    for role in RoomRole:
        someone = await room.join(
            JoinClaims(waiting_room.id, f"user:{role.value}", role.value, role, expires),
            FakeConnection(),
        )
        assert (someone.state == "present") is room_allows(role, "skip_waiting_room"), role
