"""Typed application state (``web.AppKey``): everything the app factory wires together."""

from __future__ import annotations

import asyncio
import concurrent.futures
from gettext import NullTranslations

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recordings.store import RecordingStore
from sessions.clock import Clock
from sessions.identity import IdentityVault
from sessions.models import User, WebSession
from sessions.scheduler import MeetingScheduler
from sessions.settings import Settings
from signaling.hub import Hub
from web.kiosks import KioskChannel
from web.resting import Workers
from web.watchers import MinutesWatchers

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
TEMPLATES = web.AppKey("templates", jinja2.Environment)
TRANSLATIONS = web.AppKey("translations", dict[str, NullTranslations])
VAULT = web.AppKey("vault", IdentityVault)

# Per-request state set by the auth middleware.
REQUEST_DB = web.RequestKey("db", AsyncSession)
REQUEST_USER = web.RequestKey("user", User)
REQUEST_WEB_SESSION = web.RequestKey("web_session", WebSession)
REQUEST_CSRF = web.RequestKey("csrf_token", str)
HUB = web.AppKey("hub", Hub)
SCHEDULER = web.AppKey("scheduler", MeetingScheduler)
STORE = web.AppKey("store", RecordingStore)
COMBINES = web.AppKey("combines", set[asyncio.Task[None]])  # combined files in the making
WATCHERS = web.AppKey("minutes_watchers", MinutesWatchers)
RENDERER = web.AppKey("renderer", concurrent.futures.ProcessPoolExecutor)  # PDFs, off the loop
WORKERS = web.AppKey("workers", Workers)  # the loop's default executor, renewed at rest
KIOSKS = web.AppKey("kiosks", KioskChannel)  # the kiosks' push channel and endpoint presence
