"""Search over cases and minutes, without diacritics or case: "doi thoai" finds "đối thoại",
"Duong" finds "Đường". Each case and each meeting's minutes is one document of folded text
(``collation.fold``); SQLite finds it with FTS5, PostgreSQL with a trigram index. A party's
identity is never in a document (only a case's reference, title and summary, and the minutes'
text, where a denouncer appears under the pseudonym), so search cannot reach into the vault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.collation import fold, shown
from sessions.models import Case, Meeting, Minutes, MinutesVersion, SearchDocument

MINUTES_FIELDS = (
    "number",
    "place",
    "issues",
    "verification",
    "account",
    "evidence",
    "agreed",
    "outstanding",
    "handling",
)
MAX_TERMS = 8


@dataclass(frozen=True)
class Hit:
    kind: str  # "case" or "minutes"
    object_id: int
    case_id: int | None
    meeting_id: int | None
    title: str
    snippet: str


def _sqlite(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "sqlite"


def _terms(query: str) -> list[str]:
    """The folded words of a query (letters and digits only: nothing reaches the SQL)."""
    words = re.findall(r"[0-9a-z]+", fold(query))
    return [w for w in words if w][:MAX_TERMS]


def minutes_text(content: dict[str, Any]) -> str:
    parts = [str(content.get(name, "")) for name in MINUTES_FIELDS]
    parts += [f"{o.get('who', '')} {o.get('text', '')}" for o in content.get("opinions", [])]
    facts = content.get("facts", {})
    parts += [str(facts.get("title", "")), str(facts.get("reference", ""))]
    return " ".join(p for p in parts if p)


async def _upsert(
    db: AsyncSession,
    *,
    kind: str,
    object_id: int,
    case_id: int | None,
    meeting_id: int | None,
    title: str,
    body: str,
    at: datetime,
) -> None:
    written = shown(body)
    folded = fold(written)
    document = await db.scalar(
        select(SearchDocument).where(
            SearchDocument.kind == kind, SearchDocument.object_id == object_id
        )
    )
    if document is None:
        document = SearchDocument(kind=kind, object_id=object_id)
        db.add(document)
    document.case_id, document.meeting_id = case_id, meeting_id
    document.title, document.shown, document.body = title[:300], written, folded
    document.updated_at = at
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError:
        return  # indexed by another request at the same moment: its copy stands
    if _sqlite(db):
        await db.execute(text("DELETE FROM search_fts WHERE rowid = :id"), {"id": document.id})
        await db.execute(
            text("INSERT INTO search_fts (rowid, body) VALUES (:id, :body)"),
            {"id": document.id, "body": folded},
        )


async def index_case(db: AsyncSession, case: Case, at: datetime) -> None:
    await _upsert(
        db,
        kind="case",
        object_id=case.id,
        case_id=case.id,
        meeting_id=None,
        title=f"{case.reference} {case.title}",
        body=f"{case.reference} {case.title} {case.summary}",
        at=at,
    )


async def index_minutes(
    db: AsyncSession, meeting: Meeting, version: MinutesVersion, at: datetime
) -> None:
    await _upsert(
        db,
        kind="minutes",
        object_id=meeting.id,
        case_id=meeting.case_id,
        meeting_id=meeting.id,
        title=f"{meeting.reference} {meeting.title}",
        body=minutes_text(version.content),
        at=at,
    )


async def reindex(db: AsyncSession, at: datetime) -> int:
    """Every case and every meeting's latest minutes, indexed again (after an upgrade)."""
    if _sqlite(db):
        await db.execute(text("DELETE FROM search_fts"))
    await db.execute(delete(SearchDocument))
    count = 0
    for case in list(await db.scalars(select(Case))):
        await index_case(db, case, at)
        count += 1
    rows = await db.execute(
        select(Meeting, MinutesVersion)
        .join(Minutes, Minutes.meeting_id == Meeting.id)
        .join(
            MinutesVersion,
            (MinutesVersion.minutes_id == Minutes.id)
            & (MinutesVersion.version == Minutes.current_version),
        )
    )
    for meeting, version in rows.unique().all():
        await index_minutes(db, meeting, version, at)
        count += 1
    return count


async def reindex_if_empty(db: AsyncSession, at: datetime) -> int:
    """After the upgrade that added search: index what was there before (once)."""
    if await db.scalar(select(SearchDocument.id).limit(1)) is not None:
        return 0
    if await db.scalar(select(Case.id).limit(1)) is None:
        return 0
    return await reindex(db, at)


async def search(
    db: AsyncSession,
    query: str,
    *,
    cases_visible: ColumnElement[bool],
    meetings_visible: ColumnElement[bool],
    limit: int = 50,
) -> list[Hit]:
    """Documents holding every word of the query (as a word prefix on SQLite, anywhere in a
    word on PostgreSQL), among the cases and meetings the reader may see."""
    terms = _terms(query)
    if not terms:
        return []
    visible_case_ids = select(Case.id).where(cases_visible)
    visible_meeting_ids = select(Meeting.id).where(meetings_visible)
    allowed = ((SearchDocument.kind == "case") & SearchDocument.object_id.in_(visible_case_ids)) | (
        (SearchDocument.kind == "minutes") & SearchDocument.object_id.in_(visible_meeting_ids)
    )
    statement = select(SearchDocument).where(allowed)
    if _sqlite(db):
        match = " ".join(f'"{t}"*' for t in terms)
        statement = statement.where(
            SearchDocument.id.in_(
                select(text("rowid"))
                .select_from(text("search_fts"))
                .where(text("search_fts MATCH :match"))
            )
        ).params(match=match)
    else:
        for t in terms:
            statement = statement.where(SearchDocument.body.like(f"%{t}%"))
    rows = list(await db.scalars(statement.order_by(SearchDocument.updated_at.desc()).limit(limit)))
    return [
        Hit(r.kind, r.object_id, r.case_id, r.meeting_id, r.title, _snippet(r, terms)) for r in rows
    ]


def _snippet(document: SearchDocument, terms: Iterable[str], width: int = 120) -> str:
    """A little of the text as written around the first word found (found in the folded
    copy, whose characters stand where the written ones do)."""
    body, written = document.body, document.shown
    positions = [body.find(t) for t in terms if body.find(t) >= 0]
    start = max(0, min(positions) - width // 3) if positions else 0
    end = start + width
    return ("…" if start else "") + written[start:end] + ("…" if end < len(written) else "")
