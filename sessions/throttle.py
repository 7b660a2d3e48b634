"""The sign-in throttle: wrong passwords lock an account, and an address, for a while.

Failures are rows in the database, so every server process of an installation counts the same
ones. Within the lockout window, ``login_max_failures`` wrong passwords for one account lock that
account (even the right password is refused until the window has passed) and
``login_address_max_failures`` from one address lock the address. The moment an account locks,
administrators are told (a notification) and the audit trail says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, notifications
from sessions.enums import NotificationKind, Role
from sessions.errors import N_
from sessions.models import LoginFailure, User, UserRole

Lock = Literal["account", "address"]


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    max_address_failures: int = 20
    window: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.max_address_failures < 1:
            raise ValueError("a lockout needs at least one failure")


async def _count(db: AsyncSession, since: datetime, where: ColumnElement[bool]) -> int:
    total = await db.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.at > since, where)
    )
    return int(total or 0)


async def locked(
    db: AsyncSession, username: str, address: str, now: datetime, policy: LoginPolicy
) -> Lock | None:
    since = now - policy.window
    if await _count(db, since, LoginFailure.username == username) >= policy.max_failures:
        return "account"
    if await _count(db, since, LoginFailure.address == address) >= policy.max_address_failures:
        return "address"
    return None


async def failed(
    db: AsyncSession, username: str, address: str, now: datetime, policy: LoginPolicy
) -> Lock | None:
    """Count one wrong password; the lock it caused, if it caused one now."""
    before = await locked(db, username, address, now, policy)
    db.add(LoginFailure(username=username[:64], address=address[:64], at=now))
    await db.flush()
    after = await locked(db, username, address, now, policy)
    if after is None or after == before:
        return None
    await audit.record(
        db, now, None, "auth.locked", after, username if after == "account" else address
    )
    admins = await db.scalars(
        select(User.id).join(UserRole).where(UserRole.role == Role.ADMIN, User.active.is_(True))
    )
    subject = username if after == "account" else address
    message = (
        N_("Sign-in to the account %(who)s is locked for a while after many wrong passwords.")
        if after == "account"
        else N_(
            "Sign-in from the address %(who)s is locked for a while after many wrong passwords."
        )
    )
    for admin_id in admins:
        await notifications.notify(
            db,
            key=f"locked:{after}:{subject}:{now.isoformat()}:{admin_id}",
            kind=NotificationKind.TASK,
            message=message,
            params={"who": subject},
            at=now,
            user_id=admin_id,
        )
    return after


async def succeeded(db: AsyncSession, username: str) -> None:
    """A right password: the account's count starts again."""
    await db.execute(delete(LoginFailure).where(LoginFailure.username == username))


async def purge(db: AsyncSession, now: datetime, policy: LoginPolicy) -> None:
    await db.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.window))
