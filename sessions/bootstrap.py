"""First start: reference endpoints and a first administrator with a one-time password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from sessions import sites, users
from sessions.enums import Role

FIRST_ADMIN = "admin"


@dataclass(frozen=True)
class FirstStart:
    sites_added: int
    admin_username: str | None  # set only when the administrator was created just now
    admin_password: str | None


async def first_start(db: AsyncSession, at: datetime) -> FirstStart:
    added = await sites.seed_sites(db, at)
    if await users.count_admins(db):
        return FirstStart(added, None, None)
    password = users.generate_password()
    await users.create_user(
        db,
        username=FIRST_ADMIN,
        full_name="Quản trị hệ thống",
        password=password,
        roles=[Role.ADMIN],
        at=at,
        must_change_password=True,
    )
    return FirstStart(added, FIRST_ADMIN, password)
