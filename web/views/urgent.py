"""The urgent link from Hanoi, leaders' alerts, and in-app notifications."""

from __future__ import annotations

from aiohttp import web

from sessions import notifications, sites, urgent
from sessions.enums import UrgentStatus
from sessions.errors import N_, InvalidInput
from sessions.permissions import Action
from web import i18n
from web.auth import current_user, db_of, login_required, requires, safe_next
from web.forms import form_text, form_values
from web.keys import CLOCK, SCHEDULER, SETTINGS
from web.paging import path_id
from web.templating import locale_of, redirect_with_flash, render, translate

routes = web.RouteTableDef()


async def _page(
    request: web.Request, values: dict[str, str], errors: dict[str, str], status: int
) -> web.StreamResponse:
    db = db_of(request)
    communes = await sites.listed(db, sites.COMMUNE_KINDS)
    calls = await urgent.recent_calls(db)
    return render(
        request,
        "urgent.html",
        {
            "communes": communes,
            "calls": calls,
            "values": values,
            "errors": errors,
            "UrgentStatus": UrgentStatus,
        },
        status=status,
    )


@routes.get("/urgent", name="urgent")
@requires(Action.URGENT_RAISE)
async def urgent_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, {}, {}, 200)


@routes.post("/urgent")
@requires(Action.URGENT_RAISE)
async def urgent_raise(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    db = db_of(request)
    scheduler = request.app[SCHEDULER]
    try:
        call = await urgent.raise_urgent(
            db,
            commune_site_id=form_text(form, "commune_site_id"),
            head_count=form_text(form, "head_count"),
            liaison_id=current_user(request).id,
            now=request.app[CLOCK].now(),
            timing=scheduler.timing,
        )
    except InvalidInput as exc:
        return await _page(request, form_values(form), exc.field_errors, 400)
    nobody_on_duty = await urgent.roster_is_empty(db)
    await db.commit()
    await scheduler.plan_by_id(call.meeting_id)
    room = f"/meetings/{call.meeting_id}/room"
    if nobody_on_duty:
        raise redirect_with_flash(room, "urgent_no_roster")
    raise web.HTTPSeeOther(room)


@routes.post("/urgent/{call_id:\\d+}/accept", name="urgent_accept")
@requires(Action.URGENT_ANSWER)
async def urgent_accept(request: web.Request) -> web.StreamResponse:
    call = await urgent.accept(
        db_of(request),
        path_id(request, "call_id"),
        current_user(request).id,
        request.app[CLOCK].now(),
    )
    raise web.HTTPSeeOther(f"/meetings/{call.meeting_id}/room")


@routes.get("/alerts", name="alerts")
@login_required
async def alerts(request: web.Request) -> web.StreamResponse:
    """Polled by every staff page: urgent calls to answer, unread notices."""
    db = db_of(request)
    user = current_user(request)
    calls = await urgent.alerting_for(db, user.id)
    locale, zone = locale_of(request), request.app[SETTINGS].zone
    unread = await notifications.unread_for_user(db, user.id)
    return web.json_response(
        {
            "urgent": [
                {
                    "id": c.id,
                    "meeting_id": c.meeting_id,
                    "text": translate(
                        request,
                        N_(
                            "A crowd of %(people)s people from %(commune)s at the central "
                            "citizen reception office, since %(time)s"
                        ),
                        {
                            "people": c.head_count,
                            "commune": c.commune.name,
                            "time": i18n.show_datetime(c.raised_at, locale, zone),
                        },
                    ),
                    "accept_url": f"/urgent/{c.id}/accept",
                }
                for c in calls
            ],
            "unread": len(unread),
        },
        headers={"Cache-Control": "no-store"},
    )


@routes.post("/notifications/{notification_id:\\d+}/read", name="notification_read")
@login_required
async def notification_read(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    await notifications.mark_read(
        db_of(request),
        current_user(request).id,
        path_id(request, "notification_id"),
        request.app[CLOCK].now(),
    )
    raise web.HTTPSeeOther(safe_next(form_text(form, "next")))
