"""In-app notifications for people (staff dashboards) and endpoints (their kiosks), and the
e-mail copy when an SMTP server is configured. Creating the same notice twice is a no-op.

A notice stores a message id (an English catalog msgid) and its parameters, never a sentence:
each page, kiosk and e-mail shows it in its reader's language."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.enums import NotificationKind
from sessions.models import Notification, User
from sessions.settings import Settings

log = logging.getLogger(__name__)


async def notify(
    db: AsyncSession,
    *,
    key: str,
    kind: NotificationKind,
    message: str,
    params: Mapping[str, str | int] | None = None,
    at: datetime,
    user_id: int | None = None,
    site_id: int | None = None,
    meeting_id: int | None = None,
) -> bool:
    """Create one notice unless one with the same key exists; True if created now."""
    if await db.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
        return False
    try:
        async with db.begin_nested():
            db.add(
                Notification(
                    dedupe_key=key[:200],
                    kind=kind,
                    message=message,
                    params=dict(params or {}),
                    created_at=at,
                    user_id=user_id,
                    site_id=site_id,
                    meeting_id=meeting_id,
                )
            )
            await db.flush()
    except IntegrityError:
        return False  # another node created it in the meantime
    return True


async def unread_for_user(db: AsyncSession, user_id: int, limit: int = 20) -> list[Notification]:
    return list(
        await db.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


async def unread_for_site(db: AsyncSession, site_id: int, limit: int = 5) -> list[Notification]:
    return list(
        await db.scalars(
            select(Notification)
            .where(Notification.site_id == site_id, Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
    )


async def mark_read(db: AsyncSession, user_id: int, notification_id: int, at: datetime) -> None:
    await db.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .values(read_at=at)
    )


# Shows a notice in the server's language (the web layer gives it the catalogs).
Render = Callable[[Notification], str]


def untranslated(notification: Notification) -> str:
    """A notice in its message id's own words (English), for a mailer given no catalogs."""
    try:
        return notification.message % notification.params
    except (KeyError, TypeError, ValueError):
        return notification.message


@dataclass(frozen=True)
class Mailer:
    """Sends notices by e-mail through the configured SMTP server (blocking I/O in a thread)."""

    settings: Settings
    render: Render = untranslated

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def _send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=20) as smtp:
            if self.settings.smtp_starttls:
                smtp.starttls()
            if self.settings.smtp_username:
                smtp.login(self.settings.smtp_username, self.settings.smtp_password)
            smtp.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        """One message now (blocking SMTP in a thread); raises OSError or SMTPException."""
        await asyncio.to_thread(self._send, to, subject, body)

    async def send_pending(self, db: AsyncSession, at: datetime) -> int:
        """E-mail every unsent, unread notice of users who have an address."""
        if not self.enabled:
            return 0
        rows = (
            await db.execute(
                select(Notification, User.email)
                .join(User, User.id == Notification.user_id)
                .where(
                    Notification.emailed_at.is_(None),
                    Notification.read_at.is_(None),
                    User.email.is_not(None),
                )
                .limit(50)
            )
        ).all()
        sent = 0
        for notification, email in rows:
            if not email:
                continue
            text = self.render(notification)
            try:
                await asyncio.to_thread(self._send, email, f"[Điểm cầu] {text[:80]}", text)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("could not e-mail notification %s: %s", notification.id, exc)
                break  # the server is unreachable; try again on the next sweep
            notification.emailed_at = at
            sent += 1
        return sent
