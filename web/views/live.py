"""The live-session WebSocket endpoint (the protocol itself is in ``signaling``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from signaling import connection
from web.keys import HUB

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
