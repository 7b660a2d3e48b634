"""Meetings: list and detail; cancelling through the lifecycle."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from sessions import booking, cases, joining, lifecycle, meetings
from sessions.enums import MeetingStatus
from sessions.errors import N_, PermissionDenied, TransitionRefused
from sessions.permissions import Action
from web.auth import current_user, db_of, principal_of, requires
from web.forms import form_text
from web.keys import CLOCK, HUB, KIOSKS, SCHEDULER, SETTINGS
from web.paging import Page, enum_param, int_param, path_id
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()
PAGE_SIZE = 30
RANGES = ("upcoming", "today", "past", "all")


@routes.get("/meetings", name="meetings")
@requires(Action.MEETING_LIST)
async def meeting_list(request: web.Request) -> web.StreamResponse:
    q = request.query
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    chosen = q.get("range") if q.get("range") in RANGES else "upcoming"
    flt = meetings.MeetingFilter(status=enum_param(MeetingStatus, q.get("status")))
    if chosen == "upcoming":
        flt = meetings.MeetingFilter(status=flt.status, start=now)
    elif chosen == "today":
        start, end = meetings.local_day_bounds(now.astimezone(settings.zone).date(), settings.zone)
        flt = meetings.MeetingFilter(status=flt.status, start=start, end=end)
    elif chosen == "past":
        flt = meetings.MeetingFilter(status=flt.status, end=now - timedelta(seconds=1))
    page_number = int_param(q.get("page"), default=1, minimum=1)
    rows, total = await meetings.list_meetings(
        db_of(request),
        flt,
        visible=principal_of(request).meeting_clause(Action.MEETING_LIST),
        limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE,
        newest_first=chosen in ("past", "all"),
    )
    return render(
        request,
        "meetings/list.html",
        {
            "meetings": rows,
            "range": chosen,
            "ranges": RANGES,
            "status": flt.status,
            "statuses": list(MeetingStatus),
            "page": Page(page_number, PAGE_SIZE, total),
        },
    )


async def _detail(
    request: web.Request,
    meeting_id: int,
    *,
    cancel_error: str = "",
    link_error: tuple[str, dict[str, object]] | None = None,
    link_value: str = "",
    status: int = 200,
) -> web.StreamResponse:
    db = db_of(request)
    meeting = await meetings.get_meeting(db, meeting_id)
    principal = principal_of(request)
    principal.require(Action.MEETING_VIEW, meeting)
    attendance = await meetings.attendance_of(db, meeting_id)
    user = current_user(request)
    live = (MeetingStatus.SCHEDULED, MeetingStatus.OPEN, MeetingStatus.LIVE)
    try:
        joining.room_role(user, meeting)
        may_join = meeting.status in live
    except PermissionDenied:
        may_join = False
    settings = request.app[SETTINGS]
    links = []
    emailable = 0
    if principal.allows(Action.MEETING_LINKS, meeting) and meeting.status in live:
        for link in booking.join_links(
            meeting, settings.session_key, settings.join_link_valid_hours
        ):
            links.append((link, settings.effective_public_url + link.path))
        if request.app[SCHEDULER].mailer.enabled:
            emailable = len(await booking.link_addresses(db, [link for link, _ in links]))
    return render(
        request,
        "meetings/detail.html",
        {
            "meeting": meeting,
            "attendance": attendance,
            "endpoint_flags": await request.app[KIOSKS].flags(db, principal, meeting_id=meeting.id),
            "can_cancel": principal.allows(Action.MEETING_CANCEL, meeting)
            and meeting.status in (MeetingStatus.SCHEDULED, MeetingStatus.OPEN),
            # An open or live room can be ended from here too (an urgent room nobody took).
            "can_end": principal.allows(Action.MEETING_CANCEL, meeting)
            and meeting.status in (MeetingStatus.OPEN, MeetingStatus.LIVE),
            "cancel_error": cancel_error,
            "errors": {"reference": link_error[0]} if link_error else {},
            "error_params": {"reference": link_error[1]} if link_error else {},
            "values": {"reference": link_value},
            "can_join": may_join,
            "join_links": links,
            "links_until": meeting.planned_end + timedelta(hours=settings.join_link_valid_hours),
            "emailable": emailable,
            "can_link_case": principal.may(Action.CASE_EDIT) and meeting.case_id is None,
            # Case content only for those who may see the case (a site operator may not).
            "show_case": meeting.case is not None
            and principal.allows(Action.CASE_VIEW, meeting.case),
        },
        status=status,
    )


@routes.get("/meetings/{meeting_id:\\d+}", name="meeting")
@requires(Action.MEETING_VIEW)
async def meeting_detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request, path_id(request, "meeting_id"))


@routes.post("/meetings/{meeting_id:\\d+}/cancel")
@requires(Action.MEETING_CANCEL)
async def meeting_cancel(request: web.Request) -> web.StreamResponse:
    meeting_id = path_id(request, "meeting_id")
    db = db_of(request)
    meeting = await meetings.get_meeting(db, meeting_id)
    principal_of(request).require(Action.MEETING_CANCEL, meeting)
    form = await request.post()
    reason = form_text(form, "reason")
    if not reason:
        return await _detail(
            request, meeting_id, cancel_error=N_("Give the reason for cancelling."), status=400
        )
    await meetings.cancel_meeting(
        db, meeting, reason, at=request.app[CLOCK].now(), actor_id=current_user(request).id
    )
    request.app[SCHEDULER].plan(meeting)  # its timers go
    raise redirect_with_flash(f"/meetings/{meeting_id}", "meeting_cancelled")


@routes.post("/meetings/{meeting_id:\\d+}/end")
@requires(Action.MEETING_CANCEL)
async def meeting_end(request: web.Request) -> web.StreamResponse:
    """End an open or live room for everyone, from the meeting's page."""
    meeting_id = path_id(request, "meeting_id")
    db = db_of(request)
    meeting = await meetings.get_meeting(db, meeting_id)
    principal_of(request).require(Action.MEETING_CANCEL, meeting)
    if meeting.status not in (MeetingStatus.OPEN, MeetingStatus.LIVE):
        raise TransitionRefused(N_("Only an open or live meeting can be ended."))
    await lifecycle.end_meeting(
        db, meeting_id, request.app[CLOCK].now(), by="user", actor_id=current_user(request).id
    )
    await db.commit()
    await request.app[HUB].end_meeting(meeting_id)
    raise redirect_with_flash(f"/meetings/{meeting_id}", "meeting_ended")


