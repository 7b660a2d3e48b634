"""Kiosk device tokens: one per endpoint, shown once, stored as a hash, revoked by reissuing."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.models import Site


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(db: AsyncSession, site: Site, at: datetime, *, actor_id: int | None) -> str:
    """A new device token for ``site``; any earlier one stops working."""
    token = secrets.token_urlsafe(24)
    site.device_token_hash = _hash(token)
    site.device_token_issued_at = at
    await db.flush()
    await audit.record(db, at, actor_id, "site.device_token", "site", site.id, {"code": site.code})
    return token


async def site_for(db: AsyncSession, token: str) -> Site | None:
    if not token or len(token) > 100:
        return None
    return await db.scalar(
        select(Site).where(Site.device_token_hash == _hash(token), Site.active.is_(True))
    )
