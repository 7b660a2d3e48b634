"""Minutes (biên bản): a draft written while the meeting runs, versioned so that two editors never
overwrite each other silently, then read back, signed and locked; corrections after that are
amendment versions linked to the version they correct.

The content is plain text in named fields (never HTML: pages and documents escape it). The facts
of the meeting (times, endpoints and their officials, who attended, every interruption, the
recording identifiers) are taken from the record at every save, so the locked version holds them
as they were when it was locked. Denouncers appear only under their pseudonym: the facts are read
from the meeting's invitees and attendance, which never hold a protected identity.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import attendance, audit, labels, lifecycle, search
from sessions.enums import MeetingPurpose, MeetingStatus, MinutesStatus
from sessions.errors import N_, Conflict, InvalidInput, NotFound, TransitionRefused
from sessions.meetings import attendance_of
from sessions.models import AuditEvent, Meeting, Minutes, MinutesScan, MinutesVersion, Recording

KINDS = ("dialogue", "reception")
SIGNATURE_STATES = ("pending", "signed", "fingerprint", "refused")
# Field → the most characters it takes (a page of minutes is about 3,000).
TEXT_LIMITS = {
    "number": 64,
    "place": 300,
    "issues": 20000,
    "verification": 20000,
    "account": 20000,
    "evidence": 10000,
    "agreed": 10000,
    "outstanding": 10000,
    "handling": 10000,
}
MAX_OPINIONS = 500
MAX_SIGNATURES = 100
OPINION_LIMIT = 10000
NAME_LIMIT = 200
INTERRUPTIONS = {
    "meeting.dropped": N_("connection lost"),
    "meeting.interruption": N_("interruption"),
    "meeting.resume": N_("reconnected"),
    "meeting.restart": N_("the server restarted: no sound or image"),
    "recording.failure": N_("recording interrupted (storage)"),
    "recording.pause": N_("recording paused"),
    "recording.resume": N_("recording resumed"),
}


def _clean(value: object, limit: int) -> str:
    """Text as stored: NFC, no control characters but line breaks and tabs, within its limit."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFC", value)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()[: limit + 1]


@dataclass(frozen=True)
class Opinion:
    who: str
    text: str
    at: float | None  # seconds into the recording when it was said, if marked


@dataclass(frozen=True)
class Signature:
    who: str
    role: str  # a label msgid or a position as typed
    state: str
    reason: str = ""


