"""The urgent link: a crowd from the province arrives at the central reception office in Hanoi.

The liaison presses one button; an ad-hoc meeting opens at once with the central office, the
provincial office and the crowd's commune; the leaders on duty are alerted until one accepts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, lifecycle, meetings, notifications, sites
from sessions.enums import (
    MeetingKind,
    MeetingPurpose,
    MeetingStatus,
    NotificationKind,
    RecordingPolicy,
    Role,
    SiteKind,
    UrgentStatus,
)
from sessions.errors import N_, InvalidInput, NotFound, TransitionRefused
from sessions.ids import parse_id
from sessions.models import (
    DutyRosterEntry,
    Meeting,
    Notification,
    Site,
    UrgentCall,
    User,
    UserRole,
)
from sessions.timing import Timing

REASON = N_("A crowd at the central citizen reception office")
LEGAL_BASIS = "Luật Tiếp công dân 2013, Điều 27–30 (tiếp nhiều người cùng nội dung)"
URGENT_HOURS = 3  # how long the room may run once a leader took the call
ALERT = N_(
    "URGENT: a crowd of %(people)s people from %(commune)s at the central citizen reception "
    "office, since %(time)s — a leader must take the call now."
)


async def raise_urgent(
    db: AsyncSession,
    *,
    commune_site_id: str,
    head_count: str,
    liaison_id: int | None,
    now: datetime,
    timing: Timing,
) -> UrgentCall:
    errors: dict[str, str] = {}
    commune_id = parse_id(commune_site_id)
    commune = await db.get(Site, commune_id) if commune_id else None
    if commune is None or commune.kind not in (SiteKind.COMMUNE, SiteKind.WARD):
        errors["commune_site_id"] = N_("Choose the commune the citizens come from.")
    try:
        count = int(head_count)
        if not 1 <= count <= 10000:
            raise ValueError
    except ValueError:
        errors["head_count"] = N_("The number of people must be a whole number from 1.")
        count = 0
    if errors:
        raise InvalidInput(errors)
    assert commune is not None
    province = await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)
    central = await sites.by_code(db, sites.CENTRAL_OFFICE_CODE)
    if province is None or central is None:
        raise NotFound(N_("The reception offices are not set up; run the first start."))
    meeting = await meetings.add(
        db,
        meetings.build(
            title=f"Tiếp đoàn đông người từ {commune.name} ({count} người)",
            kind=MeetingKind.AD_HOC,
            purpose=MeetingPurpose.CROWD,
            ad_hoc_reason=REASON,
            start=now,
            end=now + timedelta(hours=URGENT_HOURS),
            host_site_id=province.id,
            participant_site_ids=[central.id, commune.id],
            created_at=now,
            created_by_id=liaison_id,
            legal_basis=LEGAL_BASIS,
            waiting_room=False,  # everyone joins at once
            recording_policy=RecordingPolicy.ALWAYS,
        ),
        timing.zone,
    )
    lifecycle.transition(meeting, MeetingStatus.OPEN, now)  # opens at once
    call = UrgentCall(
        meeting_id=meeting.id,
        commune_site_id=commune.id,
        head_count=count,
        raised_by_id=liaison_id,
        raised_at=now,
        status=UrgentStatus.ALERTING,
        alerted_rank=1,
        next_escalation_at=now + timing.escalation,
    )
    db.add(call)
    await db.flush()
    await db.refresh(call)
    await audit.record(
        db,
        now,
        liaison_id,
        "urgent.raise",
        "meeting",
        meeting.id,
        {"commune": commune.code, "people": count},
    )
    await alert_rank(db, call, 1, now, timing)
    if not await roster(db):
        # Nobody is on the duty roster: every leader was alerted; the liaison is told at once.
        await _tell(
            db,
            [liaison_id] if liaison_id is not None else [],
            call,
            now,
            "no-roster",
            N_(
                "Nobody is on the duty roster: every leader and the head of the reception "
                "board were alerted about the crowd from %(commune)s."
            ),
            timing,
        )
    return call


async def accept(db: AsyncSession, call_id: int, leader_id: int, now: datetime) -> UrgentCall:
    """The first leader to accept takes the chair; the alerts stop for everyone."""
    if leader_id not in await _may_answer(db):
        raise TransitionRefused(N_("Only a leader on the duty roster can take an urgent call."))
    changed = await db.execute(
        update(UrgentCall)
        .where(UrgentCall.id == call_id, UrgentCall.status == UrgentStatus.ALERTING)
        .values(status=UrgentStatus.ACCEPTED, accepted_by_id=leader_id, accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    call = await db.get(UrgentCall, call_id)
    if call is None:
        raise NotFound(N_("There is no such urgent call."))
    await db.refresh(call)
    if not changed.rowcount:  # type: ignore[attr-defined]
        if call.accepted_by_id == leader_id:
            return call  # pressed twice
        raise TransitionRefused(N_("Another leader has already taken this call."))
    await db.execute(
        update(Meeting).where(Meeting.id == call.meeting_id).values(chair_id=leader_id)
    )
    await _stop_alerts(db, call.meeting_id, now)
    await audit.record(db, now, leader_id, "urgent.accept", "meeting", call.meeting_id)
    return call


async def alerting_for(db: AsyncSession, user_id: int) -> list[UrgentCall]:
    """Urgent calls this leader is being alerted about now."""
    ranks = await roster(db)
    if ranks:
        rank = ranks.get(user_id)
        if rank is None:
            return []
    elif user_id in await _leaders(db):
        rank = 1  # an empty roster: every leader is alerted
    else:
        return []
    return list(
        await db.scalars(
            select(UrgentCall)
            .join(Meeting, Meeting.id == UrgentCall.meeting_id)
            .where(
                UrgentCall.status == UrgentStatus.ALERTING,
                UrgentCall.alerted_rank >= rank,
                Meeting.status.in_([MeetingStatus.OPEN, MeetingStatus.LIVE]),
            )
            .order_by(UrgentCall.raised_at)
        )
    )


async def unlinked(db: AsyncSession) -> list[Meeting]:
    """Urgent meetings not yet tied to a case: tasks until they are."""
    return list(
        await db.scalars(
            select(Meeting)
            .where(
                Meeting.purpose == MeetingPurpose.CROWD,
                Meeting.case_id.is_(None),
                Meeting.status != MeetingStatus.CANCELLED,
            )
            .order_by(Meeting.planned_start.desc())
        )
    )


async def roster(db: AsyncSession) -> dict[int, int]:
    """Leader id → rank on the duty roster."""
    rows = await db.execute(select(DutyRosterEntry.user_id, DutyRosterEntry.rank))
    return {user_id: rank for user_id, rank in rows.all()}


async def _leaders(db: AsyncSession) -> set[int]:
    """Every active leader (the head of the reception board is one)."""
    return set(
        await db.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.CHAIR, User.active.is_(True))
        )
    )


async def roster_is_empty(db: AsyncSession) -> bool:
    return not await roster(db)


async def _may_answer(db: AsyncSession) -> set[int]:
    """Who may take an urgent call: the roster, or with an empty roster every leader."""
    return set(await roster(db)) or await _leaders(db)


async def _tell(
    db: AsyncSession,
    user_ids: list[int],
    call: UrgentCall,
    now: datetime,
    tag: str,
    message: str,
    timing: Timing,
    kind: NotificationKind = NotificationKind.TASK,
) -> int:
    params: dict[str, str | int] = {
        "people": call.head_count,
        "commune": call.commune.name,
        "time": f"{call.raised_at.astimezone(timing.zone):%H:%M %d/%m/%Y}",
    }
    count = 0
    for user_id in user_ids:
        count += await notifications.notify(
            db,
            key=f"urgent:{call.id}:{tag}:user:{user_id}",
            kind=kind,
            message=message,
            params=params,
            at=now,
            user_id=user_id,
            meeting_id=call.meeting_id,
        )
    return count


async def alert_rank(
    db: AsyncSession, call: UrgentCall, rank: int, now: datetime, timing: Timing
) -> int:
    """Alert the leaders of one rank of the duty roster (every leader when the roster is
    empty) about an urgent call; how many were alerted."""
    ranks = await roster(db)
    leaders = (
        sorted(u for u, r in ranks.items() if r == rank) if ranks else sorted(await _leaders(db))
    )
    await _tell(db, leaders, call, now, "alert", ALERT, timing, NotificationKind.URGENT)
    return len(leaders)


async def escalate_urgent(db: AsyncSession, now: datetime, timing: Timing) -> list[int]:
    """Unanswered urgent calls go to the next rank of the duty roster."""
    last_rank = await db.scalar(select(func.max(DutyRosterEntry.rank))) or 0
    escalated = []
    due = await db.scalars(
        select(UrgentCall).where(
            UrgentCall.status == UrgentStatus.ALERTING,
            UrgentCall.next_escalation_at <= now,
            UrgentCall.alerted_rank < last_rank,
        )
    )
    for call in list(due):
        rank = call.alerted_rank
        changed = await db.execute(
            update(UrgentCall)
            .where(
                UrgentCall.id == call.id,
                UrgentCall.alerted_rank == rank,
                UrgentCall.status == UrgentStatus.ALERTING,
            )
            .values(alerted_rank=rank + 1, next_escalation_at=now + timing.escalation)
            .execution_options(synchronize_session=False)
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            continue
        await db.refresh(call)
        await alert_rank(db, call, rank + 1, now, timing)
        await audit.record(
            db, now, None, "urgent.escalate", "meeting", call.meeting_id, {"rank": rank + 1}
        )
        escalated.append(call.id)
    return escalated


async def close_unanswered(db: AsyncSession, now: datetime, timing: Timing) -> list[int]:
    """An urgent call nobody took within the timeout closes and its room ends; one whose room
    was ended or cancelled by hand closes too. The liaison and the officers are told."""
    closed = []
    due = await db.scalars(
        select(UrgentCall)
        .join(Meeting, Meeting.id == UrgentCall.meeting_id)
        .where(UrgentCall.status == UrgentStatus.ALERTING)
    )
    for call in list(due.unique()):
        over = call.meeting.status not in (MeetingStatus.OPEN, MeetingStatus.LIVE)
        if not over and call.raised_at > now - timing.urgent_timeout:
            continue
        changed = await db.execute(
            update(UrgentCall)
            .where(UrgentCall.id == call.id, UrgentCall.status == UrgentStatus.ALERTING)
            .values(status=UrgentStatus.CLOSED)
            .execution_options(synchronize_session=False)
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            continue
        await _stop_alerts(db, call.meeting_id, now)
        if over:
            closed.append(call.id)
            continue
        await lifecycle.end_meeting(db, call.meeting_id, now, by="urgent_timeout")
        await audit.record(db, now, None, "urgent.timeout", "meeting", call.meeting_id)
        officers = set(
            await db.scalars(select(UserRole.user_id).where(UserRole.role == Role.OFFICER))
        )
        if call.raised_by_id is not None:
            officers.add(call.raised_by_id)
        await _tell(
            db,
            sorted(officers),
            call,
            now,
            "timeout",
            N_(
                "No leader took the urgent call about the crowd from %(commune)s (raised at "
                "%(time)s); its room was ended. Arrange the reception with the provincial office."
            ),
            timing,
        )
        closed.append(call.id)
    return closed


async def _stop_alerts(db: AsyncSession, meeting_id: int, now: datetime) -> None:
    await db.execute(
        update(Notification)
        .where(
            Notification.meeting_id == meeting_id,
            Notification.kind == NotificationKind.URGENT,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )


async def set_roster(
    db: AsyncSession, ranks: dict[int, int | None], *, at: datetime, actor_id: int | None
) -> None:
    """Replace the duty roster: leader id → rank (1 is alerted first), None to leave it out."""
    for user_id, rank in ranks.items():
        user = await db.get(User, user_id)
        if user is None or Role.CHAIR not in user.roles:
            raise InvalidInput({"roster": N_("Only leaders can be on the duty roster.")})
        if rank is not None and not 1 <= rank <= 20:
            raise InvalidInput({"roster": N_("A rank is a number from 1 to 20.")})
    for entry in list(await db.scalars(select(DutyRosterEntry))):
        await db.delete(entry)
    await db.flush()
    for user_id, rank in ranks.items():
        if rank is not None:
            db.add(DutyRosterEntry(user_id=user_id, rank=rank))
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "duty.roster",
        "roster",
        "duty",
        {str(k): v for k, v in ranks.items() if v is not None},
    )


async def recent_calls(db: AsyncSession, limit: int = 10) -> list[UrgentCall]:
    return list(
        await db.scalars(select(UrgentCall).order_by(UrgentCall.raised_at.desc()).limit(limit))
    )
