"""Sign-in sessions, CSRF protection and role checks.

The session cookie carries a random token; the database keeps only its SHA-256, so a stolen
database cannot be replayed as cookies, and signing out revokes the session on the server.
Every POST must carry the CSRF token of the session (or, before sign-in, of the browser's
pre-session cookie) and, when the browser sends one, an Origin of this server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import wraps
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.errors import DomainError
from sessions.models import User, WebSession
from sessions.permissions import Action, Principal
from web.keys import (
    CLOCK,
    DB,
    REQUEST_CSRF,
    REQUEST_DB,
    REQUEST_USER,
    REQUEST_WEB_SESSION,
    SETTINGS,
)

SESSION_COOKIE = "diemcau_session"
PRE_SESSION_COOKIE = "diemcau_csrf"
CSRF_FIELD = "csrf_token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths a signed-in user who must change the one-time password may still reach.
_PASSWORD_CHANGE_PATHS = ("/account/password", "/logout", "/static/", "/healthz", "/language")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CsrfFailure(Exception):
    """A form without a valid CSRF token or from another origin."""


async def start_session(
    db: AsyncSession, user: User, at: datetime, hours: int
) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    ws = WebSession(
        token_hash=_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=at,
        expires_at=at + timedelta(hours=hours),
    )
    db.add(ws)
    user.last_login_at = at
    await db.flush()
    return token, ws


async def end_session(db: AsyncSession, token: str, at: datetime) -> None:
    await db.execute(
        update(WebSession).where(WebSession.token_hash == _hash(token)).values(revoked_at=at)
    )


async def revoke_other_sessions(
    db: AsyncSession, user: User, keep: WebSession, at: datetime
) -> None:
    await db.execute(
        update(WebSession)
        .where(
            WebSession.user_id == user.id,
            WebSession.id != keep.id,
            WebSession.revoked_at.is_(None),
        )
        .values(revoked_at=at)
    )


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    settings = request.app[SETTINGS]
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="Lax",
        max_age=settings.session_hours * 3600,
    )


async def _load_session(request: web.Request, db: AsyncSession) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    ws = await db.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    now = request.app[CLOCK].now()
    if ws is None or ws.revoked_at is not None or ws.expires_at <= now or not ws.user.active:
        return None
    return ws


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        # Browsers send Origin on cross-site POSTs; its absence means a same-site form or a
        # non-browser client, which the CSRF token still covers.
        return origin is None
    return urlsplit(origin).netloc == request.host


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _check_csrf(request: web.Request) -> None:
    """Every state-changing request, whatever its content type (or none), carries the CSRF
    token of the session — as the form field, or the ``X-CSRF-Token`` header — and comes from
    this origin. A text/plain or JSON body without it changes nothing."""
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type == "multipart/form-data":
        # An upload streams its body to the handler: its form carries the token in its action.
        sent = request.query.get(CSRF_FIELD)
    if sent is None and request.content_type in _FORM_TYPES:
        sent = (await request.post()).get(CSRF_FIELD)
    if (
        not isinstance(sent, str)
        or not hmac.compare_digest(sent.encode(), request[REQUEST_CSRF].encode())
        or not _same_origin(request)
    ):
        raise CsrfFailure


# Paths that audit their own refusals (a wrong password is recorded by the sign-in itself).
_SELF_AUDITED = ("/login",)


async def _roll_back(request: web.Request, db: AsyncSession) -> None:
    """Undo the request's changes. The rollback expired what the request had loaded: the
    signed-in person is loaded again, for the error page."""
    await db.rollback()
    ws = await _load_session(request, db)
    if ws is not None:
        request[REQUEST_USER] = ws.user
        request[REQUEST_WEB_SESSION] = ws


async def _refused(request: web.Request, db: AsyncSession, error_id: str) -> None:
    """Undo whatever the refused request did; record the refusal of a change, or of access."""
    user: User | None = request.get(REQUEST_USER)
    actor = user.id if user is not None else None
    await _roll_back(request, db)
    if request.path.startswith(_SELF_AUDITED):
        return
    if request.method in SAFE_METHODS and error_id not in ("permission_denied", "http_403"):
        return
    await audit.record(
        db,
        request.app[CLOCK].now(),
        actor,
        "request.refused",
        "request",
        request.method,
        {"path": request.path[:200], "error": error_id},
    )
    await db.commit()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Open the request's database session, resolve the user, enforce CSRF on POST."""
    if request.path.startswith(("/static/", "/live/ws", "/live/probe", "/live/kiosk/")):
        # Static files need no session; a live socket must not hold a database connection
        # for hours (it authenticates with its join token or device link instead), and a
        # burst of refused kiosk reconnects must not write a refusal each.
        return await handler(request)
    async with request.app[DB]() as db:
        request[REQUEST_DB] = db
        ws = await _load_session(request, db)
        new_pre_session: str | None = None
        if ws is not None:
            request[REQUEST_USER] = ws.user
            request[REQUEST_WEB_SESSION] = ws
            request[REQUEST_CSRF] = ws.csrf_token
        else:
            pre = request.cookies.get(PRE_SESSION_COOKIE)
            if not pre or len(pre) < 20:
                pre = new_pre_session = secrets.token_urlsafe(32)
            request[REQUEST_CSRF] = pre
        user = request.get(REQUEST_USER)
        if (
            user is not None
            and user.must_change_password
            and not request.path.startswith(_PASSWORD_CHANGE_PATHS)
        ):
            raise web.HTTPSeeOther("/account/password")
        # One transaction per request: it commits only when the request succeeds; a refusal
        # (an error page, a form sent back with its errors, an exception) saves nothing of
        # what the handler did, and a refused change is itself audited.
        try:
            if request.method not in SAFE_METHODS:
                await _check_csrf(request)
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                await db.commit()
            else:
                await _refused(request, db, f"http_{exc.status}")
            raise
        except (DomainError, CsrfFailure) as exc:
            await _refused(request, db, getattr(exc, "error_id", "csrf"))
            raise
        except Exception:
            try:
                await _roll_back(request, db)
            except Exception:  # the database itself failed: the error page shows no person
                request.pop(REQUEST_USER, None)
            raise
        if response.status >= 400:
            await _refused(request, db, f"http_{response.status}")
        else:
            await db.commit()
        if new_pre_session is not None:
            response.set_cookie(
                PRE_SESSION_COOKIE,
                new_pre_session,
                path="/",
                httponly=True,
                samesite="Strict",
                secure=request.app[SETTINGS].secure_cookies,
            )
        return response


def db_of(request: web.Request) -> AsyncSession:
    return request[REQUEST_DB]


def current_user(request: web.Request) -> User:
    user: User | None = request.get(REQUEST_USER)
    if user is None:
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    return user


def login_required(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        current_user(request)
        return await handler(request)

    return wrapper


def principal_of(request: web.Request) -> Principal:
    """The signed-in person as the permissions table sees them (sign-in first)."""
    return Principal.of(current_user(request))


def requires(action: Action) -> Callable[[Handler], Handler]:
    """Only principals that may do ``action`` on some record reach the handler; the handler
    asks about the record itself (``principal_of(request).require(action, record)``)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            principal_of(request).require(action)
            return await handler(request)

        return wrapper

    return decorate


def safe_next(target: str | None) -> str:
    """Only a path on this site may be a redirect target (after sign-in, after a form).

    The target is parsed as a URL, as a browser would: anything with a scheme or a host, a
    path that does not start with one "/", a backslash, or a control character (browsers drop
    tabs and newlines, so "/\\t/evil.example" becomes "//evil.example") is refused."""
    if not target or any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return "/"
    if parts.path.startswith("//"):
        return "/"
    return target
