"""What the register tells the province's leaders: counts of cases by commune, type and flag,
overdue and due soon, and crowd delegations, for a period and a commune. Every number is one
SQL aggregate (no case is loaded into Python), among the cases the reader may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions.cases import FLAG_NAMES
from sessions.enums import CaseStatus, CaseType, PartyRole
from sessions.models import Case, CaseEvent, CrowdDelegation, Site, UrgentCall


@dataclass(frozen=True)
class Scope:
    """The cases a dashboard counts: received within [start, end], of one commune or all."""

    start: date | None = None
    end: date | None = None
    commune_id: int | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.start is not None:
            out.append(Case.received_on >= self.start)
        if self.end is not None:
            out.append(Case.received_on <= self.end)
        if self.commune_id is not None:
            out.append(Case.origin_site_id == self.commune_id)
        return out


@dataclass(frozen=True)
class Overview:
    total: int
    by_type: list[tuple[CaseType, int]]
    by_commune: list[tuple[int | None, str, int]]  # (site id, name, count), most first
    flags: dict[str, int]
    overdue: int
    due_soon: int
    delegations: int
    delegation_people: int


async def overview(
    db: AsyncSession,
    scope: Scope,
    *,
    visible: ColumnElement[bool],
    today: date,
    due_soon_days: int,
    zone: ZoneInfo,
) -> Overview:
    where = [visible, *scope.clauses()]
    flag_columns = [
        func.coalesce(func.sum(case((getattr(Case, f"is_{n}").is_(True), 1), else_=0)), 0).label(n)
        for n in FLAG_NAMES
    ]
    totals = (
        await db.execute(
            select(
                func.count(Case.id),
                func.coalesce(func.sum(case((Case.due_on < today, 1), else_=0)), 0),
                func.coalesce(
                    func.sum(
                        case(
                            (Case.due_on.between(today, today + timedelta(days=due_soon_days)), 1),
                            else_=0,
                        )
                    ),
                    0,
                ),
                *flag_columns,
            ).where(*where)
        )
    ).one()
    by_type = [
        (kind, int(n))
        for kind, n in (
            await db.execute(
                select(Case.case_type, func.count(Case.id))
                .where(*where)
                .group_by(Case.case_type)
                .order_by(func.count(Case.id).desc())
            )
        ).all()
    ]
    by_commune = [
        (site_id, name or "", int(n))
        for site_id, name, n in (
            await db.execute(
                select(Case.origin_site_id, Site.name, func.count(Case.id))
                .outerjoin(Site, Site.id == Case.origin_site_id)
                .where(*where)
                .group_by(Case.origin_site_id, Site.name)
                .order_by(func.count(Case.id).desc())
                .limit(15)
            )
        ).all()
    ]
    calls = select(func.count(UrgentCall.id), func.coalesce(func.sum(UrgentCall.head_count), 0))
    if scope.start is not None:
        calls = calls.where(
            UrgentCall.raised_at >= datetime.combine(scope.start, time(), tzinfo=zone)
        )
    if scope.end is not None:
        calls = calls.where(
            UrgentCall.raised_at
            < datetime.combine(scope.end + timedelta(days=1), time(), tzinfo=zone)
        )
    if scope.commune_id is not None:
        calls = calls.where(UrgentCall.commune_site_id == scope.commune_id)
    delegations, people = (await db.execute(calls)).one()
    recorded = select(
        func.count(CrowdDelegation.id), func.coalesce(func.sum(CrowdDelegation.head_count), 0)
    ).where(CrowdDelegation.urgent_meeting_id.is_(None))  # those from an urgent link counted above
    if scope.start is not None:
        recorded = recorded.where(
            CrowdDelegation.gathered_at >= datetime.combine(scope.start, time(), tzinfo=zone)
        )
    if scope.end is not None:
        recorded = recorded.where(
            CrowdDelegation.gathered_at
            < datetime.combine(scope.end + timedelta(days=1), time(), tzinfo=zone)
        )
    more, more_people = (await db.execute(recorded)).one()
    delegations, people = int(delegations) + int(more), int(people) + int(more_people)
    total, overdue, due_soon, *flags = totals
    return Overview(
        total=int(total),
        by_type=by_type,
        by_commune=by_commune,
        flags={name: int(v) for name, v in zip(FLAG_NAMES, flags, strict=True)},
        overdue=int(overdue),
        due_soon=int(due_soon),
        delegations=int(delegations),
        delegation_people=int(people),
    )


# ---- the reception register (Sổ tiếp công dân, Mẫu số 03, Thông tư 04/2021/TT-TTCP) -------

MAIN_ROLES = (PartyRole.COMPLAINANT, PartyRole.DENOUNCER, PartyRole.PETITIONER)


@dataclass(frozen=True)
class RegisterRow:
    number: int
    received_on: date
    who: str  # name – address; a denouncer only by pseudonym
    id_number: str  # never a denouncer's
    summary: str
    kind: CaseType
    people: int
    handled_before: str
    accepted: str  # the document that accepted it
    returned_or_guided: str
    transferred: str
    status: CaseStatus
    closed_on: date | None
    reference: str


async def register_rows(
    db: AsyncSession, start: date, end: date, *, visible: ColumnElement[bool]
) -> list[RegisterRow]:
    """The register's rows for the cases received from ``start`` to ``end``, in order."""
    found = list(
        await db.scalars(
            select(Case)
            .where(visible, Case.received_on >= start, Case.received_on <= end)
            .options(selectinload(Case.parties))
            .order_by(Case.received_on, Case.id)
        )
    )
    events = await db.execute(
        select(CaseEvent.case_id, CaseEvent.to_status, CaseEvent.document_number, CaseEvent.on)
        .where(CaseEvent.case_id.in_([c.id for c in found]))
        .order_by(CaseEvent.on, CaseEvent.id)
    )
    decided: dict[tuple[int, CaseStatus], str] = {}
    for case_id, status, number, on in events.all():
        decided.setdefault((case_id, status), f"{number or ''} ({on:%d/%m/%Y})".strip())
    rows = []
    for index, c in enumerate(found, start=1):
        main = next((p for p in c.parties if p.role in MAIN_ROLES), None)
        if main is None:
            who, id_number = "", ""
        elif main.is_protected:
            who, id_number = main.shown_name, ""
        else:
            who = ", ".join(x for x in (main.full_name, main.address) if x)
            id_number = main.id_number or ""
        rows.append(
            RegisterRow(
                number=index,
                received_on=c.received_on,
                who=who,
                id_number=id_number,
                summary=c.title + (f". {c.summary}" if c.summary else ""),
                kind=c.case_type,
                people=c.crowd_size or 1,
                handled_before=c.handled_before or "",
                accepted=decided.get((c.id, CaseStatus.ACCEPTED), ""),
                returned_or_guided="; ".join(
                    v
                    for v in (
                        decided.get((c.id, CaseStatus.RETURNED), ""),
                        decided.get((c.id, CaseStatus.GUIDED), ""),
                    )
                    if v
                ),
                transferred=decided.get((c.id, CaseStatus.TRANSFERRED), ""),
                status=c.status,
                closed_on=c.closed_on,
                reference=c.reference,
            )
        )
    return rows


