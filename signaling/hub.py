"""The rooms of this server process: one per open meeting, opened on the first join."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sessions import joining
from sessions.clock import Clock
from sessions.enums import MeetingStatus, RecordingPolicy
from sessions.errors import PermissionDenied
from sessions.models import Meeting, WebSession
from sessions.settings import Settings
from sessions.tokens import JoinClaims
from signaling import protocol
from signaling.journal import DbJournal
from signaling.load import Limits, LoadMonitor
from signaling.media.adapter import restrict_host_addresses
from signaling.media.quality import profile
from signaling.peer import CandidatePolicy
from signaling.probe import Probes
from signaling.room import MediaConfig, Room, RoomPolicy, RoomRecorder

JOINABLE = (MeetingStatus.OPEN, MeetingStatus.LIVE)
# (meeting id, record from the start?, state callback) → a recorder for the room
RecorderFactory = Callable[[int, bool, Callable[[bool, str], None]], Awaitable[RoomRecorder]]


class Hub:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        recorder_factory: RecorderFactory | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._recorder_factory = recorder_factory
        self._on_idle = on_idle  # the last room closed: give back what meetings used
        self._db = db
        self.clock = clock
        self.settings = settings
        self.load = LoadMonitor(Limits.from_settings(settings))
        self.media = MediaConfig(
            ice_servers=settings.ice_servers,
            candidate_policy=CandidatePolicy.from_settings(settings.ice_allowed_remote),
            reconnect_grace=float(settings.reconnect_grace_seconds),
            shedding=lambda: self.load.saturated,
        )
        self.rooms: dict[int, Room] = {}
        self.probes = Probes(settings)
        self._opening = asyncio.Lock()

    async def named(self, claims: JoinClaims) -> JoinClaims:
        """The claims as the meeting names their holder (an invitee's token has no name)."""
        async with self._db() as db:
            try:
                return await joining.with_invitee_name(db, claims)
            except PermissionDenied as exc:
                raise protocol.ProtocolError("token_malformed") from exc

    async def still_signed_in(self, claims: JoinClaims) -> bool:
        """A signed-in person's token joins only while its browser sign-in lasts."""
        if claims.web_session is None:
            return True
        async with self._db() as db:
            session = await db.get(WebSession, claims.web_session)
        return (
            session is not None
            and session.revoked_at is None
            and session.expires_at > self.clock.now()
        )

    async def room_for(self, meeting_id: int) -> Room:
        self.load.start()  # measured from the first room on
        room = self.rooms.get(meeting_id)
        if room is not None and not room.ended:
            return room
        async with self._opening:
            room = self.rooms.get(meeting_id)
            if room is not None and not room.ended:
                return room
            async with self._db() as db:
                meeting = await db.get(Meeting, meeting_id)
            if meeting is None or meeting.status not in JOINABLE:
                raise protocol.ProtocolError("meeting_not_open")
            if self.load.saturated:
                self.load.refuse()
                raise protocol.ProtocolError("server_busy")
            room = Room(
                RoomPolicy(
                    meeting_id=meeting_id,
                    waiting_room=meeting.waiting_room,
                    quality=profile(meeting.quality_profile),
                    recording=meeting.recording_policy.value,
                ),
                self.media,
                DbJournal(self._db, self.clock, meeting_id),
                on_closed=self._closed,
            )
            room.live = meeting.status is MeetingStatus.LIVE
            if room.live:  # a previous process stopped during the meeting
                await room.restore()
            if (
                self._recorder_factory is not None
                and meeting.recording_policy is not RecordingPolicy.NEVER
            ):
                room.recorder = await self._recorder_factory(
                    meeting_id,
                    meeting.recording_policy is RecordingPolicy.ALWAYS,
                    room.recording_changed,
                )
            self.rooms[meeting_id] = room
            return room

    async def _closed(self, room: Room) -> None:
        if self.rooms.get(room.policy.meeting_id) is room:
            del self.rooms[room.policy.meeting_id]
        if not self.rooms:
            await self.load.close()  # nothing to carry, nothing to watch; the next room starts it
            if self._on_idle is not None:
                self._on_idle()

    async def end_meeting(self, meeting_id: int) -> bool:
        room = self.rooms.get(meeting_id)
        if room is None:
            return False
        await room.end(None)
        return True

    def status(self) -> list[dict[str, Any]]:
        """What is live on this process, for operators (and tests): rooms, people, media."""
        out: list[dict[str, Any]] = []
        for meeting_id, room in self.rooms.items():
            people: list[dict[str, Any]] = []
            for p in room.participants.values():
                forwarders = p.subscribe.forwarders if p.subscribe else []
                sent = [f.stats for f in forwarders]
                people.append(
                    {
                        "id": p.id,
                        "subject": p.claims.subject,
                        "name": p.claims.name,
                        "role": p.claims.role.value,
                        "state": p.state,
                        "muted_by_chair": p.muted_by_chair,
                        "sources": {
                            s.kind: {
                                "packets": s.packets_received,
                                "keyframes": s.keyframes_seen,
                                "layered": s.layered,
                                "layer_kbps": [r // 1000 for r in s.layer_rates()],
                            }
                            for s in p.sources
                        },
                        "keyframe_requests": sum(s.keyframe_requests_sent for s in p.sources),
                        "forwarded_packets": sum(s.packets for s in sent),
                        "retransmitted": sum(s.retransmitted for s in sent),
                        "retransmit_misses": sum(s.retransmit_misses for s in sent),
                        # Packets given up on: a filler went in their place.
                        "fillers": sum(s.fillers for s in sent),
                        "dropped_waiting_for_keyframe": sum(s.dropped_waiting for s in sent),
                        "subscriptions": len(forwarders),
                        # What this participant receives of each layered video it is sent.
                        "layers": [
                            {
                                "from": f.source.participant_id,
                                "layer": f.layers.current,
                                "target": f.layers.target,
                                "switches": f.layers.switches,
                                "dropped_packets": f.stats.dropped_layers,
                                "estimate_kbps": (f.remb_bps or 0) // 1000,
                                "loss_percent": round((f.loss or 0.0) * 100, 1),
                                "rtt_ms": round((f.tap.rtt or 0.0) * 1000),
                            }
                            for f in forwarders
                            if f.layers is not None and f.source.layered
                        ],
                    }
                )
            out.append(
                {
                    "meeting_id": meeting_id,
                    "live": room.live,
                    # Attendance or lifecycle records that could not be written (see the log).
                    "journal_failures": room.journal.failures,
                    "participants": people,
                }
            )
        return out

    def admit_new(self, room: Room, subject: str) -> None:
        """A saturated process takes nobody new; whoever is already in the room comes back."""
        if self.load.saturated and room.by_subject(subject) is None:
            self.load.refuse()
            raise protocol.ProtocolError("server_busy")

    async def close(self) -> None:
        await self.load.close()
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()
        await self.probes.close_all()


@contextmanager
def media_network(settings: Settings) -> Iterator[None]:
    """Where this process gathers ICE candidates, for as long as the hub runs."""
    with restrict_host_addresses(settings.ice_host_addresses):
        yield
