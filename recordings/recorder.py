"""The recorder: a room member that subscribes to every source and writes one WebM file per
participant, muxed from the forwarded encoded frames (never decoded, never re-encoded).

It satisfies the small ``RoomRecorder`` protocol of ``signaling.room`` structurally: the room
hands it sources and markers; it gives back packet sinks. Files are written as they go (see
``recordings.writer``); when the storage fails the meeting goes on: the recorder reports the
problem, notes the gap in the manifest, and tries again every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings import catalog
from recordings.frames import Frame, Vp8Assembler, vp8_size
from recordings.store import RecordingStore, slug
from recordings.writer import Segment, WriterThread
from sessions import notifications
from sessions.clock import Clock
from sessions.enums import NotificationKind, RecordingStatus, Role
from sessions.errors import N_
from sessions.models import Meeting, UserRole

log = logging.getLogger(__name__)
AUDIO_WAIT_FOR_VIDEO = 4.0  # seconds of audio held back waiting for the first video keyframe
RETRY_SECONDS = 5.0


class TrackSource(Protocol):
    """What the recorder needs of a published track (``signaling.media.source.Source`` fits)."""

    track_id: str
    kind: str
    participant_id: str
    clock_rate: int

    def request_keyframe(self) -> None: ...


class RtpLike(Protocol):
    sequence_number: int
    timestamp: int
    marker: int
    payload: bytes


@dataclass
class Track:
    kind: str
    source: TrackSource
    assembler: Vp8Assembler | None
    base: tuple[int, int] | None = None  # (first RTP timestamp, pts it maps to)


@dataclass
class Handle:
    """One open file; the segment object itself lives on the writer thread."""

    relative: str
    row_id: asyncio.Future[int]
    opened_at: float
    started: datetime
    segment: Segment | None = None
    failed: bool = False


@dataclass
class Person:
    subject: str
    name: str
    tracks: dict[str, Track] = field(default_factory=dict)
    handle: Handle | None = None
    pending_audio: list[tuple[Frame, float]] = field(default_factory=list)
    first_audio_at: float | None = None
    index: int = 0


class RecorderSink:
    """The packet sink the room adds to a source for the recorder."""

    def __init__(self, recorder: MeetingRecorder, person: Person, track: Track) -> None:
        self._recorder = recorder
        self._person = person
        self._track = track

    def deliver(
        self,
        packet: RtpLike,
        keyframe: bool,
        abs_send_time: bytes,
        audio_level: int | None,
        layer: object | None,
    ) -> None:
        # Every layer: the recording is the meeting as the publisher sent it.
        self._recorder.on_packet(self._person, self._track, packet)

    def adapt(self) -> None:
        pass  # the recorder takes the top layer whatever the links

    @property
    def waiting_for_keyframe(self) -> bool:
        assembler = self._track.assembler
        return self._recorder.active and assembler is not None and assembler.waiting_for_keyframe


class MeetingRecorder:
    def __init__(
        self,
        *,
        meeting_id: int,
        store: RecordingStore,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        on_state: Callable[[bool, str], None],
        active: bool,
    ) -> None:
        self.meeting_id = meeting_id
        self.store = store
        self._db = db
        self.clock = clock
        self._on_state = on_state
        self.state = "active" if active else "idle"
        self.people: dict[str, Person] = {}
        self.gaps: list[dict[str, Any]] = []
        self.markers: list[dict[str, Any]] = []
        self.directory = ""
        self._unsigned = False
        self._signer: asyncio.Future[None] | None = None
        self.reference = ""
        self.case_reference: str | None = None
        self.title = ""
        self.started = clock.now()
        self._writer = WriterThread(str(meeting_id), self._write_failed)
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recovery: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        async with self._db() as db:
            self.reference, self.case_reference, self.title = await catalog.meeting_refs(
                db, self.meeting_id
            )
        self.directory = self.store.meeting_dir(self.case_reference, self.reference)
        if self.state == "active":
            self._log("recording.start", {"by": "policy"})

    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def detail(self) -> str:
        return {"paused": "paused", "failed": "storage_error"}.get(self.state, "")

    def _announce(self) -> None:
        self._on_state(self.active, self.detail)

    def _ask_keyframes(self) -> None:
        """Files start on a keyframe: ask every publisher for one now."""
        for person in self.people.values():
            video = person.tracks.get("video")
            if video is not None:
                video.source.request_keyframe()

    # ---- what the room tells us ----------------------------------------------------------

    def add_source(self, source: TrackSource, name: str, subject: str) -> RecorderSink:
        person = self.people.get(subject)
        if person is None:
            person = self.people[subject] = Person(subject=subject, name=name)
        if person.handle is not None:
            self._close(person, "new publication")  # the stream set changed
        track = Track(source.kind, source, Vp8Assembler() if source.kind == "video" else None)
        person.tracks[source.kind] = track
        if source.kind == "video" and self.active:
            source.request_keyframe()
        return RecorderSink(self, person, track)

    def remove_source(self, source: TrackSource) -> None:
        for person in self.people.values():
            track = person.tracks.get(source.kind)
            if track is not None and track.source is source:
                del person.tracks[source.kind]
                if person.handle is not None:
                    self._close(person, "left")
                person.pending_audio.clear()

    def marker(self, kind: str, text: str) -> None:
        self.markers.append({"at": self.clock.now().isoformat(), "kind": kind, "text": text})

    def start(self, by: str) -> None:
        if self.state in ("active", "stopped"):
            return
        previous = self.state
        self.state = "active"
        if previous == "paused":
            self._end_gap()
        self._log("recording.start" if previous == "idle" else "recording.resume", {"by": by})
        self._ask_keyframes()
        self._announce()

    def pause(self, by: str) -> None:
        if self.state != "active":
            return
        self.state = "paused"
        for person in self.people.values():
            self._close(person, "paused")
        self._begin_gap("paused by the chair")
        self._log("recording.pause", {"by": by})
        self._announce()

    # ---- packets (event loop, hot) -----------------------------------------------------------

    def on_packet(self, person: Person, track: Track, packet: RtpLike) -> None:
        if not self.active:
            return
        if track.assembler is not None:
            frame = track.assembler.push(
                packet.sequence_number, packet.timestamp, packet.marker, packet.payload
            )
            if frame is None:
                return
            if person.handle is None:
                size = vp8_size(frame.data) if frame.keyframe else None
                if size is None:
                    return
                self._open(person, size)
            self._write(person, track, frame)
            return
        frame = Frame(packet.payload, packet.timestamp, True)
        now = time.monotonic()
        if person.handle is None:
            waits = "video" in person.tracks
            person.first_audio_at = person.first_audio_at or now
            if waits and now - person.first_audio_at < AUDIO_WAIT_FOR_VIDEO:
                person.pending_audio.append((frame, now))
                return
            self._open(person, None)
        self._write(person, track, frame)

    def _pts(self, person: Person, track: Track, frame: Frame, arrival: float) -> int:
        handle = person.handle
        assert handle is not None
        if track.base is None:
            offset = max(0, int((arrival - handle.opened_at) * track.source.clock_rate))
            track.base = (frame.timestamp, offset)
        first, offset = track.base
        return ((frame.timestamp - first) & 0xFFFFFFFF) + offset

    def _write(
        self, person: Person, track: Track, frame: Frame, arrival: float | None = None
    ) -> None:
        handle = person.handle
        if handle is None or handle.failed:
            return
        pts = self._pts(person, track, frame, arrival if arrival is not None else time.monotonic())
        kind = track.kind

        def job() -> None:
            if handle.segment is not None:
                handle.segment.write(kind, frame.data, pts, frame.keyframe)

        if not self._writer.submit(job, handle):
            self._failed(handle, "the disk does not keep up")

    # ---- files --------------------------------------------------------------------------------

    def _open(self, person: Person, video_size: tuple[int, int] | None) -> None:
        person.index += 1
        stem = f"{slug(person.name)}-{person.index:02d}"
        try:
            relative, fh = self.store.create(self.directory, stem, ".webm")
        except OSError as exc:
            self._storage_failed(f"{exc.strerror or exc}")
            return
        started = self.clock.now()
        handle = Handle(relative, self._loop.create_future(), time.monotonic(), started)
        person.handle = handle
        for track in person.tracks.values():
            track.base = None
        audio = "audio" in person.tracks

        def open_job() -> None:
            handle.segment = Segment(fh, video_size, audio)

        self._writer.submit(open_job, handle)
        self._spawn(self._add_row(person, handle))
        pending, person.pending_audio = person.pending_audio, []
        audio_track = person.tracks.get("audio")
        if audio_track is not None:
            for frame, arrival in pending:
                self._write(person, audio_track, frame, arrival)

    async def _add_row(self, person: Person, handle: Handle) -> None:
        async with self._db() as db, db.begin():
            row_id = await catalog.add_row(
                db,
                meeting_id=self.meeting_id,
                relative_path=handle.relative,
                label=person.name,
                subject=person.subject,
                at=handle.started,
            )
        handle.row_id.set_result(row_id)

    def _close(self, person: Person, why: str) -> None:
        handle, person.handle = person.handle, None
        person.first_audio_at = None
        if handle is None:
            return
        store = self.store

        def close_job() -> None:
            segment = handle.segment
            if segment is None:
                return
            if handle.failed:
                segment.abandon()
            else:
                segment.close()
            digest, size = store.hash(handle.relative)
            stats = segment.stats
            self._loop.call_soon_threadsafe(
                self._closed,
                handle,
                digest,
                size,
                stats.video_frames,
                stats.audio_frames,
                stats.last_pts_ms,
                why,
            )

        self._writer.submit(close_job, handle)

    def _closed(
        self,
        handle: Handle,
        digest: str,
        size: int,
        video: int,
        audio: int,
        duration: int,
        why: str,
    ) -> None:
        status = RecordingStatus.INTERRUPTED if handle.failed else RecordingStatus.COMPLETE
        note = f"storage error; {why}" if handle.failed else None

        async def finish() -> None:
            row_id = await handle.row_id
            async with self._db() as db, db.begin():
                await catalog.finish_row(
                    db,
                    row_id,
                    status=status,
                    sha256=digest,
                    size=size,
                    at=self.clock.now(),
                    video_frames=video,
                    audio_frames=audio,
                    duration_ms=duration,
                    note=note,
                )
            if why != "meeting ended":  # the meeting's last manifest follows at once
                self._cover()

        self._spawn(finish())

    # ---- failures -----------------------------------------------------------------------------

    def _write_failed(self, owner: object, exc: BaseException) -> None:
        """Called on the writer thread."""
        if isinstance(owner, Handle):
            self._loop.call_soon_threadsafe(self._failed, owner, str(exc))

    def _failed(self, handle: Handle, reason: str) -> None:
        handle.failed = True
        self._storage_failed(reason)

    def _storage_failed(self, reason: str) -> None:
        if self.state != "active":
            return
        self.state = "failed"
        for person in self.people.values():
            if person.handle is not None:
                person.handle.failed = True
                self._close(person, "storage error")
        self._begin_gap(f"storage error: {reason}")
        self._log("recording.failure", {"reason": reason[:200]})
        self._spawn(self._alert(reason))
        self._announce()
        self._recovery = asyncio.create_task(self._recover())

    def _probe(self) -> None:
        """Can the storage take a file again? (Raises OSError if not.)"""
        relative, fh = self.store.create(self.directory, ".write-probe", ".tmp")
        with fh:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
        os.unlink(self.store.resolve(relative))

    async def _recover(self) -> None:
        """Probe the storage every few seconds, on a thread: a sick disk can block for long."""
        while self.state == "failed":
            await asyncio.sleep(RETRY_SECONDS)
            try:
                await asyncio.to_thread(self._probe)
            except OSError:
                continue
            if self.state != "failed":
                return  # stopped meanwhile
            self.state = "active"
            self._end_gap()
            self._log("recording.resume", {"by": "storage recovered"})
            self._ask_keyframes()
            self._announce()

    async def _alert(self, reason: str) -> None:
        """A notice on the dashboards of the officers and of the meeting's chair: the recording
        has a gap (the chair's room page shows it too, through ``recording``)."""
        async with self._db() as db, db.begin():
            recipients = set(
                await db.scalars(
                    select(UserRole.user_id).where(UserRole.role.in_([Role.OFFICER, Role.ADMIN]))
                )
            )
            chair_id = await db.scalar(
                select(Meeting.chair_id).where(Meeting.id == self.meeting_id)
            )
            if chair_id is not None:
                recipients.add(chair_id)
            for user_id in recipients:
                await notifications.notify(
                    db,
                    key=f"recording-failure:{self.meeting_id}:{len(self.gaps)}:user:{user_id}",
                    kind=NotificationKind.TASK,
                    message=N_(
                        "The recording of %(title)s was interrupted (the storage reported: "
                        "%(reason)s). The system keeps retrying."
                    ),
                    params={"title": self.title, "reason": reason[:200]},
                    at=self.clock.now(),
                    user_id=user_id,
                    meeting_id=self.meeting_id,
                )

    def _begin_gap(self, reason: str) -> None:
        self.gaps.append({"from": self.clock.now().isoformat(), "to": None, "reason": reason})

    def _end_gap(self) -> None:
        if self.gaps and self.gaps[-1]["to"] is None:
            self.gaps[-1]["to"] = self.clock.now().isoformat()

    # ---- end ----------------------------------------------------------------------------------

    async def stop(self) -> str | None:
        """Close every file, hash them, and write the signed manifest; returns its path."""
        if self.state == "stopped":
            return None
        was = self.state
        self.state = "stopped"
        if self._recovery is not None:
            self._recovery.cancel()
        for person in self.people.values():
            self._close(person, "meeting ended")
        self._end_gap()
        await asyncio.to_thread(self._writer.finish)
        await asyncio.sleep(0)  # let the threads' callbacks reach the loop
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if was == "idle" and not self.people:
            return None
        path = await self._sign("meeting ended")
        if path is None:
            return None
        self._log("recording.stop", {"manifest": path})
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return path

    async def _sign(self, reason: str) -> str | None:
        """A new signed manifest of everything filed for the meeting so far."""
        try:
            return await catalog.write_manifest(
                self._db,
                self.store,
                self.meeting_id,
                at=self.clock.now(),
                reason=reason,
                gaps=self.gaps,
                markers=self.markers,
                directory=self.directory,
            )
        except OSError as exc:
            log.error("could not write the manifest of meeting %s: %s", self.meeting_id, exc)
            return None

    def _cover(self) -> None:
        """A file closed during the meeting: sign a manifest covering it now, so it cannot be
        changed unnoticed while the meeting goes on. Files closing together (a pause, a storage
        failure) share one manifest: one signing runs at a time and one more follows it."""
        self._unsigned = True
        if self._signer is None or self._signer.done():
            self._signer = asyncio.ensure_future(self._sign_while_unsigned())
            self._tasks.add(self._signer)
            self._signer.add_done_callback(self._done)

    async def _sign_while_unsigned(self) -> None:
        while self._unsigned and self.state != "stopped":
            self._unsigned = False
            await self._sign("file closed")

    def _log(self, action: str, details: dict[str, Any]) -> None:
        self.marker(action.removeprefix("recording."), str(details.get("by", "")))
        self._spawn(catalog.log(self._db, self.clock.now(), action, self.meeting_id, details))

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording bookkeeping failed: %s", task.exception())