@dataclass(frozen=True)
class MinutesDraft:
    """What the writer sends; checked and normalised, every problem named at once."""

    kind: str
    instance: str
    texts: Mapping[str, str]
    copies: int
    opinions: tuple[Opinion, ...]
    signatures: tuple[Signature, ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> MinutesDraft:
        errors: dict[str, str] = {}
        params: dict[str, dict[str, object]] = {}
        kind = data.get("kind")
        if kind not in KINDS:
            errors["kind"] = N_("Choose the kind of minutes.")
        instance = data.get("instance") or ""
        if instance not in ("", "first", "second"):
            errors["instance"] = N_("Choose the instance of the complaint.")
        texts = {}
        for name, limit in TEXT_LIMITS.items():
            value = _clean(data.get(name, ""), limit)
            if len(value) > limit:
                errors[name] = N_("This field takes at most %(limit)s characters.")
                params[name] = {"limit": limit}
            texts[name] = value[:limit]
        copies = data.get("copies", 2)
        if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 20:
            errors["copies"] = N_("The number of copies is a whole number from 1 to 20.")
            copies = 2
        raw_opinions = data.get("opinions") or []
        if not isinstance(raw_opinions, list) or len(raw_opinions) > MAX_OPINIONS:
            errors["opinions"] = N_("At most %(limit)s opinions.")
            params["opinions"] = {"limit": MAX_OPINIONS}
            raw_opinions = []
        opinions = []
        for item in raw_opinions:
            item = item if isinstance(item, Mapping) else {}
            text = _clean(item.get("text", ""), OPINION_LIMIT)
            if len(text) > OPINION_LIMIT:
                errors["opinions"] = N_("An opinion takes at most %(limit)s characters.")
                params["opinions"] = {"limit": OPINION_LIMIT}
            at = item.get("at")
            moment = float(at) if isinstance(at, int | float) and 0 <= at < 86400 else None
            if text or item.get("who"):
                opinions.append(
                    Opinion(_clean(item.get("who", ""), NAME_LIMIT), text[:OPINION_LIMIT], moment)
                )
        raw_signatures = data.get("signatures") or []
        if not isinstance(raw_signatures, list) or len(raw_signatures) > MAX_SIGNATURES:
            errors["signatures"] = N_("At most %(limit)s signatures.")
            params["signatures"] = {"limit": MAX_SIGNATURES}
            raw_signatures = []
        signatures = []
        for item in raw_signatures:
            item = item if isinstance(item, Mapping) else {}
            state = item.get("state", "pending")
            if state not in SIGNATURE_STATES:
                errors["signatures"] = N_("Choose signed, fingerprinted or refused.")
                state = "pending"
            signatures.append(
                Signature(
                    who=_clean(item.get("who", ""), NAME_LIMIT)[:NAME_LIMIT],
                    role=_clean(item.get("role", ""), NAME_LIMIT)[:NAME_LIMIT],
                    state=str(state),
                    reason=_clean(item.get("reason", ""), 1000)[:1000],
                )
            )
        if errors:
            raise InvalidInput(errors, params)
        return cls(str(kind), str(instance), texts, copies, tuple(opinions), tuple(signatures))

    def as_content(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "instance": self.instance,
            **self.texts,
            "copies": self.copies,
            "opinions": [{"who": o.who, "text": o.text, "at": o.at} for o in self.opinions],
            "signatures": [
                {"who": s.who, "role": s.role, "state": s.state, "reason": s.reason}
                for s in self.signatures
            ],
            "facts": dict(facts),
        }


def content_hash(content: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a version's content."""
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def facts_of(db: AsyncSession, meeting: Meeting) -> dict[str, Any]:
    """The meeting as its record says, for the minutes: what nobody types."""
    present = await attendance_rows(db, meeting.id)
    events = list(
        await db.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "meeting",
                AuditEvent.object_id == str(meeting.id),
                AuditEvent.action.in_(list(INTERRUPTIONS)),
            )
            .order_by(AuditEvent.seq)
        )
    )
    names = await attendance.names_for(
        db, [str(e.details.get("subject") or e.details.get("by") or "") for e in events]
    )
    recordings = list(
        await db.scalars(
            select(Recording).where(Recording.meeting_id == meeting.id).order_by(Recording.id)
        )
    )
    return {
        "reference": meeting.reference,
        "title": meeting.title,
        "purpose": meeting.purpose.value,
        "case": meeting.case.reference if meeting.case else None,
        "planned_start": meeting.planned_start.isoformat(),
        "planned_end": meeting.planned_end.isoformat(),
        "started_at": meeting.started_at.isoformat() if meeting.started_at else None,
        "ended_at": meeting.ended_at.isoformat() if meeting.ended_at else None,
        "legal_basis": meeting.legal_basis,
        "chair": meeting.chair.full_name if meeting.chair else None,
        "chair_position": meeting.chair.position if meeting.chair else None,
        "secretary": meeting.secretary.full_name if meeting.secretary else None,
        "endpoints": [
            {
                "name": ms.site.name,
                "role": labels.label(ms.role),
                "official": ms.responsible_official or "",
            }
            for ms in meeting.sites
        ],
        "invitees": [
            {
                "name": i.display_name,  # a denouncer under the pseudonym
                "role": i.role_label,
                "endpoint": i.site.name if i.site else "",
            }
            for i in meeting.invitees
        ],
        "attendance": present,
        "interruptions": [
            {
                "at": e.details.get("from") or e.at.isoformat(),
                "until": e.details.get("to") if e.action == "meeting.restart" else None,
                "what": INTERRUPTIONS[e.action],
                "who": names.get(str(e.details.get("subject") or e.details.get("by") or ""), ""),
            }
            for e in events
        ],
        "recordings": [
            {"id": r.id, "label": r.participant_label, "sha256": r.sha256 or ""} for r in recordings
        ],
    }


