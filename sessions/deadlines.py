"""Legal deadlines of a case (../shared/DOMAIN.md), counted in calendar or working days per rule
(a setting), working days skipping weekends, Vietnam's public holidays from the ``holidays``
package (Tết and the other lunar days included) and the days off an administrator adds.

| rule                   | from           | days                                                  |
|------------------------|----------------|-------------------------------------------------------|
| complaint_accept       | receipt        | 10                                                    |
| complaint_resolve      | acceptance     | 1st instance 30 / complex 45 / remote 45 / both 60;   |
|                        |                | 2nd instance 45 / 60 / 60 / 70                        |
| denunciation_notify    | acceptance     | 5                                                     |
| denunciation_resolve   | acceptance     | 30, + 30 per extension decided in writing (at most 2) |
| petition_handle        | receipt        | 10                                                    |
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import holidays as holiday_calendars
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, notifications
from sessions.enums import CaseStatus, CaseType, ComplaintInstance, NotificationKind, Role
from sessions.errors import N_, InvalidInput
from sessions.models import Case, ExtraHoliday, User, UserRole
from sessions.settings import Settings

MAX_DENUNCIATION_EXTENSIONS = 2
# Statuses after which no deadline runs.
CLOSED = frozenset(
    {
        CaseStatus.GUIDED,
        CaseStatus.TRANSFERRED,
        CaseStatus.RETURNED,
        CaseStatus.FILED,
        CaseStatus.RESOLVED,
        CaseStatus.WITHDRAWN,
        CaseStatus.TERMINATED,
        CaseStatus.SUSPENDED,  # the clock stops while a case is suspended
    }
)


class DueState(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@functools.cache
def public_holidays(year: int) -> frozenset[date]:
    """Vietnam's public holidays of a year, Tết and the other lunar days included."""
    return frozenset(holiday_calendars.country_holidays("VN", years=year))


@dataclass(frozen=True)
class Calendar:
    """Which days count as working days."""

    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()  # a Saturday the Government made a workday

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day.weekday() >= 5 or day in self.extra_days_off:
            return False
        return day not in public_holidays(day.year)

    def add(self, start: date, days: int, *, working: bool) -> date:
        """The day ``days`` after ``start`` (the start itself not counted)."""
        if not working:
            return start + timedelta(days=days)
        day, counted = start, 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day


@dataclass(frozen=True)
class Rules:
    """The day unit of each rule (calendar unless listed as working) and the warning window."""

    working_day_rules: frozenset[str] = frozenset({"complaint_accept", "denunciation_notify"})
    due_soon_days: int = 5


def resolution_days(case: Case) -> int:
    second = case.complaint_instance is ComplaintInstance.SECOND
    both = case.is_complex and case.is_remote
    either = case.is_complex or case.is_remote
    if second:
        return 70 if both else 60 if either else 45
    return 60 if both else 45 if either else 30


@dataclass(frozen=True)
class Deadline:
    rule: str
    due: date


def next_deadline(case: Case, calendar: Calendar, rules: Rules) -> Deadline | None:
    """The deadline that runs now for this case, or None (closed, or nothing runs)."""
    if case.status in CLOSED:
        return None

    def after(start: date, days: int, rule: str) -> Deadline:
        return Deadline(rule, calendar.add(start, days, working=rule in rules.working_day_rules))

    kind = case.case_type
    if kind in (CaseType.COMPLAINT, CaseType.MULTIPLE):
        if case.accepted_on is None:
            return after(case.received_on, 10, "complaint_accept")
        return after(case.accepted_on, resolution_days(case), "complaint_resolve")
    if kind is CaseType.DENUNCIATION:
        if case.accepted_on is None:
            return after(case.received_on, 10, "complaint_accept")  # the same intake period
        extensions = min(case.extensions, MAX_DENUNCIATION_EXTENSIONS)
        return after(case.accepted_on, 30 + 30 * extensions, "denunciation_resolve")
    if case.status is CaseStatus.RECEIVED:
        return after(case.received_on, 10, "petition_handle")
    return None


def state_of(due: date | None, today: date, rules: Rules) -> DueState | None:
    if due is None:
        return None
    if today > due:
        return DueState.OVERDUE
    if (due - today).days <= rules.due_soon_days:
        return DueState.DUE_SOON
    return DueState.OK