# ---- quarterly counts over the reporting period (15th of the previous quarter's last month to
# the 14th of the quarter's last month) -------------------------------------------------------


def reporting_quarter(year: int, quarter: int) -> tuple[date, date]:
    """Q1 2026 = 15/12/2025 – 14/03/2026, Q2 = 15/03 – 14/06, …"""
    if quarter not in (1, 2, 3, 4):
        raise ValueError(quarter)
    last_month = quarter * 3
    end = date(year, last_month, 14)
    start_month = last_month - 3
    start = date(year, start_month, 15) if start_month else date(year - 1, 12, 15)
    return start, end


@dataclass(frozen=True)
class QuarterCounts:
    start: date
    end: date
    visits: int  # lượt: each intake
    people: int  # người
    cases: int  # vụ việc
    delegations: int  # đoàn đông người


async def quarter_counts(
    db: AsyncSession, year: int, quarter: int, *, visible: ColumnElement[bool], zone: ZoneInfo
) -> QuarterCounts:
    start, end = reporting_quarter(year, quarter)
    where = [visible, Case.received_on >= start, Case.received_on <= end]
    visits, people, crowded = (
        await db.execute(
            select(
                func.count(Case.id),
                func.coalesce(func.sum(func.coalesce(Case.crowd_size, 1)), 0),
                func.coalesce(func.sum(case((Case.is_crowd.is_(True), 1), else_=0)), 0),
            ).where(*where)
        )
    ).one()
    calls = await db.scalar(
        select(func.count(UrgentCall.id)).where(
            UrgentCall.raised_at >= datetime.combine(start, time(), tzinfo=zone),
            UrgentCall.raised_at < datetime.combine(end + timedelta(days=1), time(), tzinfo=zone),
        )
    )
    return QuarterCounts(
        start, end, int(visits), int(people), int(visits), int(crowded) + int(calls or 0)
    )
