"""The audit trail: append-only and hash-chained, so a removed or edited row is detectable.

Appends are serialised by updating the single ``audit_head`` row first: on PostgreSQL that row
lock, on SQLite the database write lock, holds every other appender until commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def event_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Any],
) -> str:
    body = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor_id,
            "action": action,
            "object": [object_type, object_id],
            "details": details,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


async def record(
    db: AsyncSession,
    at: datetime,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: object,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction."""
    await db.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = (
        await db.execute(select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == 1))
    ).one_or_none()
    if head is None:
        raise RuntimeError("audit chain head missing: run `diemcau db upgrade`")
    seq, prev = head
    clean = json.loads(json.dumps(dict(details or {}), default=str))
    digest = event_hash(prev, seq, at, actor_id, action, object_type, str(object_id), clean)
    event = AuditEvent(
        seq=seq,
        at=at,
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=clean,
        prev_hash=prev,
        hash=digest,
    )
    db.add(event)
    await db.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest))
    await db.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    events: int
    broken_at: int | None  # seq of the first event that does not verify
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify_chain(db: AsyncSession) -> ChainReport:
    prev = GENESIS
    expected_seq = 1
    count = 0
    rows = await db.stream_scalars(select(AuditEvent).order_by(AuditEvent.seq))
    async for ev in rows:
        count += 1
        if ev.seq != expected_seq:
            return ChainReport(count, expected_seq, f"event {expected_seq} is missing")
        if ev.prev_hash != prev:
            return ChainReport(count, ev.seq, "link to the previous event is broken")
        digest = event_hash(
            prev, ev.seq, ev.at, ev.actor_id, ev.action, ev.object_type, ev.object_id, ev.details
        )
        if digest != ev.hash:
            return ChainReport(count, ev.seq, "content does not match its hash")
        prev = ev.hash
        expected_seq += 1
    head = await db.get(AuditHead, 1)
    if head is not None and head.seq != count:
        return ChainReport(count, count + 1, "events at the end of the chain are missing")
    return ChainReport(count, None, None)
