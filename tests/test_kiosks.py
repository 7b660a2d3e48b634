"""The kiosks' push channel and the endpoint board, with 67 simulated kiosks (WebSocket clients
of the real app, no browsers): presence, a kiosk that goes silent, a meeting that opens, a
readiness check across all of them, and bad input that disturbs nobody."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pypdf
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import devices, lifecycle, meetings, sites
from sessions.enums import MeetingKind, MeetingPurpose, MeetingStatus, Role
from sessions.models import Notification, ReadinessCheck, Site
from sessions.settings import Settings, load_settings
from sessions.timing import Timing
from tests.conftest import IN_PROCESS, START, ZONE, Client, csrf_of, login, make_user
from web.keys import DB, KIOSKS

# The kiosk beats once a heartbeat, as web/static/js/kiosk.js does; faster than the channel's
# message allowance (2 a second) its beats would be refused and it would be closed as silent.
# Once a second, so an endpoint goes offline after 3 s of silence: at 0.5 s (1.5 s of silence) a
# loaded CI machine stalled this process long enough for a beating kiosk to be flagged offline.
HEARTBEAT = 1.0


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "heartbeat_seconds": HEARTBEAT,
            **IN_PROCESS,
        },
    )


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, limit: float = 20) -> None:
    """Wait for ``check`` (the test stops by itself if it never comes)."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


class Kiosk:
    """A simulated kiosk: its socket, every message it received, and its heartbeat."""

    def __init__(self, code: str, ws: aiohttp.ClientWebSocketResponse, rtt: float) -> None:
        self.code = code
        self.ws = ws
        self.rtt = rtt
        self.received: list[dict[str, Any]] = []
        self.beating = True
        self.answer_checks = True
        self.tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat())]

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                self.received.append(data)
                if data["type"] == "check" and self.answer_checks:
                    await self.ws.send_json(
                        {
                            "type": "check_result",
                            "check": data["check"],
                            "result": {
                                "rtt_ms": self.rtt,
                                "loss_percent": 0.5,
                                "kbps": 900,
                                "camera": "on",
                                "microphone": "on",
                            },
                        }
                    )

    async def _beat(self) -> None:
        seq = 0
        while True:
            if self.beating and not self.ws.closed:
                seq += 1
                await self.ws.send_json(
                    {
                        "type": "heartbeat",
                        "seq": seq,
                        "report": {
                            "browser": "Chromium",
                            "browser_version": "131.0",
                            "camera": "on",
                            "microphone": "on",
                            "rtt_ms": self.rtt,
                            "loss_percent": 0.0,
                            "kbps": 850.0,
                        },
                    }
                )
            await asyncio.sleep(HEARTBEAT)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == kind]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.ws.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def kiosks_for_every_endpoint(client: Client, db: AsyncSession) -> dict[str, Kiosk]:
    await sites.seed_sites(db, START)
    await db.flush()
    endpoints = await sites.listed(db)
    tokens = {s.code: await devices.issue(db, s, START, actor_id=None) for s in endpoints}
    await make_user(db, "canbo", Role.OFFICER)
    await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    await db.commit()
    assert len(tokens) == 67
    found = {}
    for number, (code, token) in enumerate(tokens.items()):
        ws = await client.ws_connect(f"/live/kiosk/{token}")
        # One commune on a weak link: its test call will be judged poor.
        found[code] = Kiosk(code, ws, rtt=600.0 if code == "05977" else 20.0 + number % 7)
    return found


async def board_states(client: Client) -> dict[str, str]:
    page = await (await client.get("/sites")).text()
    states = {}
    for chunk in page.split('<tr data-site="')[1:]:
        code, rest = chunk.split('"', 1)
        states[code] = rest.split('data-online="', 1)[1].split('"', 1)[0]
    return states


