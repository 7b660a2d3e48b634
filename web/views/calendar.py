"""Week and month calendars per endpoint and per leader; an iCalendar feed per user."""

from __future__ import annotations

import calendar as cal
from datetime import date, timedelta

from aiohttp import web
from icalendar import Calendar, Event

from sessions import labels, meetings, sites, tokens, users
from sessions.enums import MeetingStatus, Role
from sessions.ids import MAX_ID
from sessions.models import Meeting, User
from sessions.permissions import Action, Principal
from web.auth import current_user, db_of, requires
from web.keys import CLOCK, SETTINGS
from web.paging import date_param, int_param
from web.templating import render

routes = web.RouteTableDef()
FEED_DAYS_BACK = 60  # a feed carries the meetings of the last two months and all to come


def _days(view: str, anchor: date) -> tuple[list[date], date, date]:
    """The days shown (whole weeks from Monday), and the anchors of the previous and next
    page."""
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        days = [first + timedelta(days=i) for i in range(7)]
        return days, first - timedelta(days=7), first + timedelta(days=7)
    weeks = cal.Calendar(firstweekday=cal.MONDAY).monthdatescalendar(anchor.year, anchor.month)
    first_of_month = anchor.replace(day=1)
    following = (first_of_month + timedelta(days=32)).replace(day=1)
    previous = (first_of_month - timedelta(days=1)).replace(day=1)
    return [day for week in weeks for day in week], previous, following


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
    days, previous, following = _days(view, anchor)
    start, _ = meetings.local_day_bounds(days[0], settings.zone)
    _, end = meetings.local_day_bounds(days[-1], settings.zone)
    rows, _ = await meetings.list_meetings(
        db,
        meetings.MeetingFilter(start=start, end=end, site_id=site_id, chair_id=leader_id),
        visible=Principal.of(user).meeting_clause(Action.MEETING_LIST),
        limit=1000,
    )
    by_day: dict[date, list[Meeting]] = {d: [] for d in days}
    for m in rows:
        local_day = m.planned_start.astimezone(settings.zone).date()
        by_day.setdefault(local_day, []).append(m)
    leaders = await users.with_role(db, Role.CHAIR)
    sites_list = await sites.listed(db)
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
            f"{tokens.sign_feed(user.id, settings.session_key)}.ics",
            "MeetingStatus": MeetingStatus,
            "weekdays": labels.WEEKDAYS,
        },
    )


@routes.get("/calendar/feed/{token}.ics", name="calendar_feed")
async def calendar_feed(request: web.Request) -> web.StreamResponse:
    """An iCalendar feed (RFC 5545) of the meetings that concern one person."""
    settings = request.app[SETTINGS]
    try:
        user_id = tokens.verify_feed(request.match_info["token"], settings.session_key)
    except tokens.TokenError as exc:
        raise web.HTTPNotFound from exc
    db = db_of(request)
    user = await db.get(User, user_id)
    if user is None or not user.active:
        raise web.HTTPNotFound
    rows = await meetings.concerning(
        db,
        user,
        since=request.app[CLOCK].now() - timedelta(days=FEED_DAYS_BACK),
        visible=Principal.of(user).meeting_clause(Action.MEETING_LIST),
    )
    return web.Response(
        body=feed(rows, user, settings.effective_public_url),
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


def feed(rows: list[Meeting], user: User, public_url: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Diem cau//Lich tiep cong dan//VI")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Điểm cầu — {user.full_name}")
    host = public_url.split("://", 1)[-1]
    for m in rows:
        event = Event()
        event.add("uid", f"meeting-{m.id}@{host}")
        event.add("dtstamp", m.created_at)
        event.add("dtstart", m.planned_start)
        event.add("dtend", m.planned_end)
        # Titles never carry a denouncer's identity (they are written that way at intake).
        event.add("summary", m.title)
        event.add("location", m.host_site.name if m.host_site else "")
        event.add("url", f"{public_url}/meetings/{m.id}")
        event.add("status", "CANCELLED" if m.status is MeetingStatus.CANCELLED else "CONFIRMED")
        calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical
