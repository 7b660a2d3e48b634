"""Retention: recordings older than the retention period are deleted, unless their case is on
legal hold. The database row stays, with its hash, marked deleted, and the deletion is audited."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings import catalog
from recordings.store import RecordingStore, UnsafePath
from sessions.enums import RecordingStatus
from sessions.models import Case, Meeting, Recording


async def purge(
    db_factory: async_sessionmaker[AsyncSession],
    store: RecordingStore,
    now: datetime,
    retention_days: int,
) -> list[int]:
    cutoff = now - timedelta(days=retention_days)
    async with db_factory() as db, db.begin():
        rows = list(
            await db.scalars(
                select(Recording)
                .join(Meeting, Meeting.id == Recording.meeting_id)
                .outerjoin(Case, Case.id == Meeting.case_id)
                .where(
                    Recording.ended_at < cutoff,
                    Recording.status.in_(
                        [
                            RecordingStatus.COMPLETE,
                            RecordingStatus.INTERRUPTED,
                            RecordingStatus.FAILED,
                        ]
                    ),
                    (Case.legal_hold.is_(False)) | (Case.id.is_(None)),
                )
            )
        )
        for row in rows:
            with contextlib.suppress(FileNotFoundError, UnsafePath):
                store.resolve(row.relative_path).unlink()
            row.status = RecordingStatus.DELETED
            row.note = f"deleted after {retention_days} days of retention"
    for row in rows:
        await catalog.log(
            db_factory,
            now,
            "recording.delete",
            row.meeting_id,
            {"recording": row.id, "path": row.relative_path, "sha256": row.sha256},
        )
    return [row.id for row in rows]
