"""The audit trail: append-only and chained with a keyed hash, so an edited, removed or
truncated row is detectable — also by someone who can write to the database.

Each event's hash is HMAC-SHA256 under the audit key (``<data_dir>/secrets/audit.key``, never
in the database) over the previous hash and the event's content; the head row carries a MAC of
its sequence number and last hash, so cutting events off the end is caught too. Recomputing
the chain after an edit needs the key. The key reaches this module with the database session
(``sessions.db.session_factory`` puts it in the session's ``info``).

Appends are serialised by updating the single ``audit_head`` row first: on PostgreSQL that row
lock, on SQLite the database write lock, holds every other appender until commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.models import AuditEvent, AuditHead, Case, User

GENESIS = "0" * 64
AUDIT_KEY = "audit_key"


def session_key(db: AsyncSession) -> bytes:
    key = db.info.get(AUDIT_KEY)
    if not isinstance(key, bytes) or len(key) < 32:
        raise RuntimeError("the database session carries no audit key (see sessions.db)")
    return key


def event_hash(
    key: bytes | None,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Any],
) -> str:
    """The event's keyed hash; ``key=None`` gives the unkeyed SHA-256 of chains written before
    the audit key existed (read only by :func:`adopt_key`)."""
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
    data = (prev_hash + body).encode()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def stored_event_hash(key: bytes | None, prev_hash: str, ev: AuditEvent) -> str:
    """:func:`event_hash` of an event as stored, after ``prev_hash``."""
    return event_hash(
        key,
        prev_hash,
        ev.seq,
        ev.at,
        ev.actor_id,
        ev.action,
        ev.object_type,
        ev.object_id,
        ev.details,
    )


def head_mac(key: bytes, seq: int, last_hash: str) -> str:
    return hmac.new(key, f"head:{seq}:{last_hash}".encode(), hashlib.sha256).hexdigest()


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
    key = session_key(db)
    await db.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = (
        await db.execute(select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == 1))
    ).one_or_none()
    if head is None:
        raise RuntimeError("audit chain head missing: run `diemcau db upgrade`")
    seq, prev = head
    clean = json.loads(json.dumps(dict(details or {}), default=str))
    digest = event_hash(key, prev, seq, at, actor_id, action, object_type, str(object_id), clean)
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
    await db.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_hash=digest, mac=head_mac(key, seq, digest))
    )
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
    return await _verify(db, session_key(db))


async def _verify(db: AsyncSession, key: bytes | None) -> ChainReport:
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
        if not hmac.compare_digest(stored_event_hash(key, prev, ev), ev.hash):
            return ChainReport(count, ev.seq, "content does not match its hash")
        prev = ev.hash
        expected_seq += 1
    head = await db.get(AuditHead, 1)
    if head is not None and head.seq != count:
        return ChainReport(count, count + 1, "events at the end of the chain are missing")
    if key is not None and head is not None and count:
        expected = head_mac(key, head.seq, head.last_hash)
        if head.mac is None or not hmac.compare_digest(head.mac, expected):
            return ChainReport(count, head.seq, "the head of the chain was changed")
    return ChainReport(count, None, None)


async def adopt_key(db: AsyncSession) -> ChainReport:
    """Key a chain written before the audit key existed: if it verifies as the unkeyed chain
    it was, every hash is recomputed under the key (the contents stay as they are). Call once
    per installation (the caller keeps a marker outside the database), never on a chain that
    does not verify: its report is returned and nothing changes."""
    key = session_key(db)
    keyed = await _verify(db, key)
    if keyed.ok:
        return keyed
    legacy = await _verify(db, None)
    if not legacy.ok:
        return keyed
    prev = GENESIS
    events = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    # Unique hashes: move them out of the way before rewriting, or a new hash could collide.
    for ev in events:
        ev.prev_hash = f"rekey-p-{ev.seq}"
        ev.hash = f"rekey-h-{ev.seq}"
    await db.flush()
    for ev in events:
        ev.prev_hash = prev
        ev.hash = stored_event_hash(key, prev, ev)
        prev = ev.hash
    await db.flush()
    await db.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_hash=prev, mac=head_mac(key, len(events), prev))
    )
    return await _verify(db, key)


@dataclass(frozen=True)
class VaultRead:
    at: datetime
    who: str | None  # the reader's full name
    case_id: str
    case_reference: str | None
    details: dict[str, Any]


async def vault_reads(db: AsyncSession, limit: int = 500) -> list[VaultRead]:
    """Who opened a protected identity, newest first (the register auditors read)."""
    rows = (
        await db.execute(
            select(AuditEvent, User.full_name, Case.reference)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .outerjoin(Case, Case.id == AuditEvent.object_id.cast(Case.id.type))
            .where(AuditEvent.action == "vault.read")
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
    ).all()
    return [VaultRead(e.at, who, e.object_id, ref, dict(e.details)) for e, who, ref in rows]


async def events_of_case(
    db: AsyncSession, case_id: int, meeting_ids: list[int]
) -> list[AuditEvent]:
    """The case's own events and those of its meetings, in order (a case file's excerpt)."""
    return list(
        await db.scalars(
            select(AuditEvent)
            .where(
                or_(
                    (AuditEvent.object_type == "case") & (AuditEvent.object_id == str(case_id)),
                    (AuditEvent.object_type == "meeting")
                    & AuditEvent.object_id.in_([str(i) for i in meeting_ids]),
                )
            )
            .order_by(AuditEvent.seq)
        )
    )
