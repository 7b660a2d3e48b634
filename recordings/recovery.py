"""After a crash: files left "recording" are recovered, hashed and marked interrupted.

The interrupted file is kept exactly as the crash left it (it is evidence) and hashed as is; a
playable copy with proper index and duration is made next to it by remuxing the packets that
were written (again no decoding). A new signed manifest records both and the interruption.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import av
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings import catalog
from recordings.store import RecordingStore, UnsafePath
from recordings.writer import CONTAINER_OPTIONS
from sessions.enums import RecordingKind, RecordingStatus
from sessions.models import Recording

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Remuxed:
    video_frames: int
    audio_frames: int
    duration_ms: int


def remux(store: RecordingStore, source_relative: str, target: Any) -> Remuxed:
    """Copy every readable packet of a (possibly truncated) WebM into a new file."""
    video = audio = 0
    last_ms = 0
    with av.open(str(store.resolve(source_relative))) as source:
        out = av.open(target, mode="w", format="webm", container_options=CONTAINER_OPTIONS)
        mapping: dict[int, Any] = {}
        for stream in source.streams:
            if stream.type in ("video", "audio"):
                mapping[stream.index] = out.add_stream_from_template(stream)
        try:
            for packet in source.demux():
                if packet.size == 0 or packet.stream.index not in mapping or packet.pts is None:
                    continue
                kind = packet.stream.type
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
                if kind == "video":
                    video += 1
                else:
                    audio += 1
                if packet.time_base is not None:
                    last_ms = max(last_ms, int(packet.pts * packet.time_base * 1000))
        except (av.FFmpegError, EOFError) as exc:
            log.info(
                "%s ends in a damaged cluster (%s); kept what precedes it", source_relative, exc
            )
        finally:
            out.close()
            target.close()
    return Remuxed(video, audio, last_ms)


async def recover(
    db_factory: async_sessionmaker[AsyncSession], store: RecordingStore, now: datetime
) -> list[int]:
    """Recover every file a previous run left open; returns the meetings concerned."""
    async with db_factory() as db:
        open_rows = list(
            await db.scalars(select(Recording).where(Recording.status == RecordingStatus.RECORDING))
        )
    meetings: dict[int, list[dict[str, Any]]] = {}
    for row in open_rows:
        gap = {
            "from": None,
            "to": now.isoformat(),
            "reason": "the server stopped during the recording",
        }
        try:
            path = store.resolve(row.relative_path)
            exists = path.exists()
        except UnsafePath:
            exists = False
        if not exists:
            async with db_factory() as db, db.begin():
                await catalog.finish_row(
                    db,
                    row.id,
                    status=RecordingStatus.FAILED,
                    sha256="",
                    size=0,
                    at=now,
                    video_frames=0,
                    audio_frames=0,
                    duration_ms=0,
                    note="the file is missing after the server stopped",
                )
            meetings.setdefault(row.meeting_id, []).append(gap)
            continue
        digest, size = await asyncio.to_thread(store.hash, row.relative_path)
        directory, _, name = row.relative_path.rpartition("/")
        stem = name.removesuffix(".webm")
        recovered_relative, handle = store.create(directory, f"{stem}-recovered", ".webm")
        try:
            result = await asyncio.to_thread(remux, store, row.relative_path, handle)
            copy_digest, copy_size = await asyncio.to_thread(store.hash, recovered_relative)
        except (av.FFmpegError, OSError) as exc:
            log.warning("could not make a playable copy of %s: %s", row.relative_path, exc)
            result, copy_digest, copy_size = Remuxed(0, 0, 0), "", 0
        # The file ends where its last packet does, not when the server came back.
        last_packet = row.started_at + timedelta(milliseconds=result.duration_ms)
        gap["from"] = last_packet.isoformat()
        async with db_factory() as db, db.begin():
            await catalog.finish_row(
                db,
                row.id,
                status=RecordingStatus.INTERRUPTED,
                sha256=digest,
                size=size,
                at=last_packet,
                video_frames=result.video_frames,
                audio_frames=result.audio_frames,
                duration_ms=result.duration_ms,
                note="interrupted: the server stopped; recovered up to that moment",
            )
            copy_id = await catalog.add_row(
                db,
                meeting_id=row.meeting_id,
                relative_path=recovered_relative,
                label=row.participant_label,
                subject=row.participant_subject,
                at=row.started_at,
                kind=RecordingKind.RECOVERED,
                recovered_from_id=row.id,
            )
            await catalog.finish_row(
                db,
                copy_id,
                status=RecordingStatus.COMPLETE,
                sha256=copy_digest,
                size=copy_size,
                at=last_packet,
                video_frames=result.video_frames,
                audio_frames=result.audio_frames,
                duration_ms=result.duration_ms,
                note=f"playable copy of the interrupted file #{row.id}",
            )
        meetings.setdefault(row.meeting_id, []).append(gap)
    for meeting_id, gaps in meetings.items():
        manifest_path = await catalog.write_manifest(
            db_factory,
            store,
            meeting_id,
            at=now,
            reason="recovered after the server stopped",
            gaps=gaps,
        )
        await catalog.log(
            db_factory,
            now,
            "recording.recovered",
            meeting_id,
            {"manifest": manifest_path, "files": len(gaps)},
        )
    return list(meetings)
