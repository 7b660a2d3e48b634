"""Accounts: argon2 password hashes, roles, and sign-in."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.enums import Role
from sessions.errors import N_, Conflict, InvalidInput
from sessions.models import User, UserRole, WebSession

_hasher = PasswordHasher()
# A hash to verify against when the account does not exist, so a wrong username costs the
# same time as a wrong password and timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 10
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def generate_password() -> str:
    while True:  # a random one that meets the policy like any other
        candidate = secrets.token_urlsafe(12)
        if validate_password(candidate) is None:
            return candidate


def validate_password(password: str, username: str = "") -> str | None:
    """The password policy: at least 10 characters, letters and something else (digits or
    signs), not the username, and not one character or a run like 1234567890 repeated."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return N_("The password must have at least 10 characters.")
    if len(password) > 1024:
        return N_("The password must have at most 1024 characters.")
    letters = any(ch.isalpha() for ch in password)
    others = any(not ch.isalpha() for ch in password)
    if not (letters and others):
        return N_("Mix letters with digits or signs in the password.")
    lowered = password.lower()
    if username and username.lower() in lowered:
        return N_("The password must not contain the username.")
    if len(set(lowered)) < 5:
        return N_("The password is too easy to guess: use more different characters.")
    return None


def validate_username(username: str) -> str | None:
    if not 3 <= len(username) <= 64 or not set(username) <= USERNAME_CHARS:
        return N_(
            "The username must be 3 to 64 characters: "
            "lowercase letters, digits, dot, dash, underscore."
        )
    return None


async def create_user(
    db: AsyncSession,
    *,
    username: str,
    full_name: str,
    password: str,
    roles: Iterable[Role],
    at: datetime,
    position: str | None = None,
    site_id: int | None = None,
    must_change_password: bool = False,
    actor_id: int | None = None,
) -> User:
    username = username.strip().lower()
    errors: dict[str, str] = {}
    if problem := validate_username(username):
        errors["username"] = problem
    if not full_name.strip():
        errors["full_name"] = N_("Enter the person's full name.")
    if problem := validate_password(password, username):
        errors["password"] = problem
    role_set = set(roles)
    if not role_set:
        errors["roles"] = N_("Choose at least one role.")
    if errors:
        raise InvalidInput(errors)
    if await db.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(N_("The username %(username)s is already taken."), {"username": username})
    user = User(
        username=username,
        full_name=full_name.strip(),
        position=position,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
        site_id=site_id,
        created_at=at,
        role_rows=[UserRole(role=r) for r in sorted(role_set)],
    )
    db.add(user)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "user.create",
        "user",
        user.id,
        {"username": username, "roles": sorted(r.value for r in role_set)},
    )
    return user


async def authenticate(db: AsyncSession, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (never says which part was wrong)."""
    user = await db.scalar(select(User).where(User.username == username.strip().lower()))
    stored = user.password_hash if user is not None and user.active else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


async def set_password(
    db: AsyncSession, user: User, new_password: str, at: datetime, *, actor_id: int | None
) -> None:
    if problem := validate_password(new_password, user.username):
        raise InvalidInput({"new_password": problem})
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    await audit.record(db, at, actor_id, "user.password", "user", user.id)


async def count_admins(db: AsyncSession) -> int:
    return int(
        await db.scalar(
            select(func.count()).select_from(UserRole).where(UserRole.role == Role.ADMIN)
        )
        or 0
    )


async def _revoke_sessions(db: AsyncSession, user: User, at: datetime) -> None:
    await db.execute(
        update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def _active_admins(db: AsyncSession) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(UserRole)
            .join(User, User.id == UserRole.user_id)
            .where(UserRole.role == Role.ADMIN, User.active.is_(True))
        )
        or 0
    )


async def set_active(
    db: AsyncSession, user: User, active: bool, at: datetime, *, actor_id: int | None
) -> None:
    """Deactivate (signed out at once, kept for the record) or reactivate an account; the last
    active administrator stays."""
    if not active and Role.ADMIN in user.roles and await _active_admins(db) <= 1:
        raise Conflict(N_("The last active administrator cannot be deactivated."))
    user.active = active
    if not active:
        await _revoke_sessions(db, user, at)
    await audit.record(
        db, at, actor_id, "user.activate" if active else "user.deactivate", "user", user.id
    )


async def reset_password(db: AsyncSession, user: User, at: datetime, *, actor_id: int) -> str:
    """A new one-time password (shown once to the administrator), to be changed at the next
    sign-in; the account is signed out everywhere."""
    password = generate_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    await _revoke_sessions(db, user, at)
    await audit.record(db, at, actor_id, "user.password_reset", "user", user.id)
    return password


async def set_roles(
    db: AsyncSession,
    user: User,
    roles: Iterable[Role],
    site_id: int | None,
    at: datetime,
    *,
    actor_id: int,
) -> None:
    role_set = set(roles)
    if not role_set:
        raise InvalidInput({"roles": N_("Choose at least one role.")})
    if Role.ADMIN in user.roles and Role.ADMIN not in role_set and await _active_admins(db) <= 1:
        raise Conflict(N_("The last active administrator must keep that role."))
    user.role_rows = [UserRole(role=r) for r in sorted(role_set)]
    user.site_id = site_id
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "user.roles",
        "user",
        user.id,
        {"roles": sorted(r.value for r in role_set), "site": site_id},
    )


async def with_role(db: AsyncSession, role: Role) -> list[User]:
    """Active accounts holding ``role``, by name (the pickers of chairs, secretaries …)."""
    return list(
        await db.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == role, User.active.is_(True))
            .order_by(User.full_name)
        )
    )


async def everyone(db: AsyncSession) -> list[User]:
    """Every account, active ones first, by name."""
    return list(await db.scalars(select(User).order_by(User.active.desc(), User.full_name)))