async def test_sixty_seven_kiosks_on_the_board_a_silent_one_goes_offline_a_meeting_reaches_all(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    kiosks = await kiosks_for_every_endpoint(client, db)
    channel = client.app[KIOSKS]
    try:
        # Each kiosk gets its state at once, and the board shows every one online.
        await until(lambda: all(k.of_type("state") for k in kiosks.values()), "first states")
        assert {k.of_type("state")[0]["site"]["code"] for k in kiosks.values()} == set(kiosks)
        await until(lambda: len(channel.online()) == 67, "67 online")
        await login(client, "canbo")
        states = await board_states(client)
        assert len(states) == 67
        assert set(states.values()) == {"yes"}
        page = await (await client.get("/sites")).text()
        assert "67 trên 67 điểm cầu đang trực tuyến" in page
        assert "Chromium 131.0" in page
        assert all(k.of_type("heartbeat_ack") for k in kiosks.values())

        # One commune's kiosk goes silent (its link dropped, the socket not closed): it is shown
        # offline after the heartbeat timeout, and nobody else is.
        silent = kiosks["05977"]
        silent.beating = False
        silent_id = silent.of_type("state")[0]["site"]["id"]
        await until(lambda: silent_id not in channel.online(), "the silent kiosk offline")
        states = await board_states(client)
        assert states["05977"] == "no"
        assert sum(1 for v in states.values() if v == "yes") == 66
        await silent.close()

        # A meeting of every other endpoint opens: each of their kiosks hears it at once (no
        # polling), with a join token for it.
        office = await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)
        assert office is not None
        others = [s for s in await sites.listed(db) if s.code != "05977"]
        async with client.app[DB]() as app_db, app_db.begin():
            meeting = await meetings.add(
                app_db,
                meetings.build(
                    title="Hội nghị trực tuyến toàn tỉnh",
                    purpose=MeetingPurpose.RECEPTION,
                    kind=MeetingKind.SCHEDULED,
                    case_id=None,
                    chair_id=None,
                    secretary_id=None,
                    start=START + timedelta(minutes=5),
                    end=START + timedelta(hours=1),
                    status=MeetingStatus.SCHEDULED,
                    created_at=START,
                    host_site_id=office.id,
                    participant_site_ids=[s.id for s in others if s.id != office.id],
                ),
                ZONE,
            )
        booked = meeting.id
        # The booking itself reached them: it is in their list of next meetings.
        await until(
            lambda: all(
                any(m["id"] == booked for m in k.of_type("state")[-1]["meetings"])
                for c, k in kiosks.items()
                if c != "05977"
            ),
            "the booking on every kiosk",
        )
        async with client.app[DB]() as app_db, app_db.begin():
            assert await lifecycle.open_meeting(app_db, booked, START, Timing.of(settings))

        def joined(kiosk: Kiosk) -> bool:
            active = kiosk.of_type("state")[-1]["active"]
            return active is not None and active["meeting_id"] == booked and bool(active["token"])

        await until(
            lambda: all(joined(k) for c, k in kiosks.items() if c != "05977"),
            "the opening on every kiosk",
        )
        assert not any(s["active"] for s in silent.of_type("state"))
        # Beating at the kiosk's own pace, none was ever refused or closed.
        assert [k.code for k in kiosks.values() if k.of_type("error")] == []
        assert [c for c, k in kiosks.items() if c != "05977" and k.ws.closed] == []
    finally:
        for kiosk in kiosks.values():
            await kiosk.close()


