"""One task per WebSocket connection, with a bounded outbox (the room never writes to a socket).

The first message must be ``hello`` (within ``HELLO_TIMEOUT``); after that every message is
parsed, dispatched to the room, and any problem answered with an ``error``: the connection goes
on. Only a bad version or token, a full outbox, or the room's own decision closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from sessions import tokens
from signaling import protocol
from signaling.hub import Hub
from signaling.participant import Participant
from signaling.room import Room

log = logging.getLogger(__name__)
HELLO_TIMEOUT = 15.0
OUTBOX_SIZE = 256
_CLOSE = object()


class WsConnection:
    def __init__(self, ws: web.WebSocketResponse, outbox_size: int = OUTBOX_SIZE) -> None:
        self.ws = ws
        self.outbox: asyncio.Queue[object] = asyncio.Queue(outbox_size)
        self.closing = False
        self.sent = 0
        self._writer = asyncio.create_task(self._write())

    def push(self, message: protocol.ServerMessage) -> bool:
        if self.closing:
            return False
        try:
            self.outbox.put_nowait(protocol.encode(message))
        except asyncio.QueueFull:
            log.warning("closing a connection that does not keep up with its messages")
            self.close("slow_consumer")
            return False
        return True

    def close(self, error_id: str | None = None) -> None:
        if self.closing:
            return
        self.closing = True
        if error_id is not None:
            # Make room for the last word even when the outbox is full.
            while self.outbox.full():
                self.outbox.get_nowait()
            self.outbox.put_nowait(protocol.encode(protocol.error(error_id)))
        while self.outbox.full():
            self.outbox.get_nowait()
        self.outbox.put_nowait(_CLOSE)

    async def _write(self) -> None:
        try:
            while True:
                item = await self.outbox.get()
                if item is _CLOSE:
                    break
                assert isinstance(item, str)
                await self.ws.send_str(item)
                self.sent += 1
        except (ConnectionError, RuntimeError):
            pass
        finally:
            await self.ws.close()

    async def finish(self) -> None:
        self.close()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._writer


async def serve(ws: web.WebSocketResponse, hub: Hub) -> None:
    """Run one client connection until it closes."""
    connection = WsConnection(ws)
    max_bytes = hub.settings.max_message_bytes
    room: Room | None = None
    participant: Participant | None = None
    try:
        first = await ws.receive(timeout=HELLO_TIMEOUT)
        room, participant = await _hello(connection, hub, first, max_bytes)
        if room is None or participant is None:
            return
        while not connection.closing:
            message = await ws.receive()
            if message.type in (
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            ):
                break
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            await _dispatch(connection, room, participant, message.data, max_bytes)
            if room.ended:
                break
    except TimeoutError:
        connection.push(protocol.error("hello_first"))
    finally:
        if room is not None and participant is not None:
            await room.disconnected(participant, connection)
        await connection.finish()


async def _hello(
    connection: WsConnection, hub: Hub, first: object, max_bytes: int
) -> tuple[Room | None, Participant | None]:
    data = getattr(first, "data", None)
    if getattr(first, "type", None) not in (WSMsgType.TEXT, WSMsgType.BINARY):
        return None, None
    try:
        message = protocol.parse_client(data, max_bytes)  # type: ignore[arg-type]
        if not isinstance(message, protocol.Hello):
            raise protocol.ProtocolError("hello_first")
        if message.version not in protocol.SUPPORTED_VERSIONS:
            raise protocol.ProtocolError("unsupported_version")
        try:
            claims = tokens.verify(message.token, hub.settings.session_key, hub.clock.now())
        except tokens.TokenError as exc:
            raise protocol.ProtocolError(f"token_{exc.reason}") from exc
        room = await hub.room_for(claims.meeting_id)
        participant = await room.join(claims, connection, recording_ack=message.recording_ack)
    except protocol.ProtocolError as exc:
        connection.close(exc.error_id)
        return None, None
    return room, participant


async def _dispatch(
    connection: WsConnection,
    room: Room,
    participant: Participant,
    data: str | bytes,
    max_bytes: int,
) -> None:
    ref: str | None = None
    try:
        message = protocol.parse_client(data, max_bytes)
        ref = message.type
        await room.handle(participant, message)
    except protocol.ProtocolError as exc:
        connection.push(protocol.error(exc.error_id, exc.ref or ref))
    except Exception:
        log.exception("message %s from %s failed", ref, participant.id)
        connection.push(protocol.error("internal", ref))
