"""WebM files muxed from encoded frames — no decoding, no encoding — on a writer thread.

Streams are templates (``libvpx``/``libopus`` contexts that are never fed), so the container
header carries what players need (the OpusHead above all); each frame is muxed as it arrives with
packets flushed to the file, so a killed server leaves a file that plays up to its last second.
The event loop only queues frames; disk time, and disk errors, stay on the thread.
"""

from __future__ import annotations

import contextlib
import fractions
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import av

log = logging.getLogger(__name__)
VIDEO_TB = fractions.Fraction(1, 90000)
AUDIO_TB = fractions.Fraction(1, 48000)
QUEUE_LIMIT = 4000  # about 20 s of one participant's frames
CONTAINER_OPTIONS = {"cluster_time_limit": "1000", "flush_packets": "1"}


@dataclass
class SegmentStats:
    video_frames: int = 0
    audio_frames: int = 0
    last_pts_ms: int = 0


class Segment:
    """One participant's file: opened with its streams, written frame by frame, closed once."""

    def __init__(self, fh: BinaryIO, video_size: tuple[int, int] | None, audio: bool) -> None:
        self.fh = fh
        self.stats = SegmentStats()
        self._container: Any = av.open(
            fh, mode="w", format="webm", container_options=CONTAINER_OPTIONS
        )
        self.video: Any = None
        self.audio: Any = None
        if video_size is not None:
            self.video = self._container.add_stream("libvpx", rate=30)
            self.video.width, self.video.height = video_size
            self.video.pix_fmt = "yuv420p"
            self.video.time_base = VIDEO_TB
        if audio:
            self.audio = self._container.add_stream("libopus", rate=48000)
            self.audio.time_base = AUDIO_TB
        self._last: dict[str, int] = {}

    def write(self, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        stream = self.video if kind == "video" else self.audio
        if stream is None:
            return
        last = self._last.get(kind)
        if last is not None and pts <= last:
            pts = last + 1  # dts must increase; a late frame keeps its order
        self._last[kind] = pts
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = VIDEO_TB if kind == "video" else AUDIO_TB
        packet.is_keyframe = keyframe
        packet.stream = stream
        self._container.mux(packet)
        if kind == "video":
            self.stats.video_frames += 1
            self.stats.last_pts_ms = max(self.stats.last_pts_ms, pts // 90)
        else:
            self.stats.audio_frames += 1
            self.stats.last_pts_ms = max(self.stats.last_pts_ms, pts // 48)

    def close(self) -> None:
        try:
            self._container.close()
        finally:
            self.fh.close()

    def abandon(self) -> None:
        """After a write error: release what can be released; the file keeps what it has."""
        with contextlib.suppress(Exception):
            self._container.close()
        with contextlib.suppress(Exception):
            self.fh.close()


class WriterThread:
    """Runs every file operation of one meeting's recording, in order, off the event loop."""

    def __init__(self, name: str, on_error: Callable[[object, BaseException], None]) -> None:
        self._queue: queue.Queue[tuple[Callable[[], Any], object] | None] = queue.Queue(QUEUE_LIMIT)
        self._on_error = on_error
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"recorder-{name}", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any], owner: object) -> bool:
        """Queue a job; False (and counted) if the disk cannot keep up."""
        try:
            self._queue.put_nowait((job, owner))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, owner = item
            try:
                job()
            except Exception as exc:  # every failure is reported; the thread goes on
                log.warning("recording write failed: %s", exc)
                self._on_error(owner, exc)

    def finish(self, timeout: float = 60.0) -> None:
        """Let queued work complete, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)
