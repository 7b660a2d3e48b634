"""Pages that take people into a live meeting: the meeting page for staff, join links for
invitees, the commune kiosk, and the page for browsers that cannot take part."""

from __future__ import annotations

from aiohttp import web
from markupsafe import Markup

from sessions import devices, joining, meetings, tokens
from sessions.enums import MeetingStatus, RecordingPolicy
from sessions.errors import N_, PermissionDenied
from sessions.models import Meeting, Site
from sessions.permissions import Action
from signaling.hub import JOINABLE
from web import kiosks, ui_strings
from web.auth import current_user, db_of, requires
from web.keys import CLOCK, DB, KIOSKS, REQUEST_WEB_SESSION, SETTINGS
from web.paging import path_id
from web.templating import locale_of, render, translate, translations_of

routes = web.RouteTableDef()


def strings_json(request: web.Request) -> Markup:
    return ui_strings.strings_json(translations_of(request), locale_of(request))


def _room_context(
    request: web.Request, meeting: Meeting, claims: tokens.JoinClaims, *, staff: bool
) -> dict[str, object]:
    settings = request.app[SETTINGS]
    return {
        "meeting": meeting,
        "token": tokens.sign(claims, settings.session_key),
        "claims": claims,
        "recording_required": meeting.recording_policy is not RecordingPolicy.NEVER,
        "chair_switches_recording": meeting.recording_policy is RecordingPolicy.CHAIR,
        "strings": strings_json(request),
        "staff": staff,
        "is_open": meeting.status in JOINABLE,
    }


@routes.get("/meetings/{meeting_id:\\d+}/room", name="meeting_room")
@requires(Action.MEETING_JOIN)
async def meeting_room(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    meeting = await meetings.get_meeting(db_of(request), path_id(request, "meeting_id"))
    claims = joining.claims_for_user(
        user, meeting, request.app[CLOCK].now(), request[REQUEST_WEB_SESSION]
    )
    return render(request, "room.html", _room_context(request, meeting, claims, staff=True))


def _token_problem(request: web.Request, reason: str, status: int) -> web.StreamResponse:
    messages = {
        "expired": N_(
            "This join link has expired. Ask the reception office (Ban Tiếp công dân) "
            "for a new link, or call the number on your invitation."
        ),
        "signature": N_(
            "This join link is not valid: it was changed or not issued by this server. "
            "Ask the reception office for a new link."
        ),
        "malformed": N_(
            "This join link is incomplete. Open the whole link from your invitation, "
            "or ask the reception office for a new one."
        ),
        "closed": N_("This meeting has ended or was cancelled. Nothing more to join here."),
    }
    return render(
        request,
        "join_problem.html",
        {"message": translate(request, messages[reason]), "reason": reason},
        status=status,
    )


@routes.get("/join/{token}", name="join_link")
async def join_link(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    try:
        claims = tokens.verify(
            request.match_info["token"], settings.session_key, request.app[CLOCK].now()
        )
    except tokens.TokenError as exc:
        return _token_problem(request, exc.reason, 410 if exc.reason == "expired" else 400)
    meeting = await db_of(request).get(Meeting, claims.meeting_id)
    if meeting is None or meeting.status in (
        MeetingStatus.CANCELLED,
        MeetingStatus.ENDED,
        MeetingStatus.MINUTES_FINALISED,
    ):
        return _token_problem(request, "closed", 410)
    meeting = await meetings.get_meeting(db_of(request), meeting.id)
    try:
        claims = await joining.with_invitee_name(db_of(request), claims)
    except PermissionDenied:
        return _token_problem(request, "malformed", 400)
    return render(request, "room.html", _room_context(request, meeting, claims, staff=False))


@routes.get("/unsupported", name="unsupported")
async def unsupported(request: web.Request) -> web.StreamResponse:
    return render(request, "unsupported.html")


# ---- kiosk -----------------------------------------------------------------------------


async def _kiosk_site(request: web.Request) -> Site:
    site = await devices.site_for(db_of(request), request.match_info["device"])
    if site is None:
        raise web.HTTPForbidden
    return site


@routes.get("/kiosk/{device}", name="kiosk")
async def kiosk(request: web.Request) -> web.StreamResponse:
    site = await devices.site_for(db_of(request), request.match_info["device"])
    if site is None:
        return render(request, "kiosk_refused.html", status=403)
    return render(
        request,
        "kiosk.html",
        {
            "site": site,
            "device": request.match_info["device"],
            "state_url": f"/kiosk/{request.match_info['device']}/state",
            "strings": strings_json(request),
        },
    )


@routes.get("/kiosk/{device}/state", name="kiosk_state")
async def kiosk_state(request: web.Request) -> web.StreamResponse:
    """The state the push channel sends, for a kiosk that cannot hold a WebSocket."""
    site = await _kiosk_site(request)
    state = await kiosks.kiosk_state(
        db_of(request),
        site,
        request.app[CLOCK].now(),
        settings=request.app[SETTINGS],
        translations=translations_of(request),
        locale=locale_of(request),
    )
    return web.json_response(state, headers={"Cache-Control": "no-store"})


@routes.get("/live/kiosk/{device}", name="kiosk_channel")
async def kiosk_channel(request: web.Request) -> web.StreamResponse:
    """The kiosk's push channel (docs/protocol.md, *Kiosk channel*)."""
    async with request.app[DB]() as db:
        site = await devices.site_for(db, request.match_info["device"])
    if site is None:
        return web.json_response({"error": "device_revoked"}, status=403)
    channel = request.app[KIOSKS]
    if not channel.may_connect(site.id):
        return web.json_response(
            {"error": "too_many_reconnects"}, status=429, headers={"Retry-After": "5"}
        )
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=kiosks.MAX_MESSAGE_BYTES * 4)
    await ws.prepare(request)
    await channel.serve(ws, site)
    return ws


@routes.post("/sites/{site_id:\\d+}/device-token", name="site_device_token")
@requires(Action.SITE_DEVICE)
async def issue_device_token(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    site = await db.get(Site, path_id(request, "site_id"))
    if site is None:
        raise web.HTTPNotFound
    token = await devices.issue(
        db, site, request.app[CLOCK].now(), actor_id=current_user(request).id
    )
    url = f"{request.app[SETTINGS].effective_public_url}/kiosk/{token}"
    return render(request, "device_token.html", {"site": site, "url": url})
