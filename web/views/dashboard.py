"""The dashboard and the health check."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from sessions import cases, meetings, notifications, sites, urgent
from sessions.permissions import Action
from web.auth import current_user, db_of, login_required, principal_of
from web.keys import CLOCK, KIOSKS, SETTINGS
from web.templating import render

routes = web.RouteTableDef()


@routes.get("/", name="dashboard")
@login_required
async def dashboard(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    settings = request.app[SETTINGS]
    today = request.app[CLOCK].now().astimezone(settings.zone).date()
    start, end = meetings.local_day_bounds(today, settings.zone)
    principal = principal_of(request)
    todays, _ = await meetings.list_meetings(
        db,
        meetings.MeetingFilter(start=start, end=end),
        visible=principal.meeting_clause(Action.MEETING_LIST),
    )
    recent, case_total = await cases.list_cases(
        db, cases.CaseFilter(), visible=principal.case_clause(Action.CASE_LIST), limit=8
    )
    offices = await sites.listed(db, sites.OFFICE_KINDS)
    commune_count = len(await sites.listed(db, sites.COMMUNE_KINDS))
    user = current_user(request)
    return render(
        request,
        "dashboard.html",
        {
            "notices": await notifications.unread_for_user(db, user.id),
            "endpoint_flags": await request.app[KIOSKS].flags(db, principal),
            # Urgent meetings still to be tied to a case: for those who may tie them.
            "tasks": [
                m for m in await urgent.unlinked(db) if principal.allows(Action.MEETING_VIEW, m)
            ]
            if principal.may(Action.CASE_EDIT)
            else [],
            "today": today,
            "meetings": todays,
            "recent_cases": recent,
            "case_total": case_total,
            "offices": offices,
            "commune_count": commune_count,
        },
    )


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        await db_of(request).execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not healthy"
        return web.json_response({"status": "error", "database": str(exc)[:200]}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})
