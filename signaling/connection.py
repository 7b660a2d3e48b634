"""One task per WebSocket connection, with a bounded outbox (the room never writes to a socket).

The first message must be ``hello`` (within ``HELLO_TIMEOUT``); after that every message is
parsed, dispatched to the room, and any problem answered with an ``error``: the connection goes
on. Only a bad version or token, a full outbox, or the room's own decision closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from aiohttp import WSMsgType, web

from sessions import tokens
from signaling import protocol
from signaling.hub import Hub
from signaling.limits import SenderLimits
from signaling.participant import Participant
from signaling.room import Room

log = logging.getLogger(__name__)
HELLO_TIMEOUT = 15.0
OUTBOX_SIZE = 256
_CLOSE = object()


class _Slot:
    """One message waiting in an outbox; a coalescing key lets a newer one replace it."""

    __slots__ = ("data", "key")

    def __init__(self, data: str | None, key: str | None) -> None:
        self.data = data  # None closes the socket
        self.key = key


class WsConnection:
    """The socket's writer task and its outbox. A message that states a current value (see
    ``protocol.coalesce_key``) replaces its pending predecessor, so a burst of one person's
    state changes takes one place in everybody's outbox; only a client that does not read at
    all fills it and is closed with ``slow_consumer``."""

    def __init__(self, ws: web.WebSocketResponse, outbox_size: int = OUTBOX_SIZE) -> None:
        self.ws = ws
        self.outbox_size = outbox_size
        self.closing = False
        self.sent = 0
        self.coalesced = 0
        self._queue: deque[_Slot] = deque()
        self._keyed: dict[str, _Slot] = {}
        self._ready = asyncio.Event()
        self._writer = asyncio.create_task(self._write())

    @property
    def pending(self) -> int:
        return len(self._queue)

    def push(self, message: protocol.ServerMessage) -> bool:
        if self.closing:
            return False
        key = protocol.coalesce_key(message)
        if key is not None and (slot := self._keyed.get(key)) is not None:
            slot.data = protocol.encode(message)
            self.coalesced += 1
            return True
        if len(self._queue) >= self.outbox_size:
            log.warning("closing a connection that does not keep up with its messages")
            self.close("slow_consumer")
            return False
        self._append(protocol.encode(message), key)
        return True

    def _append(self, data: str | None, key: str | None) -> None:
        slot = _Slot(data, key)
        self._queue.append(slot)
        if key is not None:
            self._keyed[key] = slot
        self._ready.set()

    def close(self, error_id: str | None = None) -> None:
        if self.closing:
            return
        self.closing = True
        if error_id is not None:
            self._append(protocol.encode(protocol.error(error_id)), None)
        self._append(None, None)

    async def _write(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._ready.clear()
                    await self._ready.wait()
                slot = self._queue.popleft()
                if slot.key is not None and self._keyed.get(slot.key) is slot:
                    del self._keyed[slot.key]
                if slot.data is None:
                    break
                await self.ws.send_str(slot.data)
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
        limits = SenderLimits()
        while not connection.closing:
            due = limits.due_in(time.monotonic())
            try:
                message = await ws.receive(timeout=None if due is None else max(due, 0.001))
            except TimeoutError:
                for deferred in limits.release(time.monotonic()):
                    await _handle(connection, room, participant, deferred)
                continue
            if message.type in (
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            ):
                break
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            await _dispatch(connection, room, participant, message.data, max_bytes, limits)
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
        if not await hub.still_signed_in(claims):
            raise protocol.ProtocolError("token_signed_out")
        claims = await hub.named(claims)
        room = await hub.room_for(claims.meeting_id)
        hub.admit_new(room, claims.subject)
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
    limits: SenderLimits,
) -> None:
    try:
        message = protocol.parse_client(data, max_bytes)
    except protocol.ProtocolError as exc:
        connection.push(protocol.error(exc.error_id, exc.ref))
        return
    verdict = limits.check(message, time.monotonic())
    if verdict == "handle":
        await _handle(connection, room, participant, message)
    else:
        connection.push(protocol.error("rate_limited", message.type))


async def _handle(
    connection: WsConnection,
    room: Room,
    participant: Participant,
    message: protocol.ClientMessage,
) -> None:
    try:
        await room.handle(participant, message)
    except protocol.ProtocolError as exc:
        connection.push(protocol.error(exc.error_id, exc.ref or message.type))
    except Exception:
        log.exception("message %s from %s failed", message.type, participant.id)
        connection.push(protocol.error("internal", message.type))
