"""What the register tells the province's leaders: counts of cases by commune, type and flag,
overdue and due soon, and crowd delegations, for a period and a commune. Every number is one
SQL aggregate (no case is loaded into Python), among the cases the reader may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.cases import FLAG_NAMES
from sessions.enums import CaseType
from sessions.models import Case, Site, UrgentCall


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
