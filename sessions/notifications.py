"""In-app notifications for people (staff dashboards) and endpoints (their kiosks), and the
e-mail copy when an SMTP server is configured. Creating the same notice twice is a no-op."""

from __future__ import annotations

import asyncio
import logging
import smtplib
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
    text: str,
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
                    text=text,
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


@dataclass(frozen=True)
class Mailer:
    """Sends notices by e-mail through the configured SMTP server (blocking I/O in a thread)."""

    settings: Settings

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
            try:
                await asyncio.to_thread(
                    self._send, email, "[Điểm cầu] " + notification.text[:80], notification.text
                )
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("could not e-mail notification %s: %s", notification.id, exc)
                break  # the server is unreachable; try again on the next sweep
            notification.emailed_at = at
            sent += 1
        return sent