def refresh(case: Case, calendar: Calendar, rules: Rules) -> None:
    """Keep the case's next deadline (``due_on``, ``due_rule``) as the rules say now."""
    deadline = next_deadline(case, calendar, rules)
    case.due_on = deadline.due if deadline else None
    case.due_rule = deadline.rule if deadline else None


def calendar_from(days_off: Iterable[date], working_days: Iterable[date]) -> Calendar:
    return Calendar(frozenset(days_off), frozenset(working_days))


async def load_calendar(db: AsyncSession) -> Calendar:
    """The working-day calendar with the days off (and working Saturdays) administrators added."""
    rows = list(await db.scalars(select(ExtraHoliday)))
    return calendar_from((r.day for r in rows if not r.working), (r.day for r in rows if r.working))


def rules_of(settings: Settings) -> Rules:
    return Rules(frozenset(settings.working_day_rules), settings.due_soon_days)


async def sweep(db: AsyncSession, today: date, settings: Settings, at: datetime) -> int:
    """Once a day (and after a restart): every open case's deadline again (the holidays may have
    changed), and a notice to its assignee, or else its unit's officers, when it turns overdue
    or due soon. A notice has a key per case, rule, due day and state: sent once."""
    calendar = await load_calendar(db)
    rules = rules_of(settings)
    open_cases = list(await db.scalars(select(Case).where(Case.status.not_in(list(CLOSED)))))
    sent = 0
    for case in open_cases:
        refresh(case, calendar, rules)
        state = state_of(case.due_on, today, rules)
        if state is None or state is DueState.OK:
            continue
        recipients = [case.assignee_id] if case.assignee_id else await _officers_of(db, case)
        message = (
            N_("Case %(reference)s is overdue: its legal deadline was %(day)s.")
            if state is DueState.OVERDUE
            else N_("Case %(reference)s is due soon: its legal deadline is %(day)s.")
        )
        for user_id in recipients:
            sent += await notifications.notify(
                db,
                key=f"due:{case.id}:{case.due_rule}:{case.due_on}:{state.value}:user:{user_id}",
                kind=NotificationKind.TASK,
                message=message,
                params={
                    "reference": case.reference,
                    "day": f"{case.due_on:%d/%m/%Y}" if case.due_on else "",
                },
                at=at,
                user_id=user_id,
            )
    await db.flush()
    return sent


async def _officers_of(db: AsyncSession, case: Case) -> list[int]:
    query = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.OFFICER, User.active.is_(True))
    )
    if case.unit_site_id is not None:
        query = query.where(User.site_id == case.unit_site_id)
    return list(await db.scalars(query))


async def holidays_between(db: AsyncSession, start: date, end: date) -> list[tuple[date, str, str]]:
    """(day, name, source) of the days off from ``start`` to ``end``: the public holidays and
    the ones an administrator added (or made a working day)."""
    days: list[tuple[date, str, str]] = []
    for year in range(start.year, end.year + 1):
        calendar = holiday_calendars.country_holidays("VN", years=year, language="vi")
        days += [(d, str(n), "law") for d, n in calendar.items() if start <= d <= end]
    for extra in await db.scalars(select(ExtraHoliday).where(ExtraHoliday.day.between(start, end))):
        days.append((extra.day, extra.name, "working" if extra.working else "added"))
    return sorted(days)


async def add_holiday(
    db: AsyncSession, day_raw: str, name: str, *, working: bool, at: datetime, actor_id: int | None
) -> ExtraHoliday:
    try:
        day = date.fromisoformat(day_raw.strip())
    except ValueError:
        raise InvalidInput({"day": N_("Enter the day as YYYY-MM-DD.")}) from None
    title = name.strip()[:200]
    if not title:
        raise InvalidInput({"name": N_("Say what the day is (e.g. the decision that moved it).")})
    if await db.scalar(select(ExtraHoliday.id).where(ExtraHoliday.day == day)) is not None:
        raise InvalidInput({"day": N_("That day is already on the list.")})
    extra = ExtraHoliday(day=day, name=title, working=working)
    db.add(extra)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "holiday.add",
        "holiday",
        day.isoformat(),
        {"name": title, "working": working},
    )
    return extra


async def refresh_all(db: AsyncSession, settings: Settings) -> int:
    """Every open case's next deadline again (after the calendar changed)."""
    calendar, rules = await load_calendar(db), rules_of(settings)
    open_cases = list(await db.scalars(select(Case).where(Case.status.not_in(list(CLOSED)))))
    for case in open_cases:
        refresh(case, calendar, rules)
    await db.flush()
    return len(open_cases)
