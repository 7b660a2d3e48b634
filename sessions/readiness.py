"""Endpoint readiness: what a kiosk reports of itself, the verdict on a test call, the history of
checks staff ran, and the endpoints to flag before a meeting.

The figures come from the browser's own statistics (``RTCPeerConnection.getStats``); the verdict
is judged here, so the stored history never depends on what a browser decided.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, notifications
from sessions.enums import MeetingStatus, NotificationKind
from sessions.errors import N_, InvalidInput
from sessions.models import EndpointPresence, Meeting, MeetingSite, ReadinessCheck, Site

DEVICE_STATES = ("on", "off", "missing", "denied", "")
VERDICTS = ("pending", "good", "fair", "poor", "failed", "unreachable")
FAILING = ("poor", "failed", "unreachable")
CHECK_TIMEOUT = timedelta(seconds=60)  # a kiosk that has not answered by then is unreachable
UPCOMING = (MeetingStatus.SCHEDULED, MeetingStatus.OPEN)

# A dialogue needs to be continuous in sound and image (the pre-join page uses the same numbers).
GOOD = (150.0, 2.0, 250.0)  # round trip at most (ms), loss at most (%), bitrate at least (kbps)
FAIR = (400.0, 5.0, 100.0)


def judge(rtt_ms: float | None, loss_percent: float | None, kbps: float | None) -> str:
    rtt = 1000.0 if rtt_ms is None else rtt_ms
    loss = 0.0 if loss_percent is None else loss_percent
    rate = 0.0 if kbps is None else kbps
    for verdict, (max_rtt, max_loss, min_kbps) in (("good", GOOD), ("fair", FAIR)):
        if rtt <= max_rtt and loss <= max_loss and rate >= min_kbps:
            return verdict
    return "poor"


def _text(raw: Mapping[str, object], name: str, limit: int) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(
            {name: N_("Text of at most %(max)s characters.")}, {name: {"max": limit}}
        )
    return value


def _figure(raw: Mapping[str, object], name: str, top: float) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= top
    ):
        raise InvalidInput({name: N_("A number between 0 and %(max)s.")}, {name: {"max": int(top)}})
    return float(value)


@dataclass(frozen=True)
class Report:
    """What a kiosk says of itself with each heartbeat, checked field by field."""

    browser: str = ""
    browser_version: str = ""
    camera: str = ""
    microphone: str = ""
    meeting_id: int | None = None
    rtt_ms: float | None = None
    loss_percent: float | None = None
    kbps: float | None = None

    @classmethod
    def parse(cls, raw: object) -> Report:
        if not isinstance(raw, Mapping):
            raise InvalidInput({"report": N_("The report must be an object.")})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise InvalidInput(
                {"report": N_("Unknown fields: %(fields)s.")},
                {"report": {"fields": ", ".join(unknown)[:200]}},
            )
        devices = {}
        for name in ("camera", "microphone"):
            value = raw.get(name, "")
            if value not in DEVICE_STATES:
                raise InvalidInput({name: N_("One of: on, off, missing, denied.")})
            devices[name] = str(value)
        meeting = raw.get("meeting_id")
        if meeting is not None and (
            isinstance(meeting, bool) or not isinstance(meeting, int) or not 0 < meeting < 2**31
        ):
            raise InvalidInput({"meeting_id": N_("A meeting number.")})
        return cls(
            browser=_text(raw, "browser", 64),
            browser_version=_text(raw, "browser_version", 32),
            meeting_id=meeting,
            rtt_ms=_figure(raw, "rtt_ms", 60000),
            loss_percent=_figure(raw, "loss_percent", 100),
            kbps=_figure(raw, "kbps", 100000),
            **devices,
        )


# ---- presence, as last written ----------------------------------------------------------------


async def save_presence(
    db: AsyncSession,
    rows: Iterable[tuple[int, str, datetime, datetime | None, Report]],
) -> None:
    """Write what is known of these endpoints (site, source, last seen, online since, report)."""
    for site_id, source, seen, since, report in rows:
        found = await db.get(EndpointPresence, site_id)
        if found is None:
            found = EndpointPresence(site_id=site_id, last_seen_at=seen)
            db.add(found)
        found.last_seen_at, found.online_since, found.source = seen, since, source
        for name in (
            "browser",
            "browser_version",
            "camera",
            "microphone",
            "rtt_ms",
            "loss_percent",
            "kbps",
        ):
            setattr(found, name, getattr(report, name))
        found.meeting_id = (
            await db.scalar(select(Meeting.id).where(Meeting.id == report.meeting_id))
            if report.meeting_id
            else None
        )
    await db.flush()


async def stored_presence(db: AsyncSession) -> dict[int, EndpointPresence]:
    return {p.site_id: p for p in await db.scalars(select(EndpointPresence))}


async def mark_all_offline(db: AsyncSession) -> None:
    """At start-up nobody is connected yet, whatever the last run wrote."""
    await db.execute(update(EndpointPresence).values(online_since=None))


# ---- readiness checks -----------------------------------------------------------------------


async def request_checks(
    db: AsyncSession,
    site_ids: Collection[int],
    *,
    online: Collection[int],
    at: datetime,
    actor_id: int | None,
) -> list[ReadinessCheck]:
    """One pending check per endpoint; those offline are unreachable at once."""
    made = []
    for site_id in sorted(site_ids):
        check = ReadinessCheck(site_id=site_id, requested_at=at, requested_by_id=actor_id)
        if site_id not in online:
            check.verdict, check.finished_at = "unreachable", at
        db.add(check)
        made.append(check)
    await db.flush()
    await audit.record(
        db, at, actor_id, "site.readiness_check", "site", None, {"endpoints": len(made)}
    )
    return made


async def record_result(
    db: AsyncSession, check_id: int, site_id: int, raw: object, at: datetime
) -> ReadinessCheck:
    """A kiosk's answer to its own pending check: figures judged here, or the problem it hit."""
    check = await db.get(ReadinessCheck, check_id)
    if check is None or check.site_id != site_id or check.verdict != "pending":
        raise InvalidInput({"check": N_("No such readiness check is waiting for this endpoint.")})
    if not isinstance(raw, Mapping):
        raise InvalidInput({"result": N_("The result must be an object.")})
    problem = _text(raw, "problem", 200)
    report = Report.parse({k: v for k, v in raw.items() if k != "problem"})
    check.rtt_ms, check.loss_percent, check.kbps = report.rtt_ms, report.loss_percent, report.kbps
    check.camera, check.microphone = report.camera, report.microphone
    check.problem = problem
    check.verdict = "failed" if problem else judge(report.rtt_ms, report.loss_percent, report.kbps)
    check.finished_at = at
    await db.flush()
    return check


