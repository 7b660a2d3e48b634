"""The conclusion notice (thông báo kết luận tiếp công dân) after a leader's session: drafted
from the result the minutes record, numbered, signed off by the leader who chaired the session,
and filed on the case. Signed, it no longer changes."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, minutes
from sessions.errors import N_, Conflict, InvalidInput, NotFound, PermissionDenied
from sessions.models import ConclusionNotice, Meeting

LIMITS = {"number": 64, "conclusion": 20000, "tasks": 10000, "recipients": 2000}


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


async def notice_of(db: AsyncSession, meeting_id: int) -> ConclusionNotice | None:
    return await db.scalar(
        select(ConclusionNotice).where(ConclusionNotice.meeting_id == meeting_id)
    )


async def draft(
    db: AsyncSession, meeting: Meeting, *, at: datetime, actor_id: int | None
) -> ConclusionNotice:
    """The meeting's notice, drafted now from its minutes' result if it has none yet."""
    found = await notice_of(db, meeting.id)
    if found is not None:
        return found
    written = await minutes.minutes_of(db, meeting.id)
    if written is None:
        raise Conflict(N_("Write the minutes first: the notice is drafted from their result."))
    content = (await minutes.latest(db, written)).content
    result = [content.get(k, "") for k in ("agreed", "outstanding", "handling")]
    notice = ConclusionNotice(
        meeting_id=meeting.id,
        conclusion="\n\n".join(r for r in result if r),
        tasks="",
        recipients="",
        created_at=at,
    )
    db.add(notice)
    await db.flush()
    await audit.record(db, at, actor_id, "notice.draft", "meeting", meeting.id)
    return notice


async def update(
    db: AsyncSession, notice: ConclusionNotice, fields: dict[str, str]
) -> ConclusionNotice:
    if notice.signed_at is not None:
        raise Conflict(N_("The notice is signed and no longer changes."))
    errors: dict[str, str] = {}
    params: dict[str, dict[str, object]] = {}
    values = {name: _clean(fields.get(name, "")) for name in LIMITS}
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            errors[name] = N_("This field takes at most %(limit)s characters.")
            params[name] = {"limit": limit}
    if errors:
        raise InvalidInput(errors, params)
    notice.number = values["number"] or None
    notice.conclusion = values["conclusion"]
    notice.tasks = values["tasks"]
    notice.recipients = values["recipients"]
    await db.flush()
    return notice


def signing_problems(notice: ConclusionNotice) -> dict[str, str]:
    problems = {}
    if not notice.number:
        problems["number"] = N_("Give the notice its number before signing.")
    if not notice.conclusion.strip():
        problems["conclusion"] = N_("Write the conclusion before signing.")
    return problems


async def sign(
    db: AsyncSession,
    meeting: Meeting,
    notice: ConclusionNotice,
    *,
    pdf_sha256: str,
    at: datetime,
    actor_id: int,
) -> ConclusionNotice:
    """Signed off by the leader who chaired the session, and by nobody else."""
    if meeting.chair_id != actor_id:
        raise PermissionDenied(N_("Only the leader who chaired the session signs its notice."))
    if notice.signed_at is not None:
        raise Conflict(N_("The notice is already signed."))
    problems = signing_problems(notice)
    if problems:
        raise InvalidInput(problems)
    notice.signed_at, notice.signed_by_id, notice.sha256 = at, actor_id, pdf_sha256
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "notice.sign",
        "meeting",
        meeting.id,
        {"number": notice.number, "sha256": pdf_sha256},
    )
    return notice


async def require(db: AsyncSession, meeting_id: int) -> ConclusionNotice:
    found = await notice_of(db, meeting_id)
    if found is None:
        raise NotFound(N_("This session has no conclusion notice yet."))
    return found
