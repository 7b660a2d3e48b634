"""The case register: intake, parties, look-up."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import audit, deadlines, search
from sessions.enums import (
    CaseStatus,
    CaseType,
    CompetentLevel,
    ComplaintInstance,
    PartyRole,
    SiteKind,
)
from sessions.errors import N_, Conflict, InvalidInput, NotFound
from sessions.identity import IdentityVault, ProtectedIdentity
from sessions.ids import parse_id
from sessions.models import (
    Case,
    CaseDocument,
    CaseParty,
    CaseRevision,
    Meeting,
    MeetingInvitee,
    Site,
)

MAX_TITLE = 300
FLAG_NAMES = ("crowd", "complex", "prolonged", "bypassing", "hotspot", "remote")


@dataclass(frozen=True)
class CaseDraft:
    """What an officer types at intake, as text; :func:`create_case` validates it."""

    title: str
    case_type: str
    received_on: str
    competent_level: str
    summary: str = ""
    complaint_instance: str = ""
    origin_site_id: str = ""
    crowd_size: str = ""
    flags: frozenset[str] = field(default_factory=frozenset)
    handled_before: str = ""  # the body that already handled it


E = TypeVar("E", CaseType, CompetentLevel, ComplaintInstance, PartyRole)


def _enum_or_error(
    enum: type[E], raw: str, errors: dict[str, str], name: str, message: str
) -> E | None:
    try:
        return enum(raw)
    except ValueError:
        errors[name] = message
        return None


async def create_case(
    db: AsyncSession,
    draft: CaseDraft,
    *,
    at: datetime,
    today: date,
    actor_id: int | None,
    crowd_threshold: int,
    unit_site_id: int | None = None,
    calendar: deadlines.Calendar | None = None,
    rules: deadlines.Rules | None = None,
) -> Case:
    """Register a case; ``unit_site_id`` is the office that handles it (the registering
    officer's), which with its assignee decides who may see it. Its first legal deadline
    starts running (``sessions.deadlines``)."""
    values = await checked_details(db, draft, today=today, crowd_threshold=crowd_threshold)
    case = Case(
        reference="",
        status=CaseStatus.RECEIVED,
        created_at=at,
        created_by_id=actor_id,
        unit_site_id=unit_site_id,
        **values,
    )
    deadlines.refresh(case, calendar or deadlines.Calendar(), rules or deadlines.Rules())
    await _insert_with_reference(db, case, case.received_on.year)
    await audit.record(
        db, at, actor_id, "case.create", "case", case.id, {"reference": case.reference}
    )
    await search.index_case(db, case, at)
    return case


async def checked_details(
    db: AsyncSession, draft: CaseDraft, *, today: date, crowd_threshold: int
) -> dict[str, Any]:
    """A case's registered details from the intake form, or InvalidInput naming each field."""
    errors: dict[str, str] = {}
    title = draft.title.strip()
    if not title:
        errors["title"] = N_("Enter a short title for the case.")
    elif len(title) > MAX_TITLE:
        errors["title"] = N_("The title must be at most 300 characters.")
    case_type = _enum_or_error(
        CaseType, draft.case_type, errors, "case_type", N_("Choose the type of case.")
    )
    level = _enum_or_error(
        CompetentLevel,
        draft.competent_level,
        errors,
        "competent_level",
        N_("Choose the competent level."),
    )
    instance: ComplaintInstance | None = None
    if case_type is CaseType.COMPLAINT:
        instance = _enum_or_error(
            ComplaintInstance,
            draft.complaint_instance,
            errors,
            "complaint_instance",
            N_("A complaint is either first or second instance."),
        )
    elif draft.complaint_instance:
        errors["complaint_instance"] = N_("Only a complaint has an instance.")
    received_on: date | None = None
    try:
        received_on = date.fromisoformat(draft.received_on.strip())
    except ValueError:
        errors["received_on"] = N_("Enter the date received as YYYY-MM-DD.")
    else:
        if received_on > today:
            errors["received_on"] = N_("The date received cannot be in the future.")
    crowd_size: int | None = None
    if draft.crowd_size.strip():
        try:
            crowd_size = int(draft.crowd_size)
            if not 1 <= crowd_size <= 10000:
                raise ValueError
        except ValueError:
            errors["crowd_size"] = N_("The number of people must be a whole number from 1.")
            crowd_size = None
    unknown_flags = draft.flags - set(FLAG_NAMES)
    if unknown_flags:
        errors["flags"] = N_("Unknown flag.")
    origin: Site | None = None
    if draft.origin_site_id.strip():
        origin_id = parse_id(draft.origin_site_id)
        origin = await db.get(Site, origin_id) if origin_id else None
        if origin is None or origin.kind not in (SiteKind.COMMUNE, SiteKind.WARD):
            errors["origin_site_id"] = N_("Choose a commune or ward from the list.")
    if errors:
        raise InvalidInput(errors)
    assert case_type is not None
    assert level is not None
    assert received_on is not None
    flags = set(draft.flags)
    if crowd_size is not None and crowd_size >= crowd_threshold:
        flags.add("crowd")  # đông người is a fact of the head-count, not a choice
    return {
        "title": title,
        "summary": draft.summary.strip(),
        "case_type": case_type,
        "complaint_instance": instance,
        "crowd_size": crowd_size,
        "origin_site_id": origin.id if origin else None,
        "competent_level": level,
        "received_on": received_on,
        "handled_before": draft.handled_before.strip()[:300] or None,
        **{f"is_{name}": name in flags for name in FLAG_NAMES},
    }


DETAILS = (
    "title",
    "summary",
    "case_type",
    "complaint_instance",
    "crowd_size",
    "origin_site_id",
    "competent_level",
    "received_on",
    "handled_before",
    *(f"is_{name}" for name in FLAG_NAMES),
)


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else getattr(value, "value", value)


async def edit_case(
    db: AsyncSession,
    case: Case,
    draft: CaseDraft,
    *,
    at: datetime,
    today: date,
    actor_id: int | None,
    crowd_threshold: int,
    calendar: deadlines.Calendar,
    rules: deadlines.Rules,
) -> list[str]:
    """Correct a case's registered details; the details before are kept as a revision and the
    fields that changed are audited. Returns those fields."""
    values = await checked_details(db, draft, today=today, crowd_threshold=crowd_threshold)
    before = {name: _plain(getattr(case, name)) for name in DETAILS}
    changed = [name for name in DETAILS if _plain(values[name]) != before[name]]
    if not changed:
        return []
    db.add(CaseRevision(case_id=case.id, before=before, changed=changed, at=at, actor_id=actor_id))
    for name in changed:
        setattr(case, name, values[name])
    deadlines.refresh(case, calendar, rules)
    await db.flush()
    await audit.record(db, at, actor_id, "case.edit", "case", case.id, {"changed": changed})
    await search.index_case(db, case, at)
    return changed


async def revisions_of(db: AsyncSession, case_id: int) -> list[CaseRevision]:
    return list(
        await db.scalars(
            select(CaseRevision).where(CaseRevision.case_id == case_id).order_by(CaseRevision.id)
        )
    )


async def _insert_with_reference(db: AsyncSession, case: Case, year: int) -> None:
    """Give the case the next free 'VV-<year>-<n>' reference; retry if another insert took it."""
    prefix = f"VV-{year}-"
    for _ in range(5):
        count = await db.scalar(
            select(func.count()).select_from(Case).where(Case.reference.like(prefix + "%"))
        )
        case.reference = f"{prefix}{(count or 0) + 1:04d}"
        try:
            async with db.begin_nested():
                db.add(case)
                await db.flush()
            return
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a case reference")


# The longest each typed field of a person may be (the columns' sizes).
PARTY_LIMITS = {
    "full_name": 200,
    "address": 300,
    "id_number": 32,
    "phone": 32,
    "appointment_document": 300,
}


@dataclass(frozen=True)
class PartyDraft:
    role: str
    full_name: str
    address: str = ""
    id_number: str = ""
    phone: str = ""
    represents_id: str = ""
    appointment_document: str = ""


# Who may be a party to which kind of case (Luật Khiếu nại 2011, Luật Tố cáo 2018, Luật Tiếp
# công dân 2013): a complainant complains, a denouncer denounces; a case of several contents
# may hold anyone.
_COMMON = frozenset({PartyRole.REPRESENTATIVE, PartyRole.LAWYER, PartyRole.INTERESTED_PARTY})
PARTY_ROLES: dict[CaseType, frozenset[PartyRole]] = {
    CaseType.COMPLAINT: _COMMON | {PartyRole.COMPLAINANT, PartyRole.RESPONDENT},
    CaseType.DENUNCIATION: _COMMON | {PartyRole.DENOUNCER, PartyRole.ACCUSED},
    CaseType.PETITION: _COMMON | {PartyRole.PETITIONER},
    CaseType.FEEDBACK: _COMMON | {PartyRole.PETITIONER},
    CaseType.MULTIPLE: frozenset(PartyRole),
}


def representative_limit(people: int | None) -> int | None:
    """How many representatives a group with one content appoints (Luật Tiếp công dân, art.
    30): 5–10 people at most 2, 11 or more at most 5; fewer than 5 is not a group."""
    if people is None or people < 5:
        return None
    return 2 if people <= 10 else 5


def roles_for(case: Case) -> list[PartyRole]:
    """The roles a person may have in this case, in the order the form lists them."""
    allowed = PARTY_ROLES[case.case_type]
    return [r for r in PartyRole if r in allowed]


async def _checked_party(
    db: AsyncSession, case: Case, draft: PartyDraft, *, editing: CaseParty | None = None
) -> tuple[PartyRole, CaseParty | None]:
    """The role and the represented person of a valid draft, or InvalidInput naming every bad
    field. A denouncer being edited may leave the identity empty (it is kept)."""
    errors: dict[str, str] = {}
    params: dict[str, dict[str, object]] = {}
    role = _enum_or_error(PartyRole, draft.role, errors, "role", N_("Choose the person's role."))
    if role is not None and role not in PARTY_ROLES[case.case_type]:
        errors["role"] = N_("A %(role)s has no place in a case of the type %(type)s.")
        params["role"] = {"role": role, "type": case.case_type}
    keeps_identity = editing is not None and editing.is_protected and role is PartyRole.DENOUNCER
    if not draft.full_name.strip() and not keeps_identity:
        errors["full_name"] = N_("Enter the person's full name.")
    for name, limit in PARTY_LIMITS.items():
        if len(getattr(draft, name).strip()) > limit:
            errors[name] = N_("This field takes at most %(limit)s characters.")
            params[name] = {"limit": limit}
    represents: CaseParty | None = None
    if draft.represents_id.strip():
        represents_id = parse_id(draft.represents_id)
        represents = await db.get(CaseParty, represents_id) if represents_id else None
        if represents is None or represents.case_id != case.id or represents is editing:
            errors["represents_id"] = N_("Choose a person of this case.")
    if role is PartyRole.REPRESENTATIVE and editing is None:
        most = representative_limit(case.crowd_size)
        already = await db.scalar(
            select(func.count())
            .select_from(CaseParty)
            .where(CaseParty.case_id == case.id, CaseParty.role == PartyRole.REPRESENTATIVE)
        )
        if most is not None and (already or 0) >= most:
            errors["role"] = N_(
                "A group of %(people)s people appoints at most %(limit)s representatives."
            )
            params["role"] = {"people": case.crowd_size or 0, "limit": most}
    if role is PartyRole.REPRESENTATIVE and not draft.appointment_document.strip():
        errors["appointment_document"] = N_(
            "A representative needs the written appointment (document number and date)."
        )
    if (
        editing is not None
        and role is not editing.role
        and PartyRole.DENOUNCER
        in (
            role,
            editing.role,
        )
    ):
        # A protected identity never becomes a plain one, nor the other way round.
        errors["role"] = N_("A denouncer stays a denouncer: remove and add the person instead.")
    if errors:
        raise InvalidInput(errors, params)
    assert role is not None
    return role, represents


def _fill(party: CaseParty, draft: PartyDraft, vault: IdentityVault) -> None:
    if party.role is PartyRole.DENOUNCER:
        if draft.full_name.strip():  # a new identity replaces the sealed one
            party.protected_identity = vault.seal(
                ProtectedIdentity(
                    full_name=draft.full_name.strip(),
                    address=draft.address.strip(),
                    id_number=draft.id_number.strip(),
                    phone=draft.phone.strip(),
                )
            )
        party.full_name = party.address = party.id_number = party.phone = None
    else:
        party.full_name = draft.full_name.strip()
        party.address = draft.address.strip() or None
        party.id_number = draft.id_number.strip() or None
        party.phone = draft.phone.strip() or None
    party.appointment_document = draft.appointment_document.strip() or None


async def add_party(
    db: AsyncSession,
    case: Case,
    draft: PartyDraft,
    *,
    vault: IdentityVault,
    at: datetime,
    actor_id: int | None,
) -> CaseParty:
    role, represents = await _checked_party(db, case, draft)
    party = CaseParty(case_id=case.id, role=role, created_at=at)
    if role is PartyRole.DENOUNCER:
        # The law protects a denouncer's identity: only the sealed copy is stored, and the
        # person is shown under a pseudonym given now.
        earlier = await db.scalar(
            select(func.count())
            .select_from(CaseParty)
            .where(CaseParty.case_id == case.id, CaseParty.role == PartyRole.DENOUNCER)
        )
        party.pseudonym = f"Người tố cáo {(earlier or 0) + 1}"
    _fill(party, draft, vault)
    party.represents_id = represents.id if represents else None
    db.add(party)
    await db.flush()
    await audit.record(
        db, at, actor_id, "case.party_add", "case", case.id, {"party": party.id, "role": role.value}
    )
    return party


def party_of(case: Case, party_id: int) -> CaseParty:
    party = next((p for p in case.parties if p.id == party_id), None)
    if party is None:
        raise NotFound(N_("There is no such person in this case."))
    return party


async def edit_party(
    db: AsyncSession,
    case: Case,
    party: CaseParty,
    draft: PartyDraft,
    *,
    vault: IdentityVault,
    at: datetime,
    actor_id: int | None,
) -> CaseParty:
    """Correct a person's details (the audit names what changed, never the values)."""
    role, represents = await _checked_party(db, case, draft, editing=party)
    before = _shape(party)
    party.role = role
    _fill(party, draft, vault)
    party.represents_id = represents.id if represents else None
    changed = sorted(k for k, v in _shape(party).items() if before[k] != v)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "case.party_edit",
        "case",
        case.id,
        {"party": party.id, "changed": changed},
    )
    return party


