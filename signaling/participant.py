"""A participant: one place in a room, kept across reconnections of the same token subject."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sessions.tokens import JoinClaims
from signaling import protocol
from signaling.media.source import Source
from signaling.peer import PublishPeer, SubscribePeer

State = Literal["waiting", "present", "reconnecting"]


class Connection(Protocol):
    """The participant's WebSocket, as the room may use it: a bounded outbox, never the socket."""

    def push(self, message: protocol.ServerMessage) -> bool: ...

    def close(self, error_id: str | None = None) -> None: ...


@dataclass(eq=False)
class Participant:
    id: str
    claims: JoinClaims
    state: State
    connection: Connection | None
    publish: PublishPeer | None = None
    subscribe: SubscribePeer | None = None
    audio_muted: bool = False
    video_muted: bool = False
    audio_only: bool = False
    hand_raised: bool = False
    muted_by_chair: bool = False
    grace_timer: asyncio.TimerHandle | None = None
    attendance_id: int | None = None
    recording_ack: bool = False
    interruptions: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def sources(self) -> list[Source]:
        return list(self.publish.sources.values()) if self.publish else []

    def source(self, kind: str) -> Source | None:
        return self.publish.sources.get(kind) if self.publish else None

    def send(self, message: protocol.ServerMessage) -> bool:
        return self.connection.push(message) if self.connection is not None else False

    def info(self, floor: str | None) -> protocol.ParticipantInfo:
        return protocol.ParticipantInfo(
            id=self.id,
            name=self.claims.name,
            role=self.claims.role.value,
            role_label=self.claims.role_label,
            site_id=self.claims.site_id,
            state=self.state,
            audio_muted=self.audio_muted or self.muted_by_chair,
            video_muted=self.video_muted,
            audio_only=self.audio_only,
            hand_raised=self.hand_raised,
            muted_by_chair=self.muted_by_chair,
            has_floor=floor == self.id,
        )
