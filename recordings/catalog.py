"""Recording rows in the database, and the manifest built from them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.store import RecordingStore
from sessions import audit
from sessions.enums import RecordingKind, RecordingStatus
from sessions.models import Case, Meeting, Recording


async def meeting_refs(db: AsyncSession, meeting_id: int) -> tuple[str, str | None, str]:
    """(meeting reference, case reference or None, title)."""
    row = (
        await db.execute(
            select(Meeting.reference, Case.reference, Meeting.title)
            .outerjoin(Case, Case.id == Meeting.case_id)
            .where(Meeting.id == meeting_id)
        )
    ).one()
    return row[0], row[1], row[2]


async def add_row(
    db: AsyncSession,
    *,
    meeting_id: int,
    relative_path: str,
    label: str,
    subject: str | None,
    at: datetime,
    kind: RecordingKind = RecordingKind.PARTICIPANT,
    status: RecordingStatus = RecordingStatus.RECORDING,
    recovered_from_id: int | None = None,
) -> int:
    row = Recording(
        meeting_id=meeting_id,
        kind=kind,
        participant_label=label,
        participant_subject=subject,
        relative_path=relative_path,
        status=status,
        started_at=at,
        recovered_from_id=recovered_from_id,
    )
    db.add(row)
    await db.flush()
    return row.id


async def finish_row(
    db: AsyncSession,
    row_id: int,
    *,
    status: RecordingStatus,
    sha256: str,
    size: int,
    at: datetime,
    video_frames: int | None,
    audio_frames: int | None,
    duration_ms: int | None,
    note: str | None = None,
) -> None:
    await db.execute(
        update(Recording)
        .where(Recording.id == row_id)
        .values(
            status=status,
            sha256=sha256,
            size_bytes=size,
            ended_at=at,
            video_frames=video_frames,
            audio_frames=audio_frames,
            duration_ms=duration_ms,
            note=note,
        )
    )


def playable(rows: Sequence[Recording]) -> list[Recording]:
    """Participants' complete files (recovered ones included): what plays and what combines."""
    return [
        r
        for r in rows
        if r.status is RecordingStatus.COMPLETE
        and r.kind in (RecordingKind.PARTICIPANT, RecordingKind.RECOVERED)
    ]


async def rows_for(db: AsyncSession, meeting_id: int) -> list[Recording]:
    return list(
        await db.scalars(
            select(Recording).where(Recording.meeting_id == meeting_id).order_by(Recording.id)
        )
    )


def manifest(
    *,
    meeting_id: int,
    reference: str,
    case_reference: str | None,
    title: str,
    rows: Sequence[Recording],
    gaps: Sequence[dict[str, Any]],
    markers: Sequence[dict[str, Any]],
    written_at: datetime,
    reason: str,
) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "format": "diemcau-recording-manifest/1",
        "written_at": written_at.isoformat(),
        "reason": reason,
        "meeting": {
            "id": meeting_id,
            "reference": reference,
            "case": case_reference,
            "title": title,
        },
        "files": [
            {
                "id": r.id,
                "path": r.relative_path,
                "kind": r.kind.value,
                "participant": r.participant_label,
                "subject": r.participant_subject,
                "status": r.status.value,
                "sha256": r.sha256,
                "size": r.size_bytes,
                "started": iso(r.started_at),
                "ended": iso(r.ended_at),
                "duration_ms": r.duration_ms,
                "video_frames": r.video_frames,
                "audio_frames": r.audio_frames,
                "recovered_from": r.recovered_from_id,
                "note": r.note,
            }
            for r in rows
        ],
        "participants": sorted(
            {
                (r.participant_subject or "", r.participant_label)
                for r in rows
                if r.kind is RecordingKind.PARTICIPANT
            }
        ),
        "gaps": list(gaps),
        "markers": list(markers),
    }


async def write_manifest(
    db_factory: async_sessionmaker[AsyncSession],
    store: RecordingStore,
    meeting_id: int,
    *,
    at: datetime,
    reason: str,
    gaps: Sequence[dict[str, Any]] = (),
    markers: Sequence[dict[str, Any]] = (),
    directory: str | None = None,
) -> str | None:
    """Sign a new manifest of everything filed for the meeting (in ``directory``, by default
    the meeting's folder under its case today); its path, or None when nothing is filed."""
    async with db_factory() as db:
        reference, case_reference, title = await meeting_refs(db, meeting_id)
        rows = await rows_for(db, meeting_id)
    if not rows:
        return None
    document = manifest(
        meeting_id=meeting_id,
        reference=reference,
        case_reference=case_reference,
        title=title,
        rows=rows,
        gaps=gaps,
        markers=markers,
        written_at=at,
        reason=reason,
    )
    folder = directory if directory is not None else store.meeting_dir(case_reference, reference)
    return await asyncio.to_thread(store.write_manifest, folder, document)


async def log(
    db_factory: async_sessionmaker[AsyncSession],
    at: datetime,
    action: str,
    meeting_id: int,
    details: dict[str, Any],
) -> None:
    async with db_factory() as db, db.begin():
        await audit.record(db, at, None, action, "meeting", meeting_id, details)


async def first_start(db: AsyncSession, meeting_id: int) -> datetime | None:
    """When the meeting's first participant file began: where the player's time line starts."""
    return await db.scalar(
        select(func.min(Recording.started_at)).where(
            Recording.meeting_id == meeting_id,
            Recording.kind.in_([RecordingKind.PARTICIPANT, RecordingKind.RECOVERED]),
        )
    )
