"""How a case is handled, step by step: the status transitions the law allows, each with the
date it was decided, the document and who decided; a denunciation's extensions; the timeline.

    received ──► accepted ──► verifying ⇄ in_dialogue ──► resolved
        │            │  └────────┴────────────┴──────► withdrawn / suspended / terminated
        └──► guided / transferred / returned / filed          suspended ──► (resumed) / terminated
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, deadlines
from sessions.enums import CaseStatus, CaseType
from sessions.errors import N_, InvalidInput, TransitionRefused
from sessions.models import Case, CaseEvent

S = CaseStatus
_WORKING = frozenset(
    {S.VERIFYING, S.IN_DIALOGUE, S.RESOLVED, S.WITHDRAWN, S.SUSPENDED, S.TERMINATED}
)
ALLOWED: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.RECEIVED: frozenset({S.ACCEPTED, S.GUIDED, S.TRANSFERRED, S.RETURNED, S.FILED, S.WITHDRAWN}),
    S.ACCEPTED: _WORKING,
    S.VERIFYING: _WORKING - {S.VERIFYING},
    S.IN_DIALOGUE: _WORKING - {S.IN_DIALOGUE},
    S.SUSPENDED: frozenset({S.VERIFYING, S.IN_DIALOGUE, S.TERMINATED}),
    S.GUIDED: frozenset(),
    S.TRANSFERRED: frozenset(),
    S.RETURNED: frozenset(),
    S.FILED: frozenset(),
    S.RESOLVED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.TERMINATED: frozenset(),
}
# Decisions that need their document (số văn bản) on record.
NEEDS_DOCUMENT = frozenset(
    {S.ACCEPTED, S.TRANSFERRED, S.RETURNED, S.RESOLVED, S.SUSPENDED, S.TERMINATED}
)
CLOSING = frozenset(
    {S.GUIDED, S.TRANSFERRED, S.RETURNED, S.FILED, S.RESOLVED, S.WITHDRAWN, S.TERMINATED}
)
# The handling directions at intake (Sổ tiếp công dân, Mẫu 03).
INTAKE_DIRECTIONS = (S.ACCEPTED, S.GUIDED, S.TRANSFERRED, S.RETURNED, S.FILED)


def _text(value: str, limit: int) -> str:
    return unicodedata.normalize("NFC", value).strip()[:limit]


def allowed_from(status: CaseStatus) -> list[CaseStatus]:
    return [s for s in CaseStatus if s in ALLOWED[status]]


async def change_status(
    db: AsyncSession,
    case: Case,
    target_raw: str,
    *,
    on_raw: str,
    document_number: str,
    decided_by: str,
    note: str,
    today: date,
    at: datetime,
    actor_id: int | None,
    calendar: deadlines.Calendar,
    rules: deadlines.Rules,
) -> CaseEvent:
    """Move the case one step, or InvalidInput / TransitionRefused naming what is wrong."""
    errors: dict[str, str] = {}
    params: dict[str, dict[str, object]] = {}
    try:
        target = CaseStatus(target_raw)
    except ValueError:
        raise InvalidInput({"status": N_("Choose the next step.")}) from None
    if target not in ALLOWED[case.status]:
        raise TransitionRefused(
            N_("A case that is “%(current)s” cannot become “%(target)s”."),
            {"current": case.status, "target": target},
        )
    try:
        on = date.fromisoformat(on_raw.strip())
    except ValueError:
        errors["on"] = N_("Enter the date of the decision as YYYY-MM-DD.")
        on = today
    else:
        if on < case.received_on:
            errors["on"] = N_(
                "The decision cannot be dated before the case was received (%(day)s)."
            )
            params["on"] = {"day": case.received_on.strftime("%d/%m/%Y")}
        elif on > today:
            errors["on"] = N_("The decision cannot be dated in the future.")
    number = _text(document_number, 64)
    if target in NEEDS_DOCUMENT and not number:
        errors["document_number"] = N_("Give the number of the document that decided it.")
    if errors:
        raise InvalidInput(errors, params)
    event = CaseEvent(
        case_id=case.id,
        from_status=case.status,
        to_status=target,
        on=on,
        document_number=number or None,
        decided_by=_text(decided_by, 200) or None,
        note=_text(note, 4000),
        at=at,
        actor_id=actor_id,
    )
    db.add(event)
    previous = case.status
    case.status = target
    if target is S.ACCEPTED:
        case.accepted_on = on
    if target in CLOSING:
        case.closed_on = on
    deadlines.refresh(case, calendar, rules)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "case.status",
        "case",
        case.id,
        {"from": previous.value, "to": target.value, "on": on.isoformat(), "document": number},
    )
    return event


async def extend(
    db: AsyncSession,
    case: Case,
    *,
    on_raw: str,
    document_number: str,
    today: date,
    at: datetime,
    actor_id: int | None,
    calendar: deadlines.Calendar,
    rules: deadlines.Rules,
) -> CaseEvent:
    """One more 30 days for a denunciation being resolved, decided in writing (at most two)."""
    if case.case_type is not CaseType.DENUNCIATION or case.accepted_on is None:
        raise TransitionRefused(N_("Only an accepted denunciation's resolution is extended."))
    if case.status in deadlines.CLOSED:
        raise TransitionRefused(N_("The case is no longer being resolved."))
    if case.extensions >= deadlines.MAX_DENUNCIATION_EXTENSIONS:
        raise TransitionRefused(N_("A denunciation's resolution is extended at most twice."))
    number = _text(document_number, 64)
    try:
        on = date.fromisoformat(on_raw.strip())
    except ValueError:
        raise InvalidInput({"on": N_("Enter the date of the decision as YYYY-MM-DD.")}) from None
    if not number:
        raise InvalidInput(
            {"document_number": N_("Give the number of the document that decided it.")}
        )
    if on > today or on < case.accepted_on:
        raise InvalidInput({"on": N_("The extension is dated between acceptance and today.")})
    case.extensions += 1
    event = CaseEvent(
        case_id=case.id,
        from_status=case.status,
        to_status=case.status,
        on=on,
        document_number=number,
        note=f"extension {case.extensions}",
        at=at,
        actor_id=actor_id,
    )
    db.add(event)
    deadlines.refresh(case, calendar, rules)
    await db.flush()
    await audit.record(
        db,
        at,
        actor_id,
        "case.extend",
        "case",
        case.id,
        {"extensions": case.extensions, "document": number},
    )
    return event


async def events_of(db: AsyncSession, case_id: int) -> list[CaseEvent]:
    return list(
        await db.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.on, CaseEvent.id)
        )
    )