async def attendance_rows(db: AsyncSession, meeting_id: int) -> list[dict[str, Any]]:
    return [
        {
            "name": a.display_name,
            "role": a.role_label,
            "joined": a.joined_at.isoformat() if a.joined_at else None,
            "left": a.left_at.isoformat() if a.left_at else None,
            "outcome": a.outcome.value,
            "interruptions": a.interruptions,
        }
        for a in await attendance_of(db, meeting_id)
    ]


def _first_content(meeting: Meeting, facts: Mapping[str, Any]) -> dict[str, Any]:
    """A new draft: the kind from the meeting's purpose, one signature line per person and
    endpoint present, the secretary's and the chair's last (they sign after everyone)."""
    kind = "dialogue" if meeting.purpose is MeetingPurpose.DIALOGUE else "reception"
    instance = ""
    if kind == "dialogue" and meeting.case is not None and meeting.case.complaint_instance:
        instance = meeting.case.complaint_instance.value
    signatures = [
        {"who": i["name"], "role": i["role"], "state": "pending", "reason": ""}
        for i in facts["invitees"]
    ] + [
        {"who": e["official"] or e["name"], "role": e["role"], "state": "pending", "reason": ""}
        for e in facts["endpoints"]
    ]
    for who, role in ((facts["secretary"], "Secretary"), (facts["chair"], "Chair")):
        if who:
            signatures.append({"who": who, "role": role, "state": "pending", "reason": ""})
    draft = MinutesDraft.parse(
        {
            "kind": kind,
            "instance": instance,
            "place": ", ".join(e["name"] for e in facts["endpoints"]),
            "copies": 2,
            "signatures": signatures,
        }
    )
    return draft.as_content(facts)


async def minutes_of(db: AsyncSession, meeting_id: int) -> Minutes | None:
    return await db.scalar(
        select(Minutes)
        .where(Minutes.meeting_id == meeting_id)
        .options(selectinload(Minutes.versions))
        .execution_options(populate_existing=True)
    )


async def latest(db: AsyncSession, minutes: Minutes) -> MinutesVersion:
    version = await db.scalar(
        select(MinutesVersion).where(
            MinutesVersion.minutes_id == minutes.id,
            MinutesVersion.version == minutes.current_version,
        )
    )
    if version is None:
        raise NotFound(N_("These minutes have no version yet."))
    return version


async def start(
    db: AsyncSession, meeting: Meeting, *, at: datetime, actor_id: int | None
) -> Minutes:
    """The meeting's minutes, begun now if they were not (idempotent)."""
    found = await minutes_of(db, meeting.id)
    if found is not None:
        return found
    if meeting.status is MeetingStatus.CANCELLED:
        raise TransitionRefused(N_("A cancelled meeting has no minutes."))
    facts = await facts_of(db, meeting)
    content = _first_content(meeting, facts)
    minutes = Minutes(meeting_id=meeting.id, status=MinutesStatus.DRAFT, current_version=1)
    db.add(minutes)
    await db.flush()
    db.add(
        MinutesVersion(
            minutes_id=minutes.id,
            version=1,
            content=content,
            sha256=content_hash(content),
            created_at=at,
            created_by_id=actor_id,
        )
    )
    await db.flush()
    await audit.record(db, at, actor_id, "minutes.start", "meeting", meeting.id)
    await search.index_minutes(db, meeting, (await latest(db, minutes)), at)
    return minutes


class EditConflict(Conflict):
    """Someone saved a newer version meanwhile: nothing was overwritten."""

    error_id = "minutes_conflict"

    def __init__(self, current: MinutesVersion) -> None:
        super().__init__(
            N_("Version %(version)s was saved meanwhile; compare and merge before saving."),
            {"version": current.version},
        )
        self.current = current


