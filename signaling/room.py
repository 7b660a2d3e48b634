"""A live meeting: participants, their media, the waiting room, the chair's actions.

The room never writes to a socket: each participant's connection has a bounded outbox, and a
connection that cannot keep up is closed (its participant becomes "reconnecting"), so one slow
client cannot hold up anyone else. Every state change a person would see is broadcast as a
``participant_updated`` / ``participant_joined`` / ``participant_left`` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from sessions.enums import AttendanceOutcome
from sessions.permissions import room_allows
from sessions.settings import IceServer
from sessions.tokens import JoinClaims
from signaling import protocol
from signaling.load import SHED_VIDEO_BPS
from signaling.media.quality import QualityProfile
from signaling.media.source import MediaSink, Source
from signaling.participant import Connection, Participant
from signaling.peer import CandidatePolicy, PublishPeer, SubscribePeer, rtc_configuration

if TYPE_CHECKING:
    from sessions import attendance

log = logging.getLogger(__name__)

SPEAKER_TICK = 0.3
SPEAKER_THRESHOLD = 127 - 55  # louder than -55 dBov counts as speech
SPEAKER_HOLD = 1.2  # seconds a new voice must lead before the highlight moves
CLOSE_WAIT_SECONDS = 5.0  # how long a closing room waits for its journal writes


@dataclass(frozen=True)
class RoomPolicy:
    meeting_id: int
    waiting_room: bool
    quality: QualityProfile
    recording: Literal["always", "chair", "never"] = "never"


class RoomRecorder(Protocol):
    """What the room needs of a recorder (``recordings.recorder.MeetingRecorder`` fits; the
    two packages never import each other)."""

    @property
    def active(self) -> bool: ...

    @property
    def detail(self) -> str:
        """Why it is not recording: ``""``, ``paused`` or ``storage_error``."""
        ...

    def add_source(self, source: Source, name: str, subject: str) -> MediaSink: ...

    def remove_source(self, source: Source) -> None: ...

    def marker(self, kind: str, text: str) -> None: ...

    def start(self, by: str) -> None: ...

    def pause(self, by: str) -> None: ...

    async def stop(self) -> str | None: ...


@dataclass(frozen=True)
class MediaConfig:
    ice_servers: tuple[IceServer, ...]
    candidate_policy: CandidatePolicy
    reconnect_grace: float
    # True while the process is saturated: video is capped lower (``signaling.load``).
    shedding: Callable[[], bool] = lambda: False


class RoomJournal(Protocol):
    """What the room reports for the record (attendance, lifecycle). Implemented on the
    database in ``signaling.journal``; every call must be cheap to await, and a write that
    fails is counted in ``failures`` rather than raised (the meeting goes on)."""

    failures: int

    async def joined(self, participant: Participant) -> None: ...

    async def left(self, participant: Participant, outcome: AttendanceOutcome) -> None: ...

    async def interrupted(self, participant: Participant) -> None: ...

    async def resumed(self, participant: Participant) -> None: ...

    async def restore(self) -> attendance.LeftOver: ...

    async def went_live(self) -> None: ...

    async def ended(self, by: Participant | None) -> None: ...

    async def chair_action(
        self, actor: Participant, action: str, target: Participant | None
    ) -> None: ...


class Room:
    def __init__(
        self,
        policy: RoomPolicy,
        media: MediaConfig,
        journal: RoomJournal,
        on_closed: Callable[[Room], Awaitable[None]] | None = None,
    ) -> None:
        self.policy = policy
        self.media = media
        self.journal = journal
        self.participants: dict[str, Participant] = {}
        self.removed_subjects: set[str] = set()
        # Who a previous server process left in the room, by subject (see ``restore``).
        self.left_over: dict[str, attendance.Unfinished] = {}
        self.floor: str | None = None
        self.active_speaker: str | None = None
        self.ended = False
        self.live = False
        self._on_closed = on_closed
        self._configuration = rtc_configuration(media.ice_servers)
        self._speaker_task = asyncio.create_task(self._speaker_loop())
        self._tasks: set[asyncio.Task[None]] = set()
        self._candidate: tuple[str, float] | None = None
        self.recorder: RoomRecorder | None = None

    def recording_changed(self, active: bool, detail: str) -> None:
        """Called by the recorder: started, paused, storage failed or recovered."""
        self.broadcast(protocol.RecordingState(active=active, detail=detail))

    # ---- queries -------------------------------------------------------------------------

    def by_subject(self, subject: str) -> Participant | None:
        return next((p for p in self.participants.values() if p.claims.subject == subject), None)

    def present(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.state != "waiting"]

    def waiting(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.state == "waiting"]

    def sources(self) -> list[Source]:
        return [s for p in self.present() for s in p.sources]

    # ---- sending -------------------------------------------------------------------------

    def broadcast(
        self, message: protocol.ServerMessage, *, exclude: Participant | None = None
    ) -> None:
        for p in self.present():
            if p is not exclude:
                p.send(message)

    def _updated(self, participant: Participant) -> None:
        if participant.state == "waiting":
            self._send_waiting_list()
        else:
            self.broadcast(protocol.ParticipantUpdated(participant.info(self.floor)))

    def _send_waiting_list(self) -> None:
        message = protocol.WaitingList([p.info(self.floor) for p in self.waiting()])
        for p in self.present():
            if room_allows(p.claims.role, "admit"):
                p.send(message)

    def _welcome(self, participant: Participant, *, resumed: bool) -> None:
        waiting = participant.state == "waiting"
        participant.send(
            protocol.Welcome(
                version=protocol.PROTOCOL_VERSION,
                participant_id=participant.id,
                meeting_id=self.policy.meeting_id,
                role=participant.claims.role.value,
                waiting=waiting,
                participants=[] if waiting else [p.info(self.floor) for p in self.present()],
                ice_servers=[
                    protocol.IceServerInfo(list(s.urls), s.username, s.credential)
                    for s in self.media.ice_servers
                ],
                video_kbps=self.policy.quality.video_kbps,
                audio_kbps=self.policy.quality.audio_kbps,
                max_message_bytes=0,
                resumed=resumed,
                recording=self.recorder is not None and self.recorder.active,
                recording_detail=self.recorder.detail if self.recorder is not None else "",
            )
        )
        if waiting:
            participant.send(protocol.Waiting())
        else:
            participant.send(
                protocol.Bitrate(self.policy.quality.video_kbps, self.policy.quality.audio_kbps)
            )
            if room_allows(participant.claims.role, "admit") and self.waiting():
                participant.send(protocol.WaitingList([p.info(self.floor) for p in self.waiting()]))
            if self.active_speaker:
                participant.send(protocol.ActiveSpeaker(self.active_speaker))

    # ---- joining and leaving -------------------------------------------------------------

    async def join(
        self, claims: JoinClaims, connection: Connection, *, recording_ack: bool = False
    ) -> Participant:
        if self.ended:
            raise protocol.ProtocolError("meeting_not_open")
        existing = self.by_subject(claims.subject)
        if existing is not None:
            existing.recording_ack = existing.recording_ack or recording_ack
            await self._resume(existing, connection)
            return existing
        restored = self.left_over.pop(claims.subject, None)
        if restored is not None:
            return await self._restore(restored, claims, connection, recording_ack)
        waiting = claims.subject in self.removed_subjects or (
            self.policy.waiting_room and not room_allows(claims.role, "skip_waiting_room")
        )
        participant = Participant(
            id=uuid.uuid4().hex[:12],
            claims=claims,
            state="waiting" if waiting else "present",
            connection=connection,
            recording_ack=recording_ack,
        )
        self.participants[participant.id] = participant
        self._welcome(participant, resumed=False)
        if waiting:
            self._send_waiting_list()
        else:
            await self._enter(participant)
        return participant

    async def restore(self) -> None:
        """Reopened on a live meeting (the server process stopped during it): those who were in
        come back as who they were, admitted, without a new attendance; those the chair had
        sent out wait to be admitted again."""
        found = await self.journal.restore()
        self.left_over = dict(found.unfinished)
        self.removed_subjects |= found.removed

    async def _restore(
        self,
        restored: attendance.Unfinished,
        claims: JoinClaims,
        connection: Connection,
        recording_ack: bool,
    ) -> Participant:
        known = restored.participant_id
        participant = Participant(
            id=known if known and known not in self.participants else uuid.uuid4().hex[:12],
            claims=claims,
            state="present",
            connection=connection,
            recording_ack=recording_ack,
            attendance_id=restored.attendance_id,
            interruptions=1,
        )
        self.participants[participant.id] = participant
        self._welcome(participant, resumed=True)
        self._mark("resume", claims.name)
        self.broadcast(
            protocol.ParticipantJoined(participant.info(self.floor)), exclude=participant
        )
        await self.journal.resumed(participant)
        self._update_subscriptions()
        return participant

    def _mark(self, kind: str, text: str) -> None:
        if self.recorder is not None:
            self.recorder.marker(kind, text)

    async def _enter(self, participant: Participant) -> None:
        self._mark("join", participant.claims.name)
        self.broadcast(
            protocol.ParticipantJoined(participant.info(self.floor)), exclude=participant
        )
        await self.journal.joined(participant)
        if not self.live:
            self.live = True
            await self.journal.went_live()
        self._update_subscriptions()

    async def _resume(self, participant: Participant, connection: Connection) -> None:
        """The same subject joins again: a reconnect, or the same person in a new window."""
        old = participant.connection
        participant.connection = connection
        if old is not None and old is not connection:
            old.push(protocol.error("replaced"))
            old.close()
        if participant.grace_timer is not None:
            participant.grace_timer.cancel()
            participant.grace_timer = None
        await self._drop_media(participant)
        if participant.state == "reconnecting":
            participant.state = "present"
            await self.journal.resumed(participant)
        self._welcome(participant, resumed=True)
        self._updated(participant)

    async def disconnected(self, participant: Participant, connection: Connection) -> None:
        """The participant's WebSocket closed: hold its place for the grace period."""
        if participant.connection is not connection or participant.id not in self.participants:
            return
        participant.connection = None
        if participant.state == "waiting":
            await self._remove(participant, "left", AttendanceOutcome.LEFT)
            return
        self._interrupted(participant)

    def _interrupted(self, participant: Participant) -> None:
        if participant.state == "reconnecting" or participant.id not in self.participants:
            return
        participant.state = "reconnecting"
        participant.interruptions += 1
        self._mark("interruption", participant.claims.name)
        self._spawn(self.journal.interrupted(participant))
        self._updated(participant)
        participant.grace_timer = asyncio.get_running_loop().call_later(
            self.media.reconnect_grace, self._grace_expired, participant
        )

    def _grace_expired(self, participant: Participant) -> None:
        participant.grace_timer = None
        if participant.state == "reconnecting" and participant.id in self.participants:
            self._spawn(self._remove(participant, "timeout", AttendanceOutcome.DROPPED))

    async def leave(self, participant: Participant) -> None:
        await self._remove(participant, "left", AttendanceOutcome.LEFT)

    async def _remove(
        self,
        participant: Participant,
        reason: Literal["left", "removed", "timeout", "sent_back"],
        outcome: AttendanceOutcome,
    ) -> None:
        if self.participants.pop(participant.id, None) is None:
            return
        was_waiting = participant.state == "waiting"
        if participant.grace_timer is not None:
            participant.grace_timer.cancel()
        await self._drop_media(participant)
        if self.floor == participant.id:
            self.floor = None
            self.broadcast(protocol.Floor(None))
        if self.active_speaker == participant.id:
            self.active_speaker = None
            self.broadcast(protocol.ActiveSpeaker(None))
        if was_waiting:
            self._send_waiting_list()
        else:
            self._mark(reason, participant.claims.name)
            self.broadcast(protocol.ParticipantLeft(participant.id, reason))
            await self.journal.left(participant, outcome)

    async def _drop_media(self, participant: Participant) -> None:
        publish, subscribe = participant.publish, participant.subscribe
        participant.publish = participant.subscribe = None
        if publish is not None and self.recorder is not None:
            for source in publish.sources.values():
                self.recorder.remove_source(source)
        if publish is not None:
            await publish.close()
        if subscribe is not None:
            await subscribe.close()
        if publish is not None:
            self._update_subscriptions()

    # ---- media -------------------------------------------------------------------------------

    def _require_present(self, participant: Participant, ref: str) -> None:
        if participant.state == "waiting":
            raise protocol.ProtocolError("not_admitted", ref=ref)

    async def publish(self, participant: Participant, message: protocol.PublishOffer) -> None:
        self._require_present(participant, message.type)
        PublishPeer.check_offer(message.sdp)
        if participant.publish is not None:
            await participant.publish.close()
            participant.publish = None
        peer = PublishPeer(
            participant.id,
            self._configuration,
            self.media.candidate_policy,
            on_source=lambda source: self._source_added(participant, source),
            bitrate_cap_bps=self._bitrate_cap,
            on_failed=lambda: self._interrupted(participant),
        )
        participant.publish = peer
        participant.audio_only = message.audio_only
        answer = await peer.answer(message.sdp)
        participant.send(protocol.PublishAnswer(answer))
        if participant.state == "reconnecting":
            participant.state = "present"
            if participant.grace_timer is not None:
                participant.grace_timer.cancel()
                participant.grace_timer = None
            self._spawn(self.journal.resumed(participant))
        if participant.muted_by_chair and (audio := participant.source("audio")) is not None:
            audio.enabled = False
        self._updated(participant)

    def _source_added(self, participant: Participant, source: Source) -> None:
        if participant.muted_by_chair and source.kind == "audio":
            source.enabled = False

        async def when_ready() -> None:
            await source.tap.started.wait()
            if self.recorder is not None and participant.publish is not None:
                sink = self.recorder.add_source(
                    source, participant.claims.name, participant.claims.subject
                )
                source.sinks.append(sink)
            self._update_subscriptions()

        self._spawn(when_ready())

    def _bitrate_cap(self, source: Source) -> int:
        cap = self.policy.quality.video_kbps * 1000
        if self.media.shedding():
            cap = min(cap, SHED_VIDEO_BPS) if cap else SHED_VIDEO_BPS
        rembs = [
            remb
            for sink in source.sinks
            if (remb := getattr(sink, "remb_bps", None)) is not None and remb > 0
        ]
        if source.layered:
            # Each subscriber takes the layers its own link carries: the publisher sends for
            # the best link, or the profile's rate when the recorder takes it, not the weakest.
            recorded = self.recorder is not None and self.recorder.active
            best = cap if recorded and cap else max(rembs, default=cap or 150_000)
            return min(cap, best) if cap else best
        return min([cap, *rembs]) if cap else min(rembs, default=150_000)

    def _update_subscriptions(self) -> None:
        if self.ended:
            return
        present = [p for p in self.present() if p.publish is not None or p.connection is not None]
        for subscriber in present:
            if subscriber.connection is None or subscriber.state != "present":
                continue
            wanted = [
                source
                for other in present
                if other is not subscriber
                for source in other.sources
                if source.tap.started.is_set()
            ]
            if subscriber.subscribe is None:
                if not wanted:
                    continue
                subscriber.subscribe = SubscribePeer(
                    self._configuration,
                    self.media.candidate_policy,
                    send=subscriber.send,
                    on_failed=functools.partial(self._interrupted, subscriber),
                )
            subscriber.subscribe.want(wanted)

    async def subscribe_answer(
        self, participant: Participant, message: protocol.SubscribeAnswer
    ) -> None:
        if participant.subscribe is not None:
            participant.subscribe.answered(message)

    async def candidate(self, participant: Participant, message: protocol.Candidate) -> None:
        if message.pc == "publish":
            if participant.publish is not None:
                await participant.publish.add_candidate(message)
        elif participant.subscribe is not None:
            await participant.subscribe.add_candidate(message)

    async def ice_restart(self, participant: Participant) -> None:
        """aiortc cannot restart ICE in place: both connections are replaced. The participant
        keeps its place; the client sends a new publish offer and gets a new subscribe offer."""
        self._require_present(participant, "ice_restart")
        await self._drop_media(participant)
        self._interrupted(participant)

    # ---- what participants say about themselves ------------------------------------------

    def mute(self, participant: Participant, message: protocol.Mute) -> None:
        if participant.muted_by_chair and not message.audio:
            participant.send(protocol.error("muted_by_chair", ref=message.type))
        else:
            participant.audio_muted = message.audio
        participant.video_muted = message.video
        self._updated(participant)

    def raise_hand(self, participant: Participant, raised: bool) -> None:
        participant.hand_raised = raised
        self._updated(participant)

    # ---- the chair ----------------------------------------------------------------------------

    def _target(self, participant_id: str | None, ref: str) -> Participant:
        target = self.participants.get(participant_id or "")
        if target is None:
            raise protocol.ProtocolError("unknown_participant", ref=ref)
        return target

    @staticmethod
    def _require(actor: Participant, action: str) -> None:
        """The permissions table says which room roles may act on others."""
        if not room_allows(actor.claims.role, action) or actor.state == "waiting":
            raise protocol.ProtocolError("not_allowed", ref=action)

    async def admit(self, actor: Participant, message: protocol.Admit) -> None:
        self._require(actor, message.type)
        if message.all:
            targets = self.waiting()
        else:
            target = self._target(message.participant_id, message.type)
            targets = [target] if target.state == "waiting" else []
        for target in targets:
            target.state = "present"
            self.removed_subjects.discard(target.claims.subject)
            target.send(protocol.Admitted())
            self._welcome(target, resumed=False)
            await self._enter(target)
            await self.journal.chair_action(actor, "admit", target)
        self._send_waiting_list()

    async def send_back(self, actor: Participant, message: protocol.SendBack) -> None:
        self._require(actor, message.type)
        target = self._target(message.participant_id, message.type)
        if target.state == "waiting" or room_allows(target.claims.role, "skip_waiting_room"):
            raise protocol.ProtocolError("not_allowed", ref=message.type)
        await self._drop_media(target)
        target.state = "waiting"
        if self.floor == target.id:
            self.floor = None
            self.broadcast(protocol.Floor(None))
        self.broadcast(protocol.ParticipantLeft(target.id, "sent_back"))
        target.send(protocol.Waiting())
        self._send_waiting_list()
        await self.journal.chair_action(actor, "send_back", target)

    async def mute_participant(self, actor: Participant, message: protocol.MuteParticipant) -> None:
        self._require(actor, message.type)
        target = self._target(message.participant_id, message.type)
        target.muted_by_chair = True
        target.hand_raised = False
        if (audio := target.source("audio")) is not None:
            audio.enabled = False  # enforced here, whatever the client does
        target.send(protocol.MutedByChair())
        self._mark("mute", target.claims.name)
        if self.floor == target.id:
            self.floor = None
            self.broadcast(protocol.Floor(None))
        self._updated(target)
        await self.journal.chair_action(actor, "mute", target)

    async def give_floor(self, actor: Participant, message: protocol.GiveFloor) -> None:
        self._require(actor, message.type)
        target = (
            None
            if message.participant_id is None
            else self._target(message.participant_id, message.type)
        )
        self.floor = target.id if target else None
        self._mark("floor", target.claims.name if target else "")
        if target is not None:
            target.muted_by_chair = False
            target.hand_raised = False
            if (audio := target.source("audio")) is not None:
                audio.enabled = True
            self._updated(target)
        self.broadcast(protocol.Floor(self.floor))
        await self.journal.chair_action(actor, "give_floor", target)

    async def remove(self, actor: Participant, message: protocol.RemoveParticipant) -> None:
        self._require(actor, message.type)
        target = self._target(message.participant_id, message.type)
        if target is actor:
            raise protocol.ProtocolError("not_allowed", ref=message.type)
        self.removed_subjects.add(target.claims.subject)
        target.send(protocol.Removed())
        connection = target.connection
        await self._remove(target, "removed", AttendanceOutcome.REMOVED)
        if connection is not None:
            connection.close()
        await self.journal.chair_action(actor, "remove", target)

    async def recording_control(
        self, actor: Participant, message: protocol.RecordingControl
    ) -> None:
        self._require(actor, message.type)
        if self.policy.recording != "chair" or self.recorder is None:
            raise protocol.ProtocolError("recording_not_allowed", ref=message.type)
        if message.action == "start":
            self.recorder.start(actor.claims.subject)
        else:
            self.recorder.pause(actor.claims.subject)
        await self.journal.chair_action(actor, f"recording_{message.action}", None)

    async def end(self, actor: Participant | None) -> None:
        if actor is not None:
            self._require(actor, "end_meeting")
        if self.ended:
            return
        self.ended = True
        everyone = list(self.participants.values())
        for p in everyone:
            p.send(protocol.MeetingEnded())
        await self.journal.ended(actor)
        for p in everyone:
            connection = p.connection
            await self._remove(p, "left", AttendanceOutcome.LEFT)
            if connection is not None:
                connection.close()
        await self.close()

    # ---- dispatch ---------------------------------------------------------------------------

    async def handle(self, participant: Participant, message: protocol.ClientMessage) -> None:
        match message:
            case protocol.PublishOffer():
                await self.publish(participant, message)
            case protocol.SubscribeAnswer():
                await self.subscribe_answer(participant, message)
            case protocol.Candidate():
                await self.candidate(participant, message)
            case protocol.Mute():
                self.mute(participant, message)
            case protocol.RaiseHand():
                self.raise_hand(participant, message.raised)
            case protocol.IceRestart():
                await self.ice_restart(participant)
            case protocol.Ping():
                participant.send(protocol.Pong())
            case protocol.Leave():
                await self.leave(participant)
                if participant.connection is not None:
                    participant.connection.close()
            case protocol.Admit():
                await self.admit(participant, message)
            case protocol.SendBack():
                await self.send_back(participant, message)
            case protocol.MuteParticipant():
                await self.mute_participant(participant, message)
            case protocol.RemoveParticipant():
                await self.remove(participant, message)
            case protocol.GiveFloor():
                await self.give_floor(participant, message)
            case protocol.EndMeeting():
                await self.end(participant)
            case protocol.RecordingControl():
                await self.recording_control(participant, message)
            case protocol.Hello():
                raise protocol.ProtocolError("bad_field", "already joined", ref="hello")

    # ---- active speaker -------------------------------------------------------------------

    async def _speaker_loop(self) -> None:
        while True:
            await asyncio.sleep(SPEAKER_TICK)
            now = time.monotonic()
            loudest: tuple[float, str] | None = None
            for p in self.present():
                audio = p.source("audio")
                if audio is None or p.audio_muted:
                    continue
                level = audio.loudness(now)
                if (
                    level is not None
                    and level >= SPEAKER_THRESHOLD
                    and (loudest is None or level > loudest[0])
                ):
                    loudest = (level, p.id)
            self._speaker_tick(loudest[1] if loudest else None, now)

    def _speaker_tick(self, loudest: str | None, now: float) -> None:
        if loudest is None or loudest == self.active_speaker:
            self._candidate = None
            return
        if self.active_speaker is None:
            self._set_speaker(loudest)
            return
        if self._candidate is None or self._candidate[0] != loudest:
            self._candidate = (loudest, now)
        elif now - self._candidate[1] >= SPEAKER_HOLD:
            self._set_speaker(loudest)

    def _set_speaker(self, participant_id: str) -> None:
        self._candidate = None
        self.active_speaker = participant_id
        self.broadcast(protocol.ActiveSpeaker(participant_id))

    # ---- life ----------------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coroutine
            except Exception:
                log.exception("room %s background task failed", self.policy.meeting_id)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.ended = True
        self._speaker_task.cancel()
        if self.recorder is not None:
            try:
                await self.recorder.stop()
            except Exception:
                log.exception(
                    "meeting %s: the recording did not close cleanly", self.policy.meeting_id
                )
        with contextlib.suppress(asyncio.CancelledError):
            await self._speaker_task
        for p in list(self.participants.values()):
            if p.grace_timer is not None:
                p.grace_timer.cancel()
            await self._drop_media(p)
            if p.connection is not None:
                p.connection.close()
        self.participants.clear()
        # Background work is the record (an interruption's attendance, a resumption): let it
        # finish rather than cancel it, within a bound.
        tasks = list(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_WAIT_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._on_closed is not None:
            await self._on_closed(self)
