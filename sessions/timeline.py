"""A case's whole history on one line of time: intake, handling steps, corrections, meetings,
minutes, recordings, documents, proposals and crowd delegations.

Each entry is a message id with parameters (words live in the catalogs) and, where there is
one, the page it leads to with the permission that page asks, so a reader is never shown a
link that ends in a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import delegations, handling, proposals
from sessions.cases import documents_of, revisions_of
from sessions.enums import RecordingKind, RecordingStatus
from sessions.errors import N_
from sessions.labels import CASE_FIELD_LABELS
from sessions.models import (
    Case,
    Meeting,
    Minutes,
    MinutesVersion,
    Recording,
)
from sessions.permissions import Action


@dataclass(frozen=True)
class Entry:
    at: datetime  # aware; for a day-only entry, the local start of that day
    day_only: bool
    kind: str  # a css-friendly word: intake, status, meeting, minutes, …
    message: str  # a message id, formatted with params
    params: dict[str, object] = field(default_factory=dict)
    terms: tuple[str, ...] = ()  # message ids shown after the message (the fields corrected)
    note: str = ""  # the record's own words (a step's note, a proposal's instructions)
    link: str = ""
    link_action: Action | None = None
    link_meeting: Meeting | None = None  # the permission's target when it is not the case


def _local_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


async def timeline_of(db: AsyncSession, case: Case, zone: ZoneInfo) -> list[Entry]:
    """Every dated fact of the case, oldest first (several of a day: day-only ones first)."""
    entries: list[Entry] = [
        Entry(
            _local_day(case.received_on, zone),
            True,
            "intake",
            N_("Received and registered (%(type)s)"),
            {"type": case.case_type},
        )
    ]
    for event in await handling.events_of(db, case.id):
        extension = event.from_status == event.to_status
        entries.append(
            Entry(
                _local_day(event.on, zone),
                True,
                "status",
                N_("Resolution extended") if extension else N_("Moved to: %(status)s"),
                {} if extension else {"status": event.to_status},
                note=" · ".join(
                    part
                    for part in (
                        event.document_number and f"{event.document_number}",
                        event.decided_by or "",
                        "" if extension else (event.note or ""),
                    )
                    if part
                ),
            )
        )
    for revision in await revisions_of(db, case.id):
        entries.append(
            Entry(
                revision.at,
                False,
                "revision",
                N_("Details corrected:"),
                terms=tuple(CASE_FIELD_LABELS.get(f, f) for f in revision.changed),
            )
        )
    meeting_ids = [m.id for m in case.meetings]
    for meeting in case.meetings:
        entries.append(
            Entry(
                meeting.started_at or meeting.planned_start,
                False,
                "meeting",
                N_("Meeting “%(title)s” (%(status)s)"),
                {"title": meeting.title, "status": meeting.status},
                link=f"/meetings/{meeting.id}",
                link_action=Action.MEETING_VIEW,
                link_meeting=meeting,
            )
        )
    if meeting_ids:
        by_meeting = {m.id: m for m in case.meetings}
        for minutes in await db.scalars(select(Minutes).where(Minutes.meeting_id.in_(meeting_ids))):
            meeting = by_meeting[minutes.meeting_id]
            if minutes.finalised_at is not None:
                entries.append(
                    Entry(
                        minutes.finalised_at,
                        False,
                        "minutes",
                        N_("Minutes of “%(title)s” signed and locked"),
                        {"title": meeting.title},
                        link=f"/meetings/{meeting.id}/minutes",
                        link_action=Action.MINUTES_VIEW,
                        link_meeting=meeting,
                    )
                )
        amendments = await db.execute(
            select(Minutes.meeting_id, MinutesVersion.version, MinutesVersion.created_at)
            .join(MinutesVersion, MinutesVersion.minutes_id == Minutes.id)
            .where(Minutes.meeting_id.in_(meeting_ids), MinutesVersion.kind == "amendment")
        )
        for meeting_id, version, created_at in amendments:
            meeting = by_meeting[meeting_id]
            entries.append(
                Entry(
                    created_at,
                    False,
                    "minutes",
                    N_("Minutes of “%(title)s” amended (version %(version)s)"),
                    {"title": meeting.title, "version": version},
                    link=f"/meetings/{meeting.id}/minutes",
                    link_action=Action.MINUTES_VIEW,
                    link_meeting=meeting,
                )
            )
        recorded = await db.execute(
            select(Recording.meeting_id, func.count(Recording.id), func.min(Recording.started_at))
            .where(
                Recording.meeting_id.in_(meeting_ids),
                Recording.kind == RecordingKind.PARTICIPANT,
                Recording.recovered_from_id.is_(None),
                Recording.status != RecordingStatus.DELETED,
            )
            .group_by(Recording.meeting_id)
        )
        for meeting_id, files, first in recorded:
            meeting = by_meeting[meeting_id]
            entries.append(
                Entry(
                    first,
                    False,
                    "recording",
                    N_("“%(title)s” recorded (%(files)s files)"),
                    {"title": meeting.title, "files": files},
                    link=f"/meetings/{meeting.id}/recordings",
                    link_action=Action.RECORDING_VIEW,
                    link_meeting=meeting,
                )
            )
    for document in await documents_of(db, case.id):
        entries.append(
            Entry(
                document.uploaded_at,
                False,
                "document",
                N_("Document filed: %(title)s"),
                {"title": document.title},
                link=f"/cases/{case.id}/documents/{document.id}",
                link_action=Action.CASE_VIEW,
            )
        )
    for proposal in await proposals.of_case(db, case.id):
        entries.append(
            Entry(
                proposal.created_at,
                False,
                "proposal",
                N_("Handling proposal drafted"),
                link="#proposals",
            )
        )
        if proposal.submitted_at is not None:
            entries.append(
                Entry(
                    proposal.submitted_at,
                    False,
                    "proposal",
                    N_("Handling proposal sent to the Chairman"),
                    link="#proposals",
                )
            )
        if proposal.decided_at is not None:
            entries.append(
                Entry(
                    proposal.decided_at,
                    False,
                    "proposal",
                    N_("The Chairman approved the handling proposal")
                    if proposal.status == "approved"
                    else N_("The Chairman returned the handling proposal with instructions"),
                    note=proposal.instructions,
                    link="#proposals",
                )
            )
    for delegation in await delegations.of_case(db, case.id):
        entries.append(
            Entry(
                delegation.gathered_at,
                False,
                "delegation",
                N_("Crowd delegation of %(people)s people"),
                {"people": delegation.head_count},
                link=f"/delegations/{delegation.id}",
                link_action=Action.DELEGATION_VIEW,
            )
        )
        if delegation.returned_home_on is not None:
            entries.append(
                Entry(
                    _local_day(delegation.returned_home_on, zone),
                    True,
                    "delegation",
                    N_("The delegation went home"),
                    link=f"/delegations/{delegation.id}",
                    link_action=Action.DELEGATION_VIEW,
                )
            )
    return sorted(entries, key=lambda e: (e.at.astimezone(zone).date(), not e.day_only, e.at))