async def save(
    db: AsyncSession,
    meeting: Meeting,
    minutes: Minutes,
    data: Mapping[str, Any],
    *,
    base_version: int,
    at: datetime,
    actor_id: int | None,
) -> MinutesVersion:
    """A new draft version on top of ``base_version``, which must be the current one."""
    if minutes.status is MinutesStatus.FINALISED:
        raise Conflict(N_("These minutes are finalised: corrections are made as an amendment."))
    current = await latest(db, minutes)
    if base_version != minutes.current_version:
        raise EditConflict(current)
    draft = MinutesDraft.parse(data)
    content = draft.as_content(await facts_of(db, meeting))
    if content == current.content:
        return current  # nothing changed: no new version
    version = MinutesVersion(
        minutes_id=minutes.id,
        version=minutes.current_version + 1,
        content=content,
        sha256=content_hash(content),
        created_at=at,
        created_by_id=actor_id,
    )
    db.add(version)
    minutes.current_version = version.version
    await db.flush()
    await search.index_minutes(db, meeting, version, at)
    return version


def finalising_problems(content: Mapping[str, Any]) -> dict[str, str]:
    """What stands in the way of locking: every signature line answered, every refusal with
    its reason written, the secretary and the chair signed (last)."""
    problems: dict[str, str] = {}
    signatures = content.get("signatures", [])
    if any(s["state"] == "pending" for s in signatures):
        problems["signatures"] = N_("Every participant has signed, fingerprinted or refused.")
    if any(s["state"] == "refused" and not s["reason"].strip() for s in signatures):
        problems["signatures"] = N_("Write the reason of every refusal to sign.")
    closing = [s for s in signatures if s["role"] in ("Secretary", "Chair")]
    if not closing or any(s["state"] != "signed" for s in closing):
        problems["closing"] = N_("The secretary and the chair sign the minutes last.")
    return problems


async def finalise(
    db: AsyncSession,
    meeting: Meeting,
    minutes: Minutes,
    *,
    pdf_sha256: str,
    at: datetime,
    actor_id: int | None,
) -> MinutesVersion:
    """Lock the current version: who and when, the hashes of its content and of its PDF/A;
    the meeting moves to 'minutes finalised'."""
    if minutes.status is MinutesStatus.FINALISED:
        raise Conflict(N_("These minutes are already finalised."))
    if meeting.status is not MeetingStatus.ENDED:
        raise TransitionRefused(N_("Minutes are finalised after the meeting has ended."))
    current = await latest(db, minutes)
    problems = finalising_problems(current.content)
    if problems:
        raise InvalidInput(problems)
    current.kind = "final"
    minutes.status = MinutesStatus.FINALISED
    minutes.finalised_at = at
    minutes.finalised_by_id = actor_id
    minutes.sha256 = current.sha256
    minutes.pdf_sha256 = pdf_sha256
    lifecycle.transition(meeting, MeetingStatus.MINUTES_FINALISED, at)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "minutes.finalise",
        "meeting",
        meeting.id,
        {"version": current.version, "sha256": current.sha256, "pdf_sha256": pdf_sha256},
    )
    return current


async def amend(
    db: AsyncSession,
    meeting: Meeting,
    minutes: Minutes,
    data: Mapping[str, Any],
    *,
    reason: str,
    at: datetime,
    actor_id: int | None,
) -> MinutesVersion:
    """A correction of finalised minutes: a new version linked to the one it corrects, with
    its reason; the finalised version stays as it was."""
    if minutes.status is not MinutesStatus.FINALISED:
        raise Conflict(N_("Only finalised minutes are amended; edit the draft instead."))
    why = _clean(reason, 1000)
    if not why:
        raise InvalidInput({"reason": N_("Say why the minutes are amended.")})
    previous = await latest(db, minutes)
    draft = MinutesDraft.parse(data)
    content = draft.as_content(previous.content.get("facts", {}))
    version = MinutesVersion(
        minutes_id=minutes.id,
        version=minutes.current_version + 1,
        content=content,
        sha256=content_hash(content),
        created_at=at,
        created_by_id=actor_id,
        kind="amendment",
        amends_version=previous.version,
        reason=why[:1000],
    )
    db.add(version)
    minutes.current_version = version.version
    await db.flush()
    await search.index_minutes(db, meeting, version, at)
    await audit.record(
        db,
        at,
        actor_id,
        "minutes.amend",
        "meeting",
        meeting.id,
        {"version": version.version, "amends": previous.version, "sha256": version.sha256},
    )
    return version