async def expire_checks(db: AsyncSession, now: datetime) -> int:
    result = await db.execute(
        update(ReadinessCheck)
        .where(
            ReadinessCheck.verdict == "pending", ReadinessCheck.requested_at < now - CHECK_TIMEOUT
        )
        .values(verdict="unreachable", finished_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def latest_checks(db: AsyncSession) -> dict[int, ReadinessCheck]:
    """Each endpoint's most recent check."""
    newest = (
        select(ReadinessCheck.site_id, func.max(ReadinessCheck.id).label("id"))
        .group_by(ReadinessCheck.site_id)
        .subquery()
    )
    rows = await db.scalars(select(ReadinessCheck).join(newest, newest.c.id == ReadinessCheck.id))
    return {c.site_id: c for c in rows}


async def history(
    db: AsyncSession, start: datetime, end: datetime
) -> list[tuple[ReadinessCheck, Site]]:
    rows = await db.execute(
        select(ReadinessCheck, Site)
        .join(Site, Site.id == ReadinessCheck.site_id)
        .where(ReadinessCheck.requested_at >= start, ReadinessCheck.requested_at < end)
        .order_by(ReadinessCheck.requested_at, Site.code)
    )
    return [(c, s) for c, s in rows]


# ---- flags before a meeting -------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    meeting: Meeting
    site: Site
    reason: str  # "offline" or a failing verdict

    @property
    def message(self) -> str:
        """What the flag says, on a page (a message id)."""
        return OFFLINE if self.reason == "offline" else FAILED_CHECK


OFFLINE = N_("Offline")
FAILED_CHECK = N_("Failed its last readiness check")
NOTICE = {
    OFFLINE: N_("%(site)s, booked for “%(title)s” at %(start)s, is offline."),
    FAILED_CHECK: N_(
        "%(site)s, booked for “%(title)s” at %(start)s, failed its last readiness check."
    ),
}


async def flags(
    db: AsyncSession, now: datetime, lead: timedelta, online: Collection[int]
) -> list[Flag]:
    """Endpoints booked for a meeting starting within ``lead`` that are offline or failed their
    last check."""
    upcoming = list(
        await db.scalars(
            select(Meeting)
            .where(
                Meeting.status.in_(UPCOMING),
                Meeting.planned_start <= now + lead,
                Meeting.planned_end >= now,
            )
            .order_by(Meeting.planned_start)
        )
    )
    if not upcoming:
        return []
    last = await latest_checks(db)
    found = []
    for meeting in upcoming:
        for ms in meeting.sites:
            check = last.get(ms.site_id)
            if ms.site_id not in online:
                found.append(Flag(meeting, ms.site, "offline"))
            elif check is not None and check.verdict in FAILING:
                found.append(Flag(meeting, ms.site, check.verdict))
    return found


async def notify_flags(
    db: AsyncSession, found: Iterable[Flag], at: datetime, zone: ZoneInfo
) -> int:
    """Tell each flagged meeting's chair and secretary, once per endpoint and reason."""
    sent = 0
    for flag in found:
        for user_id in {flag.meeting.chair_id, flag.meeting.secretary_id} - {None}:
            assert user_id is not None
            sent += await notifications.notify(
                db,
                key=f"endpoint-flag:{flag.meeting.id}:{flag.site.id}:{flag.reason}:{user_id}",
                kind=NotificationKind.REMINDER,
                message=NOTICE[flag.message],
                params={
                    "site": flag.site.name,
                    "title": flag.meeting.title,
                    "start": f"{flag.meeting.planned_start.astimezone(zone):%H:%M %d/%m/%Y}",
                },
                at=at,
                user_id=user_id,
                meeting_id=flag.meeting.id,
            )
    return sent


def site_ids_of(meetings: Iterable[Meeting]) -> set[int]:
    return {ms.site_id for m in meetings for ms in m.sites}


async def sites_of_meetings(db: AsyncSession, meeting_ids: Collection[int]) -> set[int]:
    if not meeting_ids:
        return set()
    return set(
        await db.scalars(
            select(MeetingSite.site_id).where(MeetingSite.meeting_id.in_(list(meeting_ids)))
        )
    )
