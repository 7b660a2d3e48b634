"""The audit trail is a hash chain: any edit or removal is found by verify_chain."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.models import AuditEvent, AuditHead
from sessions.settings import Settings
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


async def _rewrite_chain(db: AsyncSession, key: bytes | None) -> None:
    """What someone with write access to the database, but not the audit key, can do: edit an
    event, then recompute every hash after it and the head, with whatever key they have."""
    await db.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(details={"n": 99}))
    events = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    prev = audit.GENESIS
    for ev in events:
        ev.prev_hash = f"x-{ev.seq}"
        ev.hash = f"y-{ev.seq}"
    await db.flush()
    for ev in events:
        ev.prev_hash = prev
        ev.hash = audit.stored_event_hash(key, prev, ev)
        prev = ev.hash
    mac = audit.head_mac(key, len(events), prev) if key else None
    await db.execute(update(AuditHead).values(last_hash=prev, mac=mac))
    await db.commit()


async def test_a_recomputed_chain_without_the_key_is_found(db: AsyncSession) -> None:
    await append_three(db)
    # Recomputed as the unkeyed chain it used to be, and with a guessed key.
    await _rewrite_chain(db, None)
    report = await audit.verify_chain(db)
    assert (report.broken_at, report.problem) == (1, "content does not match its hash")
    await _rewrite_chain(db, b"g" * 32)
    assert (await audit.verify_chain(db)).broken_at == 1


async def test_cutting_the_end_and_fixing_the_head_is_found(db: AsyncSession) -> None:
    await append_three(db)
    last = await db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 2))
    await db.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
    await db.execute(update(AuditHead).values(seq=2, last_hash=last))
    await db.commit()
    report = await audit.verify_chain(db)
    assert (report.broken_at, report.problem) == (2, "the head of the chain was changed")


async def test_a_chain_written_before_the_key_is_adopted_once_verified(
    db: AsyncSession,
) -> None:
    await append_three(db)
    await _rewrite_chain(db, None)  # as an older version wrote it (with an edit, n = 99)
    assert not (await audit.verify_chain(db)).ok
    adopted = await audit.adopt_key(db)
    await db.commit()
    assert adopted.ok
    assert adopted.events == 3
    assert (await audit.verify_chain(db)).ok
    # A legacy chain that does not verify is left alone and reported.
    await db.execute(update(AuditEvent).where(AuditEvent.seq == 1).values(action="forged"))
    await db.commit()
    refused = await audit.adopt_key(db)
    assert not refused.ok
    assert refused.broken_at == 1


async def test_the_key_never_reaches_the_database(db: AsyncSession, settings: Settings) -> None:
    await append_three(db)
    key = settings.audit_key
    assert len(key) == 32
    rows = (await db.execute(select(AuditEvent.hash, AuditEvent.details))).all()
    text = repr(rows) + repr((await db.execute(select(AuditHead.mac))).all())
    assert key.hex() not in text
    assert (settings.data_dir / "secrets" / "audit.key").stat().st_mode & 0o077 == 0
