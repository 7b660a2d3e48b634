"""The app factory: the composition root that wires settings, database and views together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from sessions import db as database
from sessions.clock import Clock, SystemClock
from sessions.identity import IdentityVault
from sessions.scheduler import MeetingScheduler
from sessions.settings import Settings
from signaling.hub import Hub, media_network
from web import i18n, templating
from web.auth import Handler, auth_middleware
from web.errors import error_middleware
from web.keys import (
    CLOCK,
    DB,
    ENGINE,
    HUB,
    SCHEDULER,
    SETTINGS,
    TEMPLATES,
    TRANSLATIONS,
    VAULT,
)
from web.views import (
    account,
    booking,
    calendar,
    cases,
    dashboard,
    live,
    meetings,
    room,
    urgent,
)

STATIC_DIR = Path(__file__).with_name("static")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path != "/healthz" and not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = database.create_async(app[SETTINGS].effective_database_url, pool_pre_ping=True)
    app[ENGINE] = engine
    app[DB] = database.session_factory(engine)
    yield
    await engine.dispose()


async def _hub(app: web.Application) -> AsyncIterator[None]:
    with media_network(app[SETTINGS]):
        hub = Hub(app[DB], app[CLOCK], app[SETTINGS])
        app[HUB] = hub
        yield
        await hub.close()


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]

    def occupancy(meeting_id: int) -> int:
        room = hub.rooms.get(meeting_id)
        return len(room.present()) if room is not None else 0

    async def ended(meeting_id: int) -> None:
        await hub.end_meeting(meeting_id)

    scheduler = MeetingScheduler(
        app[DB], app[CLOCK], app[SETTINGS], occupancy=occupancy, on_ended=ended
    )
    app[SCHEDULER] = scheduler
    await scheduler.start()
    yield
    scheduler.shutdown()


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, error_middleware, auth_middleware],
        client_max_size=2 * 1024 * 1024,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[TEMPLATES] = templating.create_environment()
    app[TRANSLATIONS] = i18n.load_translations()
    app[VAULT] = IdentityVault(settings.identity_key)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_hub)
    app.cleanup_ctx.append(_scheduler)
    for module in (account, dashboard, cases, booking, meetings, live, room, urgent, calendar):
        app.router.add_routes(module.routes)
    app.router.add_static("/static", STATIC_DIR, name="static")
    return app
