"""The app factory: the composition root that wires settings, database and views together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from recordings import recovery, retention
from recordings.recorder import MeetingRecorder
from recordings.store import RecordingStore
from sessions import changes
from sessions import db as database
from sessions.clock import Clock, SystemClock
from sessions.identity import IdentityVault
from sessions.models import Notification, Site
from sessions.scheduler import MeetingScheduler
from sessions.settings import Settings
from signaling.hub import Hub, RecorderFactory, media_network
from web import documents, i18n, kiosks, resting, templating
from web.auth import auth_middleware
from web.errors import error_middleware
from web.keys import (
    CLOCK,
    COMBINES,
    DB,
    ENGINE,
    HUB,
    KIOSKS,
    RENDERER,
    SCHEDULER,
    SETTINGS,
    STORE,
    TEMPLATES,
    TRANSLATIONS,
    VAULT,
    WATCHERS,
    WORKERS,
)
from web.views import (
    account,
    audit,
    booking,
    calendar,
    cases,
    dashboard,
    delegations,
    endpoints,
    links,
    live,
    meetings,
    minutes,
    overview,
    recordings,
    room,
    search,
    urgent,
    users,
)
from web.watchers import MinutesWatchers

STATIC_DIR = Path(__file__).with_name("static")
log = logging.getLogger(__name__)

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


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response as it is sent: pages, errors, redirects, files and WebSocket refusals
    alike (a signal, not a middleware, so raised redirects get them too). No versions in
    ``Server``."""
    response.headers["Server"] = "diemcau"
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path != "/healthz" and not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


async def _workers(app: web.Application) -> AsyncIterator[None]:
    workers = resting.Workers(asyncio.get_running_loop())
    app[WORKERS] = workers
    yield
    workers.close()


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = database.create_async(app[SETTINGS].effective_database_url, pool_pre_ping=True)
    app[ENGINE] = engine
    app[DB] = database.session_factory(engine, app[SETTINGS].audit_key)
    yield
    await engine.dispose()


async def _recordings(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = RecordingStore(settings.recordings_root, settings.signing_key)
    store.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    app[STORE] = store
    # Whatever a previous run left open is recovered before any new room opens.
    await recovery.recover(app[DB], store, app[CLOCK].now())
    upkeep = asyncio.create_task(_retention_loop(app))
    app[COMBINES] = set()
    yield
    for task in (upkeep, *app[COMBINES]):
        task.cancel()
    await asyncio.gather(upkeep, *app[COMBINES], return_exceptions=True)


async def _retention_loop(app: web.Application) -> None:
    while True:
        try:
            await retention.purge(
                app[DB], app[STORE], app[CLOCK].now(), app[SETTINGS].recording_retention_days
            )
        except Exception:
            log.exception("recording retention pass failed; it runs again in an hour")
        await asyncio.sleep(3600)


def _recorder_factory(app: web.Application) -> RecorderFactory:
    async def make(
        meeting_id: int, active: bool, on_state: Callable[[bool, str], None]
    ) -> MeetingRecorder:
        recorder = MeetingRecorder(
            meeting_id=meeting_id,
            store=app[STORE],
            db=app[DB],
            clock=app[CLOCK],
            on_state=on_state,
            active=active,
        )
        await recorder.prepare()
        return recorder

    return make


async def _hub(app: web.Application) -> AsyncIterator[None]:
    with media_network(app[SETTINGS]):
        hub = Hub(
            app[DB],
            app[CLOCK],
            app[SETTINGS],
            recorder_factory=_recorder_factory(app),
            on_idle=lambda: app[WORKERS].rest_soon(lambda: not app[HUB].rooms, app[ENGINE]),
        )
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

    # E-mailed notices are written in the server's language.
    translations = app[TRANSLATIONS][app[SETTINGS].default_locale]

    def render(notification: Notification) -> str:
        return i18n.render_message(translations, notification.message, notification.params)

    scheduler = MeetingScheduler(
        app[DB],
        app[CLOCK],
        app[SETTINGS],
        occupancy=occupancy,
        on_ended=ended,
        render=render,
    )
    app[SCHEDULER] = scheduler
    await scheduler.start()
    yield
    scheduler.shutdown()


async def _kiosks(app: web.Application) -> AsyncIterator[None]:
    """The kiosks' push channel: it hears every commit that touches an endpoint."""
    settings = app[SETTINGS]
    translations = app[TRANSLATIONS][settings.default_locale]

    async def state_of(db: AsyncSession, site: Site, now: datetime) -> dict[str, Any]:
        return await kiosks.kiosk_state(
            db,
            site,
            now,
            settings=settings,
            translations=translations,
            locale=settings.default_locale,
        )

    channel = kiosks.KioskChannel(app[DB], app[CLOCK], settings, state_of)
    changes.listen(app[DB], channel.changed)
    app[KIOSKS] = channel
    await channel.start()
    yield
    await channel.close()


async def _renderer(app: web.Application) -> AsyncIterator[None]:
    """The worker process for PDFs (started on first use, stopped with the app)."""
    pool = documents.renderer()
    app[RENDERER] = pool
    yield
    pool.shutdown(wait=True, cancel_futures=True)


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, auth_middleware],
        client_max_size=2 * 1024 * 1024,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[TEMPLATES] = templating.create_environment()
    app[TRANSLATIONS] = i18n.load_translations()
    app[VAULT] = IdentityVault(settings.identity_key)
    app[WATCHERS] = MinutesWatchers()
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(_workers)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_recordings)
    app.cleanup_ctx.append(_hub)
    app.cleanup_ctx.append(_kiosks)
    app.cleanup_ctx.append(_scheduler)
    app.cleanup_ctx.append(_renderer)
    for module in (
        account,
        audit,
        dashboard,
        cases,
        booking,
        meetings,
        minutes,
        overview,
        delegations,
        endpoints,
        search,
        links,
        live,
        room,
        urgent,
        calendar,
        recordings,
        users,
    ):
        app.router.add_routes(module.routes)
    app.router.add_static("/static", STATIC_DIR, name="static")
    return app