async def chain_problems(db: AsyncSession, minutes: Minutes) -> list[str]:
    """Every version's hash matches its content, and every amendment names the version it
    follows (the record cannot have been edited in place)."""
    problems = []
    versions = list(
        await db.scalars(
            select(MinutesVersion)
            .where(MinutesVersion.minutes_id == minutes.id)
            .order_by(MinutesVersion.version)
        )
    )
    for index, v in enumerate(versions):
        if content_hash(v.content) != v.sha256:
            problems.append(f"version {v.version}: content does not match its sha256")
        if v.kind == "amendment" and (
            index == 0 or v.amends_version != versions[index - 1].version
        ):
            problems.append(f"version {v.version}: amendment not linked to the version before it")
    final = [v for v in versions if v.kind == "final"]
    if minutes.status is MinutesStatus.FINALISED and (
        len(final) != 1 or final[0].sha256 != minutes.sha256
    ):
        problems.append("the finalised version does not match the recorded hash")
    return problems


async def for_meetings(db: AsyncSession, meeting_ids: list[int]) -> dict[int, Minutes]:
    """The minutes of these meetings, by meeting (a case page lists them all)."""
    rows = await db.scalars(select(Minutes).where(Minutes.meeting_id.in_(meeting_ids)))
    return {m.meeting_id: m for m in rows}


# ---- scanned signed copies ----------------------------------------------------------------

MAX_SCAN_BYTES = 20 * 1024 * 1024
# What a scan may be, told by its first bytes (never by its name or the browser's word).
SCAN_TYPES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)


def scan_kind(data: bytes) -> tuple[str, str]:
    """(content type, file extension) of an uploaded scan, or InvalidInput saying why not."""
    if not data:
        raise InvalidInput({"scan": N_("Choose the scanned file to upload.")})
    if len(data) > MAX_SCAN_BYTES:
        raise InvalidInput(
            {"scan": N_("A scan takes at most %(mb)s MB.")},
            {"scan": {"mb": MAX_SCAN_BYTES // (1024 * 1024)}},
        )
    for magic, content_type, extension in SCAN_TYPES:
        if data.startswith(magic):
            return content_type, extension
    raise InvalidInput({"scan": N_("A scan must be a PDF, PNG or JPEG file.")})


async def record_scan(
    db: AsyncSession,
    meeting: Meeting,
    found: Minutes,
    *,
    site_id: int | None,
    relative_path: str,
    content_type: str,
    data: bytes,
    at: datetime,
    actor_id: int | None,
) -> MinutesScan:
    if site_id is not None and site_id not in {ms.site_id for ms in meeting.sites}:
        raise InvalidInput({"site_id": N_("Choose an endpoint of this meeting.")})
    scan = MinutesScan(
        minutes_id=found.id,
        site_id=site_id,
        relative_path=relative_path,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_at=at,
        uploaded_by_id=actor_id,
    )
    db.add(scan)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "minutes.scan",
        "meeting",
        meeting.id,
        {"scan": scan.id, "site": site_id, "sha256": scan.sha256, "bytes": scan.size_bytes},
    )
    return scan


async def scans_of(db: AsyncSession, found: Minutes) -> list[MinutesScan]:
    return list(
        await db.scalars(
            select(MinutesScan).where(MinutesScan.minutes_id == found.id).order_by(MinutesScan.id)
        )
    )
