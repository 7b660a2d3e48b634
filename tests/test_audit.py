"""The audit trail is a hash chain: any edit or removal is found by verify_chain."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.models import AuditEvent
from tests.conftest import START


async def append_three(db: AsyncSession) -> None:
    for i in range(3):
        await audit.record(
            db, START + timedelta(seconds=i), None, "test.event", "case", i, {"n": i}
        )
    await db.commit()


async def test_chain_verifies(db: AsyncSession) -> None:
    await append_three(db)
    report = await audit.verify_chain(db)
    assert report.ok
    assert report.events == 3


async def test_edited_event_is_found(db: AsyncSession) -> None:
    await append_three(db)
    await db.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(details={"n": 99}))
    await db.commit()
    report = await audit.verify_chain(db)
    assert not report.ok
    assert report.broken_at == 2


async def test_removed_events_are_found(db: AsyncSession) -> None:
    await append_three(db)
    await db.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    await db.commit()
    assert (await audit.verify_chain(db)).broken_at == 2
    await db.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
    await db.commit()
    report = await audit.verify_chain(db)
    assert report.broken_at == 2
    assert report.problem == "events at the end of the chain are missing"