@routes.post("/meetings/{meeting_id:\\d+}/case", name="meeting_link_case")
@requires(Action.CASE_EDIT)
async def meeting_link_case(request: web.Request) -> web.StreamResponse:
    """File a meeting (an urgent one, say) under its case; a wrong reference is said beside
    the field, with what was typed kept."""
    db = db_of(request)
    principal = principal_of(request)
    meeting_id = path_id(request, "meeting_id")
    meeting = await meetings.get_meeting(db, meeting_id)
    principal.require(Action.MEETING_VIEW, meeting)
    form = await request.post()
    typed = form_text(form, "reference")
    case = await cases.by_reference(db, typed) if typed else None
    if case is None or not principal.allows(Action.CASE_EDIT, case):
        # A case this person may not edit is answered like one that does not exist.
        message = (
            N_("There is no case with the reference %(ref)s that you may file to.")
            if typed
            else N_("Enter the case reference, e.g. VV-2026-0001.")
        )
        return await _detail(
            request, meeting_id, link_error=(message, {"ref": typed}), link_value=typed, status=400
        )
    await meetings.link_case(
        db, meeting, case.id, at=request.app[CLOCK].now(), actor_id=current_user(request).id
    )
    raise redirect_with_flash(f"/meetings/{meeting.id}", "case_linked")