def _shape(party: CaseParty) -> dict[str, object]:
    return {
        "role": party.role,
        "full_name": party.full_name,
        "address": party.address,
        "id_number": party.id_number,
        "phone": party.phone,
        "identity": party.protected_identity,
        "represents": party.represents_id,
        "appointment_document": party.appointment_document,
    }


async def remove_party(
    db: AsyncSession, case: Case, party: CaseParty, *, at: datetime, actor_id: int | None
) -> None:
    """Take a person recorded by mistake off the case; one invited to a meeting stays (the
    meeting's record names them): take them off that meeting first."""
    invited = await db.scalar(
        select(Meeting.reference)
        .join(MeetingInvitee, MeetingInvitee.meeting_id == Meeting.id)
        .where(MeetingInvitee.party_id == party.id)
        .limit(1)
    )
    if invited is not None:
        raise Conflict(
            N_("This person is invited to meeting %(meeting)s and stays in its record."),
            {"meeting": invited},
        )
    # A denouncer is named by the pseudonym only.
    details = {"party": party.id, "role": party.role.value, "shown_as": party.shown_name}
    await db.delete(party)
    await db.flush()
    await audit.record(db, at, actor_id, "case.party_remove", "case", case.id, details)


async def get_case(db: AsyncSession, case_id: int) -> Case:
    case = await db.scalar(
        select(Case)
        .where(Case.id == case_id)
        .options(selectinload(Case.parties), selectinload(Case.meetings))
    )
    if case is None:
        raise NotFound(N_("There is no case number %(id)s."), {"id": case_id})
    return case


async def by_reference(db: AsyncSession, reference: str) -> Case | None:
    return await db.scalar(select(Case).where(Case.reference == reference.strip().upper()))


@dataclass(frozen=True)
class CaseFilter:
    text: str = ""
    status: CaseStatus | None = None
    case_type: CaseType | None = None
    flag: str | None = None
    commune_id: int | None = None  # the commune of origin
    received_from: date | None = None  # an election period, say
    received_to: date | None = None
    due: str | None = None  # "overdue" or "due_soon", as of ``today``
    today: date | None = None
    due_soon_days: int = 5


def _conditions(flt: CaseFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if flt.text.strip():
        like = f"%{flt.text.strip()}%"
        out.append(or_(Case.title.ilike(like), Case.reference.ilike(like)))
    if flt.status is not None:
        out.append(Case.status == flt.status)
    if flt.case_type is not None:
        out.append(Case.case_type == flt.case_type)
    if flt.flag in FLAG_NAMES:
        out.append(getattr(Case, f"is_{flt.flag}").is_(True))
    if flt.commune_id is not None:
        out.append(Case.origin_site_id == flt.commune_id)
    if flt.received_from is not None:
        out.append(Case.received_on >= flt.received_from)
    if flt.received_to is not None:
        out.append(Case.received_on <= flt.received_to)
    if flt.today is not None and flt.due == "overdue":
        out.append(Case.due_on < flt.today)
    elif flt.today is not None and flt.due == "due_soon":
        out.append(Case.due_on.between(flt.today, flt.today + timedelta(days=flt.due_soon_days)))
    return out


async def list_cases(
    db: AsyncSession,
    flt: CaseFilter,
    *,
    visible: ColumnElement[bool],
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Case], int]:
    """The cases matching ``flt`` among those ``visible`` (``Principal.case_clause``)."""
    where = [visible, *_conditions(flt)]
    total = await db.scalar(select(func.count()).select_from(Case).where(*where))
    rows = await db.scalars(
        select(Case)
        .where(*where)
        .order_by(Case.received_on.desc(), Case.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


MAX_REASON = 500


async def open_identity(
    db: AsyncSession,
    vault: IdentityVault,
    case: Case,
    party_id: int,
    reason: str,
    *,
    at: datetime,
    actor_id: int,
) -> ProtectedIdentity:
    """A protected person's identity, for someone the permissions table cleared: the reason is
    required, and the reading is audited (who, when, which person of which case, why)."""
    party = await db.get(CaseParty, party_id)
    if party is None or party.case_id != case.id or party.protected_identity is None:
        raise NotFound(N_("This case has no protected person with that number."))
    reason = reason.strip()
    if not reason:
        raise InvalidInput({"reason": N_("Say why you need to open the identity.")})
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": N_("The reason must be at most 500 characters.")})
    identity = vault.open(party.protected_identity)
    await audit.record(
        db,
        at,
        actor_id,
        "vault.read",
        "case",
        case.id,
        {"party": party.id, "pseudonym": party.pseudonym, "reason": reason},
    )
    return identity


async def set_legal_hold(
    db: AsyncSession, case: Case, hold: bool, *, at: datetime, actor_id: int | None
) -> None:
    """Keep (or release) a case's recordings past the retention period."""
    case.legal_hold = hold
    await audit.record(db, at, actor_id, "case.legal_hold", "case", case.id, {"hold": hold})


async def add_document(
    db: AsyncSession,
    case: Case,
    *,
    title: str,
    relative_path: str,
    content_type: str,
    data: bytes,
    at: datetime,
    actor_id: int | None,
) -> CaseDocument:
    """File a document with the case (its content was checked by ``minutes.scan_kind``)."""
    name = unicodedata.normalize("NFC", title).strip()[:200]
    if not name:
        raise InvalidInput({"title": N_("Say what the document is.")})
    document = CaseDocument(
        case_id=case.id,
        title=name,
        relative_path=relative_path,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_at=at,
        uploaded_by_id=actor_id,
    )
    db.add(document)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "case.document",
        "case",
        case.id,
        {"document": document.id, "sha256": document.sha256, "bytes": document.size_bytes},
    )
    return document


async def documents_of(db: AsyncSession, case_id: int) -> list[CaseDocument]:
    return list(
        await db.scalars(
            select(CaseDocument).where(CaseDocument.case_id == case_id).order_by(CaseDocument.id)
        )
    )
