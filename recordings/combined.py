"""The combined-file job: one grid video with mixed sound, made in the background from a
meeting's complete participant files (``recordings.combine`` does the decoding and encoding on a
thread), with its progress in the catalog and the meeting's signed manifest updated after."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings import catalog
from recordings.combine import Input, combine
from recordings.store import RecordingStore
from sessions.clock import Clock
from sessions.enums import RecordingKind, RecordingStatus
from sessions.errors import N_, NotFound
from sessions.models import Meeting, Recording

log = logging.getLogger(__name__)
LABEL = N_("Combined file")


@dataclass(frozen=True)
class CombineJob:
    meeting_id: int
    row_id: int
    relative: str
    inputs: tuple[Input, ...]
    handle: BinaryIO


async def prepare(db: AsyncSession, store: RecordingStore, meeting: Meeting) -> CombineJob:
    """The catalog row of a new combined file (processing) and the file it will be written to."""
    sources = catalog.playable(await catalog.rows_for(db, meeting.id))
    if not sources:
        raise NotFound(N_("There is nothing to combine yet."))
    origin = min(r.started_at for r in sources)
    inputs = tuple(
        Input(
            str(store.resolve(r.relative_path)),
            (r.started_at - origin).total_seconds(),
            r.participant_label,
        )
        for r in sources
    )
    directory = store.meeting_dir(
        meeting.case.reference if meeting.case else None, meeting.reference
    )
    relative, handle = store.create(directory, "tong-hop", ".webm")
    row_id = await catalog.add_row(
        db,
        meeting_id=meeting.id,
        relative_path=relative,
        label=LABEL,
        subject=None,
        at=origin,
        kind=RecordingKind.COMBINED,
        status=RecordingStatus.PROCESSING,
    )
    return CombineJob(meeting.id, row_id, relative, inputs, handle)


async def run(
    job: CombineJob,
    db_factory: async_sessionmaker[AsyncSession],
    store: RecordingStore,
    clock: Clock,
) -> None:
    """Make the file on a thread, report progress as it goes, then finish its row (complete or
    failed, with the reason) and sign the meeting's manifest again."""
    loop = asyncio.get_running_loop()
    pending: list[concurrent.futures.Future[None]] = []

    async def set_progress(value: int) -> None:
        # Each report is its own transaction and they may commit out of order: never go back.
        async with db_factory() as db, db.begin():
            await db.execute(
                update(Recording)
                .where(Recording.id == job.row_id, Recording.progress < value)
                .values(progress=value)
            )

    def progress(value: int) -> None:
        pending.append(asyncio.run_coroutine_threadsafe(set_progress(value), loop))

    try:
        video, audio_frames, seconds = await asyncio.to_thread(
            combine, list(job.inputs), job.handle, progress
        )
        digest, size = await asyncio.to_thread(store.hash, job.relative)
        status, note = RecordingStatus.COMPLETE, None
    except Exception as exc:
        log.exception("combined file %s failed", job.relative)
        video = audio_frames = 0
        seconds = 0.0
        digest, size = "", 0
        status, note = RecordingStatus.FAILED, str(exc)[:300]
    await asyncio.gather(*[asyncio.wrap_future(f) for f in pending], return_exceptions=True)
    async with db_factory() as db, db.begin():
        await catalog.finish_row(
            db,
            job.row_id,
            status=status,
            sha256=digest,
            size=size,
            at=clock.now(),
            video_frames=video,
            audio_frames=audio_frames,
            duration_ms=int(seconds * 1000),
            note=note,
        )
    if status is RecordingStatus.COMPLETE:
        # The new file joins the meeting's signed record like the others.
        try:
            await catalog.write_manifest(
                db_factory, store, job.meeting_id, at=clock.now(), reason="combined file added"
            )
        except OSError:
            log.exception("could not write the manifest for the combined file %s", job.relative)
