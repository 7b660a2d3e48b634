"""Week and month calendars per endpoint and per leader; an iCalendar feed per user."""

from __future__ import annotations

import calendar as cal
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

from aiohttp import web
from sqlalchemy import or_, select

from sessions import labels, meetings, sites
from sessions.enums import MeetingStatus, Role
from sessions.ids import MAX_ID, parse_id
from sessions.models import Meeting, MeetingInvitee, MeetingSite, Site, User, UserRole
from sessions.permissions import Action, Principal
from web.auth import current_user, db_of, requires
from web.keys import CLOCK, SETTINGS
from web.paging import date_param, int_param
from web.templating import render

routes = web.RouteTableDef()


def feed_token(user_id: int, key: bytes) -> str:
    mac = hmac.new(key, f"ical:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{user_id}-{mac}"


def user_of_feed(token: str, key: bytes) -> int | None:
    user_part, _, _ = token.partition("-")
    user_id = parse_id(user_part)
    if user_id is None:
        return None
    return user_id if hmac.compare_digest(token, feed_token(user_id, key)) else None


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@routes.get("/calendar", name="calendar")
@requires(Action.MEETING_LIST)
async def calendar_page(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    settings = request.app[SETTINGS]
    user = current_user(request)
    today = request.app[CLOCK].now().astimezone(settings.zone).date()
    q = request.query
    view = "month" if q.get("view") == "month" else "week"
    anchor = date_param(q.get("date"), default=today)
    site_id = int_param(q.get("site"), default=0, maximum=MAX_ID) or None
    leader_id = int_param(q.get("leader"), default=0, maximum=MAX_ID) or None
    if site_id is None and leader_id is None and Role.CHAIR in user.roles:
        leader_id = user.id  # a leader's calendar opens on the leader's own sessions
    if view == "week":
        first = _monday(anchor)
        days = [first + timedelta(days=i) for i in range(7)]
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
    else:
        first_of_month = anchor.replace(day=1)
        first = _monday(first_of_month)
        last_day = cal.monthrange(anchor.year, anchor.month)[1]
        last = anchor.replace(day=last_day)
        days = [first + timedelta(days=i) for i in range((last - first).days + 7 - last.weekday())]
        previous = (first_of_month - timedelta(days=1)).replace(day=1)
        following = last + timedelta(days=1)
    start, _ = meetings.local_day_bounds(days[0], settings.zone)
    _, end = meetings.local_day_bounds(days[-1], settings.zone)
    query = (
        select(Meeting)
        .where(
            Meeting.planned_start < end,
            Meeting.planned_end > start,
            Principal.of(user).meeting_clause(Action.MEETING_LIST),
        )
        .order_by(Meeting.planned_start)
    )
    if site_id is not None:
        query = query.where(
            Meeting.id.in_(select(MeetingSite.meeting_id).where(MeetingSite.site_id == site_id))
        )
    if leader_id is not None:
        query = query.where(Meeting.chair_id == leader_id)
    rows = list((await db.scalars(query)).unique())
    by_day: dict[date, list[Meeting]] = {d: [] for d in days}
    for m in rows:
        local_day = m.planned_start.astimezone(settings.zone).date()
        by_day.setdefault(local_day, []).append(m)
    leaders = list(
        await db.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.CHAIR)
            .order_by(User.full_name)
        )
    )
    sites_list = sites.reading_order(await db.scalars(select(Site)))
    return render(
        request,
        "calendar.html",
        {
            "view": view,
            "days": days,
            "by_day": by_day,
            "anchor": anchor,
            "today": today,
            "previous": previous,
            "following": following,
            "site_id": site_id,
            "leader_id": leader_id,
            "leaders": leaders,
            "sites": sites_list,
            "feed_url": f"{settings.effective_public_url}/calendar/feed/"
            f"{feed_token(user.id, settings.session_key)}.ics",
            "MeetingStatus": MeetingStatus,
            "weekdays": labels.WEEKDAYS,
        },
    )


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _ics_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """RFC 5545: lines of at most 75 octets, continued with a space."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, current = [], b""
    for ch in line:
        encoded = ch.encode()
        if len(current) + len(encoded) > 74:
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)


@routes.get("/calendar/feed/{token}.ics", name="calendar_feed")
async def calendar_feed(request: web.Request) -> web.StreamResponse:
    """Meetings a user chairs, records or is invited to, and those of the user's endpoint."""
    settings = request.app[SETTINGS]
    user_id = user_of_feed(request.match_info["token"], settings.session_key)
    db = db_of(request)
    user = await db.get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        raise web.HTTPNotFound
    now = request.app[CLOCK].now()
    mine = [
        Meeting.chair_id == user.id,
        Meeting.secretary_id == user.id,
        Meeting.id.in_(select(MeetingInvitee.meeting_id).where(MeetingInvitee.user_id == user.id)),
    ]
    if user.site_id is not None:
        mine.append(
            Meeting.id.in_(
                select(MeetingSite.meeting_id).where(MeetingSite.site_id == user.site_id)
            )
        )
    rows = (
        await db.scalars(
            select(Meeting)
            .where(
                or_(*mine),
                Principal.of(user).meeting_clause(Action.MEETING_LIST),
                Meeting.planned_end > now - timedelta(days=60),
            )
            .order_by(Meeting.planned_start)
        )
    ).unique()
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Diem cau//Lich tiep cong dan//VI",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ics_text('Điểm cầu — ' + user.full_name)}",
    ]
    host = settings.effective_public_url.split("://", 1)[-1]
    for m in rows:
        where = m.host_site.name if m.host_site else ""
        lines += [
            "BEGIN:VEVENT",
            f"UID:meeting-{m.id}@{host}",
            f"DTSTAMP:{_ics_time(m.created_at)}",
            f"DTSTART:{_ics_time(m.planned_start)}",
            f"DTEND:{_ics_time(m.planned_end)}",
            # Titles never carry a denouncer's identity (they are written that way at intake).
            f"SUMMARY:{_ics_text(m.title)}",
            f"LOCATION:{_ics_text(where)}",
            f"URL:{settings.effective_public_url}/meetings/{m.id}",
            "STATUS:" + ("CANCELLED" if m.status is MeetingStatus.CANCELLED else "CONFIRMED"),
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    body = "\r\n".join(_fold(line) for line in lines) + "\r\n"
    return web.Response(
        body=body.encode(),
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )
