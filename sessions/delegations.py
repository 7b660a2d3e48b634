"""Crowd delegations (đoàn đông người): citizens gathered in Hanoi or at the provincial office,
the working group (Tổ công tác) sent to receive them and persuade them home, and the outcome —
on the timelines of the cases they came about and on the Chairman's overview."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.enums import SiteKind
from sessions.errors import N_, InvalidInput, NotFound
from sessions.ids import parse_id, whole_number
from sessions.models import Case, CrowdDelegation, DelegationCase, Site

PLACES = ("central", "province")
OUTCOMES = ("open", "received", "persuaded", "returned_home")


@dataclass(frozen=True)
class DelegationDraft:
    place: str
    gathered_on: str  # YYYY-MM-DD
    gathered_time: str  # HH:MM
    head_count: str
    commune_ids: Sequence[str] = ()
    case_references: str = ""  # "VV-2026-0001, VV-2026-0007"
    representatives: str = ""
    group_members: str = ""
    group_authority: str = ""
    outcome: str = "open"
    returned_home_on: str = ""
    note: str = ""


def _text(value: str, limit: int) -> str:
    return unicodedata.normalize("NFC", value).strip()[:limit]


async def _checked(
    db: AsyncSession, draft: DelegationDraft, zone: ZoneInfo, today: date
) -> tuple[dict[str, object], list[Case]]:
    errors: dict[str, str] = {}
    params: dict[str, dict[str, object]] = {}
    if draft.place not in PLACES:
        errors["place"] = N_("Choose where the citizens gathered.")
    gathered: datetime | None = None
    try:
        day = date.fromisoformat(draft.gathered_on.strip())
        moment = time.fromisoformat(draft.gathered_time.strip() or "08:00")
        gathered = datetime.combine(day, moment, tzinfo=zone)
        if day > today:
            errors["gathered_on"] = N_("The gathering cannot be in the future.")
    except ValueError:
        errors["gathered_on"] = N_("Enter the date as YYYY-MM-DD and the time as HH:MM.")
    people = whole_number(draft.head_count)
    if people is None or not 1 <= people <= 100000:
        errors["head_count"] = N_("The number of people must be a whole number from 1.")
    communes: list[int] = []
    for raw in draft.commune_ids:
        site_id = parse_id(raw)
        site = await db.get(Site, site_id) if site_id else None
        if site is None or site.kind not in (SiteKind.COMMUNE, SiteKind.WARD):
            errors["commune_ids"] = N_("Choose the communes of origin from the list.")
        elif site.id not in communes:
            communes.append(site.id)
    linked: list[Case] = []
    for reference in filter(None, (r.strip().upper() for r in draft.case_references.split(","))):
        case = await db.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            errors["case_references"] = N_("There is no case %(ref)s.")
            params["case_references"] = {"ref": reference}
        elif case not in linked:
            linked.append(case)
    if draft.outcome not in OUTCOMES:
        errors["outcome"] = N_("Choose how it ended.")
    returned: date | None = None
    if draft.returned_home_on.strip():
        try:
            returned = date.fromisoformat(draft.returned_home_on.strip())
        except ValueError:
            errors["returned_home_on"] = N_("Enter the date as YYYY-MM-DD.")
        else:
            if gathered is not None and returned < gathered.date():
                errors["returned_home_on"] = N_("They cannot go home before they gathered.")
    if draft.outcome == "returned_home" and returned is None and "returned_home_on" not in errors:
        errors["returned_home_on"] = N_("Say on which day they went home.")
    if errors:
        raise InvalidInput(errors, params)
    values: dict[str, object] = {
        "place": draft.place,
        "gathered_at": gathered,
        "head_count": people,
        "commune_ids": communes,
        "representatives": _text(draft.representatives, 4000),
        "group_members": _text(draft.group_members, 4000),
        "group_authority": _text(draft.group_authority, 200) or None,
        "outcome": draft.outcome,
        "returned_home_on": returned,
        "note": _text(draft.note, 4000),
    }
    return values, linked


async def record(
    db: AsyncSession,
    draft: DelegationDraft,
    *,
    zone: ZoneInfo,
    today: date,
    at: datetime,
    actor_id: int | None,
    urgent_meeting_id: int | None = None,
) -> CrowdDelegation:
    values, linked = await _checked(db, draft, zone, today)
    delegation = CrowdDelegation(
        **values, urgent_meeting_id=urgent_meeting_id, created_at=at, created_by_id=actor_id
    )
    db.add(delegation)
    await db.flush()
    for case in linked:
        db.add(DelegationCase(delegation_id=delegation.id, case_id=case.id))
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "delegation.record",
        "delegation",
        delegation.id,
        {"people": values["head_count"], "cases": [c.reference for c in linked]},
    )
    return delegation


async def update(
    db: AsyncSession,
    delegation: CrowdDelegation,
    draft: DelegationDraft,
    *,
    zone: ZoneInfo,
    today: date,
    at: datetime,
    actor_id: int | None,
) -> CrowdDelegation:
    values, linked = await _checked(db, draft, zone, today)
    for name, value in values.items():
        setattr(delegation, name, value)
    known = {c.id for c in delegation.cases}
    for case in linked:
        if case.id not in known:
            db.add(DelegationCase(delegation_id=delegation.id, case_id=case.id))
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "delegation.update",
        "delegation",
        delegation.id,
        {"outcome": values["outcome"]},
    )
    return delegation


async def get(db: AsyncSession, delegation_id: int) -> CrowdDelegation:
    found = await db.get(CrowdDelegation, delegation_id)
    if found is None:
        raise NotFound(N_("There is no such crowd delegation."))
    return found


async def recent(db: AsyncSession, limit: int = 50) -> list[CrowdDelegation]:
    return list(
        await db.scalars(
            select(CrowdDelegation).order_by(CrowdDelegation.gathered_at.desc()).limit(limit)
        )
    )


async def of_case(db: AsyncSession, case_id: int) -> list[CrowdDelegation]:
    return list(
        await db.scalars(
            select(CrowdDelegation)
            .join(DelegationCase, DelegationCase.delegation_id == CrowdDelegation.id)
            .where(DelegationCase.case_id == case_id)
            .order_by(CrowdDelegation.gathered_at)
        )
    )
