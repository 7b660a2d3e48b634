"""Sign in, sign out, change password, choose the language."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from sessions import audit, throttle, users
from sessions.errors import N_, InvalidInput
from web import i18n
from web.auth import (
    SESSION_COOKIE,
    current_user,
    db_of,
    end_session,
    revoke_other_sessions,
    safe_next,
    set_session_cookie,
    start_session,
)
from web.forms import form_text
from web.keys import CLOCK, REQUEST_USER, REQUEST_WEB_SESSION, SETTINGS
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()
_LOCKED = N_(
    "Too many wrong passwords: signing in is paused for %(minutes)s minutes. "
    "The administrator has been told. Try again later, or ask the administrator for help."
)


@routes.get("/login", name="login")
async def login_page(request: web.Request) -> web.StreamResponse:
    if request.get(REQUEST_USER) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return render(
        request, "login.html", {"next": safe_next(request.query.get("next")), "login_error": ""}
    )


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = form_text(form, "username")
    password = form_text(form, "password", strip=False)
    target = safe_next(form_text(form, "next"))
    db = db_of(request)
    now = request.app[CLOCK].now()
    settings = request.app[SETTINGS]
    policy = throttle.LoginPolicy(
        settings.login_max_failures,
        settings.login_address_max_failures,
        timedelta(minutes=settings.login_lockout_minutes),
    )
    name = username.strip().lower()[:64]
    address = request.remote or "-"

    def refused(message: str, status: int) -> web.StreamResponse:
        return render(
            request,
            "login.html",
            {
                "next": target,
                "values": {"username": username},
                "login_error": message,
                "error_params": {"login": {"minutes": settings.login_lockout_minutes}},
            },
            status=status,
        )

    await throttle.purge(db, now, policy)
    if await throttle.locked(db, name, address, now, policy) is not None:
        await audit.record(db, now, None, "auth.login_throttled", "user", name or "-")
        await db.commit()
        return refused(_LOCKED, 429)
    user = await users.authenticate(db, username, password) if username and password else None
    if user is None:
        await audit.record(db, now, None, "auth.login_failed", "user", name or "-")
        lock = await throttle.failed(db, name, address, now, policy)
        await db.commit()  # the failure counts even though the answer is an error page
        return refused(_LOCKED if lock else N_("The username or password is not correct."), 401)
    await throttle.succeeded(db, name)
    token, _ = await start_session(db, user, now, settings.session_hours)
    await audit.record(db, now, user.id, "auth.login", "user", user.id)
    response = web.HTTPSeeOther("/account/password" if user.must_change_password else target)
    set_session_cookie(response, request, token)
    raise response


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    db = db_of(request)
    now = request.app[CLOCK].now()
    if token:
        await end_session(db, token, now)
        user = request.get(REQUEST_USER)
        if user is not None:
            await audit.record(db, now, user.id, "auth.logout", "user", user.id)
    response = redirect_with_flash("/login", "signed_out")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/account/password", name="password")
async def password_page(request: web.Request) -> web.StreamResponse:
    current_user(request)
    return render(request, "password.html")


@routes.post("/account/password")
async def change_password(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = await request.post()
    db = db_of(request)
    current = form_text(form, "current_password", strip=False)
    new = form_text(form, "new_password", strip=False)
    repeat = form_text(form, "repeat_password", strip=False)
    errors: dict[str, str] = {}
    if await users.authenticate(db, user.username, current) is None:
        errors["current_password"] = N_("The current password is not correct.")
    if new != repeat:
        errors["repeat_password"] = N_("The two new passwords are not the same.")
    elif new == current:
        errors["new_password"] = N_("Choose a password different from the current one.")
    if not errors:
        try:
            await users.set_password(db, user, new, request.app[CLOCK].now(), actor_id=user.id)
        except InvalidInput as exc:
            errors.update(exc.field_errors)
    if errors:
        return render(request, "password.html", {"errors": errors}, status=400)
    # Whoever may have the old password is signed out everywhere but here.
    await revoke_other_sessions(db, user, request[REQUEST_WEB_SESSION], request.app[CLOCK].now())
    raise redirect_with_flash("/", "password_changed")


@routes.post("/language", name="language")
async def choose_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    locale = form_text(form, "locale")
    response = web.HTTPSeeOther(safe_next(form_text(form, "next")))
    if locale in i18n.LOCALES:
        response.set_cookie(
            i18n.LOCALE_COOKIE, locale, path="/", max_age=365 * 86400, samesite="Lax"
        )
    raise response
