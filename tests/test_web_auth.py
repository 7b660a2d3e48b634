"""Sign-in, one-time passwords, sign-out, CSRF and role checks through the real app."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import bootstrap, sites, tokens, users
from sessions.clock import FixedClock
from sessions.enums import Role
from sessions.models import AuditEvent, Case, Notification, Site, User
from sessions.settings import Settings
from tests.conftest import PASSWORD, START, Client, csrf_from, csrf_of, login, make_user
from tests.factories import make_meeting, shown
from web.app import create_app


async def test_pages_need_sign_in(client: Client) -> None:
    response = await client.get("/cases", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login?next=/cases"


async def test_sign_in_and_out(client: Client, db: AsyncSession) -> None:
    await make_user(db, "canbo", Role.OFFICER, full_name="Hoàng Thị Mai")
    signed_in = await login(client, "canbo")
    set_cookie = signed_in.headers["Set-Cookie"]
    assert set_cookie.startswith("diemcau_session=")
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    home = await client.get("/")
    assert home.status == 200
    assert "Hoàng Thị Mai" in await home.text()
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["diemcau_session"]

    token = await csrf_of(client)
    out = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert out.status == 303
    # The old cookie is revoked on the server, not merely forgotten by the browser.
    client.session.cookie_jar.update_cookies({"diemcau_session": cookie.value})
    again = await client.get("/", allow_redirects=False)
    assert again.status == 303
    assert again.headers["Location"].startswith("/login")


async def test_wrong_password_and_unknown_user_say_the_same(
    client: Client, db: AsyncSession
) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    texts = []
    for username, password in (("canbo", "sai-mat-khau-123"), ("khongco", PASSWORD)):
        page = await client.get("/login")
        response = await client.post(
            "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": csrf_from(await page.text()),
            },
        )
        assert response.status == 401
        body = await response.text()
        assert "Tên đăng nhập hoặc mật khẩu không đúng." in body
        texts.append(body.replace(username, "USER"))
    assert texts[0] == texts[1]
    failures = await db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.login_failed")
    )
    assert failures == 2


async def test_one_time_password_must_be_changed(client: Client, db: AsyncSession) -> None:
    first = await bootstrap.first_start(db, START)
    await db.commit()
    assert first.admin_password is not None
    assert first.sites_added == 67
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": "admin",
            "password": first.admin_password,
            "csrf_token": csrf_from(await page.text()),
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/account/password"
    blocked = await client.get("/cases", allow_redirects=False)
    assert blocked.headers["Location"] == "/account/password"

    token = await csrf_of(client, "/account/password")
    short = await client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": first.admin_password,
            "new_password": "ngan",
            "repeat_password": "ngan",
        },
    )
    assert short.status == 400
    assert "Mật khẩu phải có ít nhất 10 ký tự." in await short.text()
    done = await client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": first.admin_password,
            "new_password": "mat-khau-rieng-2026",
            "repeat_password": "mat-khau-rieng-2026",
        },
        allow_redirects=False,
    )
    assert done.status == 303
    assert (await client.get("/sites")).status == 200
    # The administrator runs the installation; case content is not for that account.
    assert (await client.get("/cases")).status == 403
    # A second first start creates no second administrator and reveals no password.
    again = await bootstrap.first_start(db, START)
    assert again.admin_password is None
    assert again.sites_added == 0


async def test_form_without_csrf_token_is_refused_and_nothing_saved(
    client: Client, db: AsyncSession
) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    await login(client, "canbo")
    form = {
        "title": "Kiến nghị về đường giao thông nông thôn",
        "case_type": "KNGH",
        "received_on": "2026-03-09",
        "competent_level": "commune",
    }
    refused = await client.post("/cases/new", data=form)
    assert refused.status == 400
    assert "Biểu mẫu đã hết hạn" in await refused.text()
    forged = await client.post("/cases/new", data={**form, "csrf_token": "x" * 43})
    assert forged.status == 400
    cross_site = await client.post(
        "/cases/new",
        data={**form, "csrf_token": await csrf_of(client)},
        headers={"Origin": "http://evil.example"},
    )
    assert cross_site.status == 400
    assert await db.scalar(select(func.count()).select_from(Case)) == 0


async def test_role_without_intake_rights_gets_403(client: Client, db: AsyncSession) -> None:
    await make_user(db, "thanhtra", Role.AUDITOR)
    await login(client, "thanhtra")
    response = await client.get("/cases/new")
    assert response.status == 403
    assert "Vai trò của bạn không được phép thực hiện việc này." in await response.text()


async def test_redirect_after_login_stays_on_site(client: Client, db: AsyncSession) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    page = await client.get("/login?next=//evil.example/x")
    response = await client.post(
        "/login",
        data={
            "username": "canbo",
            "password": PASSWORD,
            "next": "//evil.example/x",
            "csrf_token": csrf_from(await page.text()),
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/"


async def _try(client: Client, username: str, password: str) -> tuple[int, str]:
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_from(await page.text()),
        },
        allow_redirects=False,
    )
    return response.status, await response.text()


async def test_wrong_passwords_lock_the_account_and_tell_the_administrators(
    client: Client, db: AsyncSession, clock: FixedClock
) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    await make_user(db, "quantri", Role.ADMIN)
    for _ in range(4):
        assert (await _try(client, "canbo", "sai-mat-khau-123"))[0] == 401
    status, html = await _try(client, "canbo", "sai-mat-khau-123")  # the fifth locks it
    assert status == 401
    assert "tạm dừng đăng nhập trong 15 phút" in html
    # Now even the right password waits, and the administrator has a notice.
    status, html = await _try(client, "canbo", PASSWORD)
    assert status == 429
    assert "tạm dừng đăng nhập trong 15 phút" in html
    notices = [shown(n) for n in await db.scalars(select(Notification))]
    assert notices == [
        "Đăng nhập vào tài khoản canbo bị tạm khóa một thời gian sau nhiều lần nhập sai mật khẩu."
    ]
    actions = list(await db.scalars(select(AuditEvent.action)))
    assert actions.count("auth.login_failed") == 5
    assert "auth.locked" in actions
    assert "auth.login_throttled" in actions
    # Other accounts are not affected; after the window the account signs in again.
    assert (await _try(client, "quantri", PASSWORD))[0] == 303
    client.session.cookie_jar.clear()
    clock.advance(timedelta(minutes=16))
    assert (await _try(client, "canbo", PASSWORD))[0] == 303


async def test_many_wrong_passwords_from_one_address_lock_the_address(
    client: Client, db: AsyncSession
) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    for i in range(20):
        assert (await _try(client, f"khongco{i}", "sai-mat-khau-123"))[0] == 401
    assert (await _try(client, "canbo", PASSWORD))[0] == 429


async def test_a_password_change_signs_out_every_other_session(
    aiohttp_client: Any, client: Client, db: AsyncSession, settings: Settings, clock: FixedClock
) -> None:
    await make_user(db, "canbo", Role.OFFICER)
    other = await aiohttp_client(create_app(settings, clock=clock))
    await login(client, "canbo")
    await login(other, "canbo")
    assert (await other.get("/cases", allow_redirects=False)).status == 200
    token = await csrf_of(client, "/account/password")
    done = await client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "mat-khau-moi-2026",
            "repeat_password": "mat-khau-moi-2026",
        },
        allow_redirects=False,
    )
    assert done.status == 303
    assert (await client.get("/cases", allow_redirects=False)).status == 200
    assert (await other.get("/cases", allow_redirects=False)).status == 303  # to sign in


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("ngan", "at least 10"),
        ("chicochuthoi", "Mix letters"),
        ("12345678901", "Mix letters"),
        ("canbo-2026-xyz", "username"),
        ("aaaa1111aaaa", "too easy"),
    ],
)
def test_the_password_policy(password: str, problem: str) -> None:
    message = users.validate_password(password, "canbo")
    assert message is not None
    assert problem in message
    assert users.validate_password("Mùa-xuân-2026!", "canbo") is None
    assert users.validate_password(users.generate_password()) is None


async def test_a_room_token_stops_joining_when_its_sign_in_ends(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    chair = await make_user(db, "lanhdao", Role.CHAIR)
    meeting = await make_meeting(db)
    meeting.chair_id = chair.id
    await db.commit()
    await login(client, "lanhdao")
    page = await (await client.get(f"/meetings/{meeting.id}/room")).text()
    room_token = re.search(r'data-token="([^"]+)"', page)
    assert room_token is not None
    claims = tokens.verify(room_token.group(1), settings.session_key, START)
    # Short-lived: no longer than the meeting's planned end plus two hours.
    assert claims.expires <= int((meeting.planned_end + timedelta(hours=2)).timestamp())
    assert claims.web_session is not None

    async def hello() -> dict[str, Any]:
        ws = await client.ws_connect("/live/ws")
        await ws.send_json({"type": "hello", "version": 1, "token": room_token.group(1)})
        answer: dict[str, Any] = await ws.receive_json(timeout=10)
        await ws.close()
        return answer

    assert (await hello())["type"] == "welcome"
    await client.post("/logout", data={"csrf_token": await csrf_of(client)})
    refused = await hello()
    assert (refused["type"], refused["id"]) == ("error", "token_signed_out")
    # The page shows the refusal in its reader's language, from the strings it was given.
    strings = re.search(r'<script type="application/json" id="strings">(.*?)</script>', page)
    assert strings is not None
    assert "đăng xuất" in json.loads(strings.group(1))["error:token_signed_out"]


async def test_the_administrator_manages_accounts_from_the_ui(
    client: Client, db: AsyncSession
) -> None:
    await make_user(db, "quantri", Role.ADMIN)
    await sites.seed_sites(db, START)
    await db.commit()
    commune = await db.scalar(select(Site.id).where(Site.code == "05977"))
    await login(client, "quantri")
    page = await (await client.get("/users")).text()
    assert "Tài khoản" in page
    created = await client.post(
        "/users",
        data={
            "csrf_token": csrf_from(page),
            "username": "diemcau.xa",
            "full_name": "Lộc Văn Hải",
            "roles": "site_operator",
            "site_id": str(commune),
        },
    )
    html = await created.text()
    assert created.status == 200
    shown = re.search(r'<code class="secret">([^<]+)</code>', html)
    assert shown is not None
    user = await db.scalar(select(User).where(User.username == "diemcau.xa"))
    assert user is not None
    user_id = user.id
    assert (user.site_id, user.must_change_password, user.roles) == (
        commune,
        True,
        frozenset({Role.SITE_OPERATOR}),
    )
    # The new person signs in with it and must choose a password.
    other = await _try(client, "diemcau.xa", shown.group(1))
    assert other[0] == 303
    # Deactivated: cannot sign in; reactivated and reset: a new one-time password.
    client.session.cookie_jar.clear()
    await login(client, "quantri")
    token = await csrf_of(client, "/users")
    off = await client.post(f"/users/{user_id}/active", data={"csrf_token": token})
    assert off.status == 200, await off.text()
    await db.rollback()  # end the test's read snapshot (SQLite WAL) to see the server's write
    active = await db.scalar(select(User.active).where(User.id == user_id))
    assert active is False
    client.session.cookie_jar.clear()
    assert (await _try(client, "diemcau.xa", shown.group(1)))[0] == 401
    await login(client, "quantri")
    token = await csrf_of(client, "/users")
    await client.post(f"/users/{user_id}/active", data={"csrf_token": token, "active": "on"})
    reset = await (
        await client.post(f"/users/{user_id}/password", data={"csrf_token": token})
    ).text()
    again = re.search(r'<code class="secret">([^<]+)</code>', reset)
    assert again is not None
    assert again.group(1) != shown.group(1)
    # The last administrator stays one.
    me = await db.scalar(select(User).where(User.username == "quantri"))
    assert me is not None
    refused = await client.post(
        f"/users/{me.id}/roles", data={"csrf_token": token, "roles": "auditor"}
    )
    assert refused.status == 409
    actions = set(await db.scalars(select(AuditEvent.action)))
    assert {"user.create", "user.deactivate", "user.activate", "user.password_reset"} <= actions


async def test_an_unexpected_failure_shows_the_error_page_to_the_signed_in_person(
    client: Client, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a page rolls the request back and still shows the site's own error page, with
    the person's name in the header (it used to fall back to aiohttp's bare text)."""
    await make_user(db, "canbo", Role.OFFICER, full_name="Hoàng Thị Mai")
    await db.commit()
    await login(client, "canbo")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sites, "listed", broken)
    response = await client.get("/sites")
    assert response.status == 500
    page = await response.text()
    assert "Hoàng Thị Mai" in page
    assert "Server got itself in trouble" not in page