async def test_a_readiness_check_runs_across_every_kiosk_and_is_reported(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    kiosks = await kiosks_for_every_endpoint(client, db)
    channel = client.app[KIOSKS]
    try:
        await until(lambda: len(channel.online()) == 67, "67 online")
        await kiosks["05983"].close()  # one endpoint is off: unreachable at once
        kiosks["05986"].answer_checks = False  # one never answers: unreachable after a minute
        await until(lambda: len(channel.online()) == 66, "one gone")
        await login(client, "canbo")
        token = await csrf_of(client, "/sites")
        sent = await client.post(
            "/sites/check", data={"csrf_token": token, "site": "all"}, allow_redirects=False
        )
        assert sent.status == 303

        async def answered() -> bool:
            await db.rollback()
            pending = await db.scalar(
                select(func.count(ReadinessCheck.id)).where(ReadinessCheck.verdict == "pending")
            )
            return pending == 1  # only the one that does not answer

        await until(answered, "every answer")
        await db.rollback()
        verdicts: dict[str, str] = {
            code: verdict
            for code, verdict in await db.execute(
                select(Site.code, ReadinessCheck.verdict).join(Site)
            )
        }
        assert len(verdicts) == 67
        assert verdicts["05983"] == "unreachable"
        assert verdicts["05977"] == "poor"  # 600 ms round trip
        assert verdicts["05986"] == "pending"
        assert sum(1 for v in verdicts.values() if v == "good") == 64
        answering = [k for c, k in kiosks.items() if c not in ("05983", "05986")]
        # Each verdict is committed before its kiosk is told it: the telling may trail the rows.
        await until(lambda: all(k.of_type("check_done") for k in answering), "every kiosk told")

        # The board and the history say the same; the report reads back as XLSX and PDF.
        page = await (await client.get("/sites")).text()
        assert page.count("verdict-good") == 64
        day = START.astimezone(ZONE).date().isoformat()
        history = await (await client.get(f"/sites/readiness?from={day}&to={day}")).text()
        assert history.count("<tr>") == 1 + 67
        xlsx = await client.get(f"/sites/readiness?from={day}&to={day}&format=xlsx")
        assert xlsx.status == 200
        sheet = openpyxl.load_workbook(io.BytesIO(await xlsx.read())).active
        assert sheet is not None
        rows = [r for r in sheet.iter_rows(min_row=7, values_only=True) if r[0] is not None]
        assert len(rows) == 67
        poor = next(r for r in rows if r[2] == "UBND Phường Đông Kinh")
        assert poor[3] == "Kém"
        assert poor[4] == "600"
        pdf = await client.get(f"/sites/readiness?from={day}&to={day}&format=pdf")
        reader = pypdf.PdfReader(io.BytesIO(await pdf.read()))
        text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
        assert "BÁO CÁO SẴN SÀNG CỦA CÁC ĐIỂM CẦU" in text
        assert "Không phản hồi (mất kết nối)" in text
    finally:
        for kiosk in kiosks.values():
            await kiosk.close()


async def test_bad_kiosk_input_is_refused_and_disturbs_nobody(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    await sites.seed_sites(db, START)
    await db.flush()
    a = await sites.by_code(db, "05977")
    b = await sites.by_code(db, "05983")
    assert a is not None
    assert b is not None
    token_a = await devices.issue(db, a, START, actor_id=None)
    token_b = await devices.issue(db, b, START, actor_id=None)
    await make_user(db, "quantri", Role.ADMIN)
    await db.commit()
    channel = client.app[KIOSKS]
    other = Kiosk("05983", await client.ws_connect(f"/live/kiosk/{token_b}"), rtt=20)
    ws = await client.ws_connect(f"/live/kiosk/{token_a}")
    try:
        assert (await ws.receive_json())["type"] == "state"
        await until(lambda: b.id in channel.online(), "the other kiosk online")

        async def error_for(payload: str) -> dict[str, Any]:
            await ws.send_str(payload)
            while True:
                message: dict[str, Any] = await ws.receive_json(timeout=5)
                if message["type"] == "error":
                    return message

        assert (await error_for("not json"))["error"] == "bad_message"
        assert (await error_for("x" * 5000))["error"] == "too_large"
        assert (await error_for('{"type": "launch"}'))["error"] == "unknown_type"
        bad = await error_for(
            json.dumps({"type": "heartbeat", "report": {"camera": "maybe", "rtt_ms": -3}})
        )
        assert bad["error"] == "bad_report"
        assert "camera" in bad["fields"]
        bad = await error_for(json.dumps({"type": "heartbeat", "report": {"rtt_ms": 1e12}}))
        assert "rtt_ms" in bad["fields"]
        bad = await error_for(json.dumps({"type": "check_result", "check": 12345, "result": {}}))
        assert bad["error"] == "bad_report"
        assert "check" in bad["fields"]
        # A flood is refused past its allowance, and the socket stays open.
        for _ in range(40):
            await ws.send_str('{"type": "heartbeat", "report": {}}')
        assert (await error_for('{"type": "heartbeat", "report": {}}'))["error"] == "rate_limited"
        assert not ws.closed
        assert b.id in channel.online()
        assert other.ws.closed is False

        # A burst of reconnects from one endpoint: refused with a reason past the allowance.
        refused = []
        for _ in range(10):
            try:
                extra = await client.ws_connect(f"/live/kiosk/{token_a}")
                await extra.close()
            except aiohttp.WSServerHandshakeError as exc:
                refused.append(exc.status)
        assert refused
        assert set(refused) == {429}
        # Garbage device links are refused with a reason, and the board still has the other.
        with pytest.raises(aiohttp.WSServerHandshakeError) as garbage:
            await client.ws_connect("/live/kiosk/not-a-device")
        assert garbage.value.status == 403
        assert b.id in channel.online()

        # The administrator reissues B's link: its kiosk is told it was revoked, and closed.
        await login(client, "quantri")
        csrf = await csrf_of(client, "/sites")
        issued = await client.post(f"/sites/{b.id}/device-token", data={"csrf_token": csrf})
        assert issued.status == 200
        await until(lambda: bool(other.of_type("revoked")), "the revocation")
        await until(lambda: other.ws.closed, "the revoked kiosk closed")
        with pytest.raises(aiohttp.WSServerHandshakeError) as old:
            await client.ws_connect(f"/live/kiosk/{token_b}")
        assert old.value.status == 403
        await db.rollback()
        assert await db.scalar(select(func.count(Notification.id))) == 0
    finally:
        await other.close()
        await ws.close()


async def test_an_endpoint_booked_soon_that_is_offline_or_failed_is_flagged(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    """Within the hour before a meeting: an offline endpoint and one that failed its check are
    flagged on the dashboard and the meeting page, and told to its chair and secretary once."""
    await sites.seed_sites(db, START)
    await db.flush()
    office = await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)
    online = await sites.by_code(db, "05977")
    offline = await sites.by_code(db, "05983")
    assert office is not None
    assert online is not None
    assert offline is not None
    tokens = {s.id: await devices.issue(db, s, START, actor_id=None) for s in (office, online)}
    chair = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    secretary = await make_user(db, "thuky", Role.SECRETARY, full_name="Vi Thị Lan")
    meeting = await meetings.add(
        db,
        meetings.build(
            title="Tiếp công dân định kỳ",
            purpose=MeetingPurpose.RECEPTION,
            start=START + timedelta(minutes=30),
            end=START + timedelta(hours=2),
            created_at=START,
            host_site_id=office.id,
            participant_site_ids=[online.id, offline.id],
            chair_id=chair.id,
            secretary_id=secretary.id,
        ),
        ZONE,
    )
    await db.commit()
    # Kept as plain values: the checks below roll the test's session back.
    chair_id, secretary_id, meeting_id = chair.id, secretary.id, meeting.id
    office_id, online_id = office.id, online.id
    online_name, offline_name = online.name, offline.name
    kiosks = [
        Kiosk(str(site_id), await client.ws_connect(f"/live/kiosk/{token}"), rtt=20)
        for site_id, token in tokens.items()
    ]
    channel = client.app[KIOSKS]
    try:
        await until(lambda: {office_id, online_id} <= channel.online(), "two kiosks online")

        async def notices() -> list[tuple[int | None, str]]:
            await db.rollback()
            # Only the flags' notices: the scheduler's reminders of the meeting may come too.
            rows = await db.execute(
                select(Notification.user_id, Notification.params["site"].as_string()).where(
                    Notification.dedupe_key.like("endpoint-flag:%")
                )
            )
            return [(u, s) for u, s in rows]

        async def told() -> bool:
            return len(await notices()) == 2

        await until(told, "the chair and the secretary told")
        assert sorted(await notices()) == sorted(
            [(chair_id, offline_name), (secretary_id, offline_name)]
        )
        await login(client, "lanhdao")
        page = await (await client.get(f"/meetings/{meeting_id}")).text()
        flagged = page[page.index("Điểm cầu cần xử lý trước phiên họp này") :]
        flagged = flagged[: flagged.index("</div>")]
        assert f"{offline_name} — Mất kết nối" in flagged
        assert online_name not in flagged
        dashboard = await (await client.get("/")).text()
        assert "Điểm cầu cần xử lý trước phiên họp" in dashboard
        assert "đang mất kết nối" in dashboard  # the notice, in words

        # The online commune fails a readiness check (a weak link): it is flagged too.
        kiosks[1].rtt = 900
        await channel.request_checks({online_id}, actor_id=None)
        await until(lambda: bool(kiosks[1].of_type("check_done")), "the check answered")
        assert kiosks[1].of_type("check_done")[0]["verdict"] == "poor"
        await until(lambda: _count(notices, 4), "the failed check told")
        page = await (await client.get(f"/meetings/{meeting_id}")).text()
        assert f"{online_name} — Không đạt lần kiểm tra sẵn sàng gần nhất" in page
        await asyncio.sleep(HEARTBEAT * 3)  # more sweeps tell nobody again
        assert len(await notices()) == 4
    finally:
        for kiosk in kiosks:
            await kiosk.close()


async def _count(notices: Callable[[], Awaitable[list[Any]]], n: int) -> bool:
    return len(await notices()) == n


async def test_a_signed_in_endpoint_operator_keeps_the_endpoint_online(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    await sites.seed_sites(db, START)
    await db.flush()
    commune = await sites.by_code(db, "05977")
    assert commune is not None
    operator = await make_user(db, "diemcau", Role.SITE_OPERATOR)
    operator.site_id = commune.id
    site_id = commune.id
    await db.commit()
    channel = client.app[KIOSKS]
    await login(client, "diemcau")
    page = await (await client.get("/")).text()
    assert f'data-presence="{HEARTBEAT}"' in page  # the page beats (web/static/js/page.js)
    token = await csrf_of(client, "/")
    beat = {"browser": "Firefox", "browser_version": "128.0"}
    sent = await client.post("/presence", json=beat, headers={"X-CSRF-Token": token})
    assert sent.status == 200
    assert site_id in channel.online()
    states = await board_states(client)
    assert states["05977"] == "yes"
    assert "Firefox 128.0" in await (await client.get("/sites")).text()
    heard = channel.presence[site_id]
    before = (heard.report, heard.last_seen, heard.seen_monotonic, heard.heartbeats)
    bad = await client.post(
        "/presence", json={"browser": "x" * 500}, headers={"X-CSRF-Token": token}
    )
    assert bad.status == 400
    assert "browser" in (await bad.json())["fields"]
    # A bad report changes nothing: not the report, nor when the endpoint was last heard (asserting
    # "still online" here would race the timeout on a loaded machine).
    heard = channel.presence[site_id]
    assert (heard.report, heard.last_seen, heard.seen_monotonic, heard.heartbeats) == before
    # The page closed: no more beats, and the endpoint goes offline after the timeout.
    await until(lambda: site_id not in channel.online(), "offline once the beats stop")
    assert (await board_states(client))["05977"] == "no"
