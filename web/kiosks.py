"""The kiosks' push channel and the endpoints' presence.

Each kiosk holds one WebSocket (``/kiosk/{device}/ws``, specified in ``docs/protocol.md``,
*Kiosk channel*). The server sends the kiosk's whole state when it connects and again whenever a
commit touched it (``sessions.changes``): a meeting of its endpoint booked, opened, ended or
moved, a notice to it, its device link reissued. The kiosk sends a heartbeat with a report of
itself; the board reads presence from memory here, and what was last heard is written to the
database every few heartbeats and at each connect and disconnect.

One task per connection writes its bounded outbox; states coalesce (only the newest is worth
sending), and a kiosk that cannot keep up is closed and reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from gettext import NullTranslations
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sessions import joining, meetings, notifications, readiness, tokens
from sessions.changes import Changed
from sessions.clock import Clock
from sessions.enums import MeetingStatus
from sessions.errors import InvalidInput
from sessions.models import AuditEvent, Site
from sessions.permissions import Action, Principal
from sessions.settings import Settings
from signaling.hub import JOINABLE
from signaling.limits import Rate, TokenBucket
from web import i18n

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 32  # messages waiting for one kiosk; past it the kiosk is closed and reconnects
MAX_MESSAGE_BYTES = 4096  # a kiosk's heartbeat with its report fits easily
FLUSH_EVERY = 3  # heartbeats between writes of presence to the database
MESSAGE_RATE = Rate(per_second=2, burst=10)  # heartbeats and results; a flood is refused
RECONNECT_RATE = Rate(per_second=0.2, burst=6)  # per endpoint: six at once, then one each 5 s
CLOSE_REVOKED = 4401
CLOSE_REPLACED = 4409
CLOSE_TOO_SLOW = 4408

StateBuilder = Callable[[AsyncSession, Site, datetime], Awaitable[dict[str, Any]]]
KIOSK_DAY_AHEAD = 1


async def kiosk_state(
    db: AsyncSession,
    site: Site,
    now: datetime,
    *,
    settings: Settings,
    translations: NullTranslations,
    locale: str,
) -> dict[str, Any]:
    """What a kiosk shows, and the meeting it should be in now (with its join token)."""
    _, today_end = meetings.local_day_bounds(now.astimezone(settings.zone).date(), settings.zone)
    end = today_end + timedelta(days=KIOSK_DAY_AHEAD)
    rows, _ = await meetings.list_meetings(
        db,
        meetings.MeetingFilter(
            start=now, end=end, site_id=site.id, statuses=(MeetingStatus.SCHEDULED, *JOINABLE)
        ),
        visible=true(),
    )
    active = next((m for m in rows if m.status in JOINABLE), None)
    notices = await notifications.unread_for_site(db, site.id)
    return {
        "site": {"id": site.id, "name": site.name, "code": site.code},
        "now": now.isoformat(),
        # A kiosk screen is seen by everyone in the room: titles only, never case details.
        "meetings": [
            {
                "id": m.id,
                "title": m.title,
                "starts": i18n.show_time(m.planned_start, locale, settings.zone),
                "ends": i18n.show_time(m.planned_end, locale, settings.zone),
                "status": m.status.value,
            }
            for m in rows
        ],
        "notices": [
            i18n.render_message(translations, n.message, n.params)
            for n in notices
            if n.created_at > now - timedelta(hours=24)
        ],
        "active": None
        if active is None
        else {
            "meeting_id": active.id,
            "title": active.title,
            "token": tokens.sign(joining.claims_for_site(site, active, now), settings.session_key),
        },
    }


@dataclass
class Presence:
    """What is known of one endpoint now."""

    site_id: int
    source: str  # "kiosk" or "operator"
    online_since: datetime | None
    last_seen: datetime
    seen_monotonic: float
    report: readiness.Report = field(default_factory=readiness.Report)
    heartbeats: int = 0


class KioskLink:
    """One kiosk's connection: the socket and its outbox, written by its own task."""

    def __init__(self, site_id: int, token_hash: str, ws: web.WebSocketResponse) -> None:
        self.site_id = site_id
        self.token_hash = token_hash
        self.ws = ws
        self._queue: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()
        self.writer = asyncio.create_task(self._write())
        self.bucket = TokenBucket.full(MESSAGE_RATE, time.monotonic())

    def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "state":
            # Only the newest state matters: a queued older one is dropped.
            self._queue = deque(m for m in self._queue if m["type"] != "state")
        if len(self._queue) >= OUTBOX_LIMIT:
            self._queue.clear()
            self._queue.append({"type": "close", "code": CLOSE_TOO_SLOW})
        self._queue.append(message)
        self._ready.set()

    def close(self, code: int, message: dict[str, Any] | None = None) -> None:
        if message is not None:
            self.send(message)
        self.send({"type": "close", "code": code})

    async def _write(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._queue:
                    message = self._queue.popleft()
                    if message["type"] == "close":
                        await self.ws.close(code=message["code"])
                        return
                    await self.ws.send_str(json.dumps(message, ensure_ascii=False))
        except (ConnectionError, RuntimeError):
            return  # the socket went away; the reader ends the link


class KioskChannel:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        state_of: StateBuilder,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._state_of = state_of
        self.links: dict[int, KioskLink] = {}
        self.presence: dict[int, Presence] = {}
        self._reconnects: dict[int, TokenBucket] = {}
        self._changed = Changed()
        self._wake = asyncio.Event()
        self._dirty: set[int] = set()
        self._audit_mark = 0
        self.refused = 0  # messages refused (malformed, oversized, over the rate)
        self.tasks: list[asyncio.Task[None]] = []

    # ---- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._db() as db, db.begin():
            await readiness.mark_all_offline(db)
            self._audit_mark = await db.scalar(select(func.max(AuditEvent.id))) or 0
        self.tasks = [
            asyncio.create_task(self._push_loop()),
            asyncio.create_task(self._sweep_loop()),
        ]

    async def close(self) -> None:
        for link in list(self.links.values()):
            link.close(1001)
        for task in self.tasks:
            task.cancel()
        writers = [link.writer for link in self.links.values()]
        await asyncio.gather(*self.tasks, *writers, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._flush(set(self.presence), closing=True)

    @property
    def timeout(self) -> float:
        return 3 * self._settings.heartbeat_seconds

    def online(self) -> set[int]:
        limit = time.monotonic() - self.timeout
        return {
            p.site_id
            for p in self.presence.values()
            if p.online_since is not None and p.seen_monotonic >= limit
        }

    def may_connect(self, site_id: int) -> bool:
        """A burst of reconnects from one endpoint is refused past its allowance."""
        now = time.monotonic()
        bucket = self._reconnects.setdefault(site_id, TokenBucket.full(RECONNECT_RATE, now))
        return bucket.take(now)

    # ---- changes from commits -------------------------------------------------------------

    def changed(self, found: Changed) -> None:
        """The commit listener (``sessions.changes``): remember, and wake the pusher."""
        self._changed.meeting_ids |= found.meeting_ids
        self._changed.site_ids |= found.site_ids
        self._wake.set()

    async def _push_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            found, self._changed = self._changed, Changed()
            try:
                await self._push(found)
            except Exception:
                log.exception("pushing kiosk states failed; the next change pushes again")

    async def _push(self, found: Changed) -> None:
        if not self.links:
            return
        async with self._db() as db:
            site_ids = found.site_ids | await readiness.sites_of_meetings(db, found.meeting_ids)
            for site_id in site_ids & set(self.links):
                # Links come and go while this awaits the database: a kiosk that left (or was
                # replaced) meanwhile is skipped, never a reason to stop pushing to the others.
                link = self.links.get(site_id)
                if link is None:
                    continue
                site = await db.get(Site, site_id, populate_existing=True)
                if site is None or not site.active or site.device_token_hash != link.token_hash:
                    link.close(CLOSE_REVOKED, {"type": "revoked"})
                    continue
                message = await self.state_message(db, site)
                if self.links.get(site_id) is link:
                    link.send(message)

    async def state_message(self, db: AsyncSession, site: Site) -> dict[str, Any]:
        state = await self._state_of(db, site, self._clock.now())
        return {"type": "state", "heartbeat": self._settings.heartbeat_seconds, **state}

    # ---- one connection -------------------------------------------------------------------

    async def serve(self, ws: web.WebSocketResponse, site: Site) -> None:
        assert site.device_token_hash is not None
        previous = self.links.get(site.id)
        if previous is not None:
            previous.close(CLOSE_REPLACED, {"type": "replaced"})
        link = KioskLink(site.id, site.device_token_hash, ws)
        self.links[site.id] = link
        now = self._clock.now()
        known = self.presence.get(site.id)
        self.presence[site.id] = Presence(
            site.id,
            "kiosk",
            now,
            now,
            time.monotonic(),
            report=known.report if known is not None else readiness.Report(),
        )
        await self._flush({site.id})
        async with self._db() as db:
            link.send(await self.state_message(db, site))
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    if message.type is WSMsgType.BINARY:
                        self._refuse(link, "bad_message")
                    continue
                await self._receive(link, message.data)
        finally:
            if self.links.get(site.id) is link:
                del self.links[site.id]
                presence = self.presence.get(site.id)
                if presence is not None:
                    presence.online_since = None
                with contextlib.suppress(Exception):
                    await self._flush({site.id})
            link.close(1000)
            await asyncio.gather(link.writer, return_exceptions=True)

    def _refuse(
        self, link: KioskLink, error: str, field_errors: Mapping[str, str] | None = None
    ) -> None:
        self.refused += 1
        message: dict[str, Any] = {"type": "error", "error": error}
        if field_errors:
            message["fields"] = dict(field_errors)
        link.send(message)

    async def _receive(self, link: KioskLink, data: str) -> None:
        if len(data) > MAX_MESSAGE_BYTES:
            self._refuse(link, "too_large")
            return
        if not link.bucket.take(time.monotonic()):
            self._refuse(link, "rate_limited")
            return
        try:
            message = json.loads(data)
        except ValueError:
            self._refuse(link, "bad_message")
            return
        if not isinstance(message, dict):
            self._refuse(link, "bad_message")
            return
        kind = message.get("type")
        try:
            if kind == "heartbeat":
                self._heartbeat(link, message)
            elif kind == "check_result":
                await self._check_result(link, message)
            else:
                self._refuse(link, "unknown_type")
        except InvalidInput as exc:
            self._refuse(link, "bad_report", exc.field_errors)

    def _heartbeat(self, link: KioskLink, message: dict[str, Any]) -> None:
        report = readiness.Report.parse(message.get("report", {}))
        seq = message.get("seq")
        presence = self.presence[link.site_id]
        presence.report = report
        presence.last_seen = self._clock.now()
        presence.seen_monotonic = time.monotonic()
        if presence.online_since is None:
            presence.online_since = presence.last_seen
        presence.heartbeats += 1
        self._dirty.add(link.site_id)
        link.send({"type": "heartbeat_ack", "seq": seq if isinstance(seq, int) else None})

    async def _check_result(self, link: KioskLink, message: dict[str, Any]) -> None:
        check_id = message.get("check")
        if isinstance(check_id, bool) or not isinstance(check_id, int):
            raise InvalidInput({"check": "A readiness check number."})
        async with self._db() as db, db.begin():
            check = await readiness.record_result(
                db, check_id, link.site_id, message.get("result"), self._clock.now()
            )
        link.send({"type": "check_done", "check": check.id, "verdict": check.verdict})

    def operator_beat(self, site_id: int, report: readiness.Report) -> None:
        """A signed-in endpoint operator's page is open: the endpoint is staffed. A kiosk's own
        report, when it has one connected, is kept."""
        now, tick = self._clock.now(), time.monotonic()
        presence = self.presence.get(site_id)
        if presence is None:
            presence = self.presence[site_id] = Presence(site_id, "operator", now, now, tick)
        if site_id not in self.links:
            presence.source, presence.report = "operator", report
        presence.last_seen, presence.seen_monotonic = now, tick
        if presence.online_since is None:
            presence.online_since = now
        presence.heartbeats += 1
        self._dirty.add(site_id)

    # ---- staff actions --------------------------------------------------------------------

    async def request_checks(self, site_ids: set[int], *, actor_id: int | None) -> list[int]:
        """Ask these endpoints' kiosks for a test call; the offline ones are unreachable at once.
        The checks are committed before any kiosk is asked, so an answer finds its row."""
        online = self.online() & set(self.links)
        async with self._db() as db, db.begin():
            checks = await readiness.request_checks(
                db, site_ids, online=online, at=self._clock.now(), actor_id=actor_id
            )
        for check in checks:
            link = self.links.get(check.site_id)
            if check.verdict == "pending" and link is not None:
                link.send({"type": "check", "check": check.id})
        return [c.id for c in checks]

    # ---- the sweep ------------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.heartbeat_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("the presence sweep failed; it runs again next heartbeat")

    async def sweep(self) -> None:
        """Close kiosks gone silent, write presence, expire unanswered checks, flag endpoints
        booked soon that are offline or failed their last check."""
        limit = time.monotonic() - self.timeout
        for site_id, presence in self.presence.items():
            if presence.online_since is not None and presence.seen_monotonic < limit:
                presence.online_since = None
                self._dirty.add(site_id)
                link = self.links.get(site_id)
                if link is not None:
                    link.close(1001)
        due = {s for s in self._dirty if self.presence[s].heartbeats % FLUSH_EVERY == 0}
        due |= {s for s in self._dirty if self.presence[s].online_since is None}
        await self._flush(due)
        await self._audit_feed()
        now = self._clock.now()
        async with self._db() as db, db.begin():
            await readiness.expire_checks(db, now)
            found = await readiness.flags(
                db, now, timedelta(minutes=self._settings.readiness_lead_minutes), self.online()
            )
            await readiness.notify_flags(db, found, now, self._settings.zone)

    async def _audit_feed(self) -> None:
        """Changes another process made (the command line, another node) reach the kiosks
        within a heartbeat: every such change of a meeting or an endpoint is audited, and the
        trail is read on from where it was last read."""
        async with self._db() as db:
            rows = (
                await db.execute(
                    select(AuditEvent.id, AuditEvent.object_type, AuditEvent.object_id)
                    .where(AuditEvent.id > self._audit_mark)
                    .order_by(AuditEvent.id)
                    .limit(5000)
                )
            ).all()
        found = Changed()
        for event_id, kind, object_id in rows:
            self._audit_mark = max(self._audit_mark, event_id)
            if not object_id.isdecimal():
                continue
            if kind == "meeting":
                found.meeting_ids.add(int(object_id))
            elif kind == "site":
                found.site_ids.add(int(object_id))
        if found:
            self.changed(found)

    async def _flush(self, site_ids: set[int], *, closing: bool = False) -> None:
        rows = [
            (
                p.site_id,
                p.source,
                p.last_seen,
                None if closing else p.online_since,
                p.report,
            )
            for p in (self.presence[s] for s in sorted(site_ids) if s in self.presence)
        ]
        if not rows:
            return
        async with self._db() as db, db.begin():
            await readiness.save_presence(db, rows)
        self._dirty -= site_ids

    # ---- what the board shows ---------------------------------------------------------------

    async def flags(
        self, db: AsyncSession, principal: Principal, *, meeting_id: int | None = None
    ) -> list[readiness.Flag]:
        """Endpoints booked soon that are offline or failed their last check, of the meetings
        ``principal`` may see (of one meeting, if given)."""
        found = await readiness.flags(
            db,
            self._clock.now(),
            timedelta(minutes=self._settings.readiness_lead_minutes),
            self.online(),
        )
        return [
            f
            for f in found
            if (meeting_id is None or f.meeting.id == meeting_id)
            and principal.allows(Action.MEETING_VIEW, f.meeting)
        ]

    def snapshot(self) -> dict[int, Presence]:
        online = self.online()
        return {
            site_id: replace(p, online_since=p.online_since if site_id in online else None)
            for site_id, p in self.presence.items()
        }
