"""The live-session WebSocket endpoint (the protocol itself is in ``signaling``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from sessions import devices, meetings, tokens
from sessions.enums import MeetingStatus
from sessions.permissions import Action
from signaling import connection
from signaling.hub import JOINABLE
from signaling.protocol import ProtocolError
from web.auth import requires
from web.keys import CLOCK, DB, HUB, SETTINGS

routes = web.RouteTableDef()
HEARTBEAT_SECONDS = 15.0


@routes.get("/live/ws", name="live_ws")
async def live_socket(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        # A page on another site must not drive a participant's session.
        raise web.HTTPForbidden(text="cross-origin WebSocket refused")
    hub = request.app[HUB]
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS,
        # Above this hard ceiling aiohttp closes the socket; below it, messages over the
        # protocol's limit get an error and the connection goes on.
        max_msg_size=hub.settings.max_message_bytes * 4,
    )
    await ws.prepare(request)
    await connection.serve(ws, hub)
    return ws


async def _probe_owner(
    request: web.Request, token: str, device: str = ""
) -> str | web.StreamResponse:
    """The test call's ticket is a join token of a meeting that can still be joined, or a
    kiosk's device link (its readiness check, meeting or not)."""
    if device:
        async with request.app[DB]() as db:
            site = await devices.site_for(db, device)
        if site is None:
            return web.json_response({"error": "device_revoked"}, status=403)
        return f"site:{site.id}"
    try:
        claims = tokens.verify(token, request.app[SETTINGS].session_key, request.app[CLOCK].now())
    except tokens.TokenError as exc:
        return web.json_response({"error": f"token_{exc.reason}"}, status=403)
    async with request.app[DB]() as db:
        status = await meetings.status_of(db, claims.meeting_id)
    if status not in (MeetingStatus.SCHEDULED, *JOINABLE):
        return web.json_response({"error": "meeting_not_open"}, status=403)
    return f"{claims.meeting_id}:{claims.subject}"


@routes.post("/live/probe", name="live_probe")
async def probe(request: web.Request) -> web.StreamResponse:
    """The pre-join test call. A valid join token or device link is the ticket (no cookie: no
    CSRF)."""
    try:
        body = await request.json()
        token, device = str(body.get("token", "")), str(body.get("device", ""))
        sdp = str(body["sdp"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return web.json_response({"error": "bad_request"}, status=400)
    owner = await _probe_owner(request, token, device)
    if not isinstance(owner, str):
        return owner
    try:
        probe_id, answer = await request.app[HUB].probes.answer(sdp, owner)
    except ProtocolError as exc:
        return web.json_response({"error": exc.error_id}, status=400)
    except RuntimeError:
        return web.json_response({"error": "busy"}, status=503)
    return web.json_response({"id": probe_id, "sdp": answer})


@routes.delete("/live/probe/{probe_id}", name="live_probe_end")
async def probe_end(request: web.Request) -> web.StreamResponse:
    """Only the test call's maker ends it early: the same join token or device link, in a
    header."""
    probes = request.app[HUB].probes
    probe_id = request.match_info["probe_id"]
    owner = await _probe_owner(
        request, request.headers.get("X-Join-Token", ""), request.headers.get("X-Device", "")
    )
    if not isinstance(owner, str):
        return owner
    if probes.owner_of(probe_id) != owner:
        return web.json_response({"error": "not_yours"}, status=403)
    await probes.close(probe_id)
    return web.json_response({})


@routes.get("/live/rooms", name="live_rooms")
@requires(Action.LIVE_ROOMS)
async def rooms(request: web.Request) -> web.StreamResponse:
    """Operators' view of what is live in this process."""
    hub = request.app[HUB]
    return web.json_response({"rooms": hub.status(), "load": hub.load.status()})
