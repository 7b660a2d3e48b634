"""Handling proposals to the provincial Chairman (đề xuất phương án xử lý): for a crowded,
complex or prolonged case an officer drafts a proposal and submits it; a leader approves it or
returns it with instructions (a returned one is revised and submitted again). Every step is on
the case's timeline, audited, and notified."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, notifications
from sessions.enums import NotificationKind, Role
from sessions.errors import N_, Conflict, InvalidInput, NotFound, TransitionRefused
from sessions.models import Case, HandlingProposal, User, UserRole

PROPOSAL_STATES = ("draft", "submitted", "approved", "returned")
TEXT_LIMIT = 20000


def eligible(case: Case) -> bool:
    """The plan asks for proposals on crowded, complex and prolonged cases."""
    return case.is_crowd or case.is_complex or case.is_prolonged


def _text(value: str, limit: int) -> str:
    return unicodedata.normalize("NFC", value).strip()[: limit + 1]


async def of_case(db: AsyncSession, case_id: int) -> list[HandlingProposal]:
    return list(
        await db.scalars(
            select(HandlingProposal)
            .where(HandlingProposal.case_id == case_id)
            .order_by(HandlingProposal.id)
        )
    )


async def get(db: AsyncSession, case: Case, proposal_id: int) -> HandlingProposal:
    found = await db.get(HandlingProposal, proposal_id)
    if found is None or found.case_id != case.id:
        raise NotFound(N_("This case has no such proposal."))
    return found


async def draft(
    db: AsyncSession, case: Case, text: str, *, at: datetime, actor_id: int | None
) -> HandlingProposal:
    if not eligible(case):
        raise TransitionRefused(
            N_("Proposals to the Chairman are for crowded, complex or prolonged cases.")
        )
    body = _text(text, TEXT_LIMIT)
    if not body:
        raise InvalidInput({"text": N_("Write the situation and the options proposed.")})
    if len(body) > TEXT_LIMIT:
        raise InvalidInput(
            {"text": N_("This field takes at most %(limit)s characters.")},
            {"text": {"limit": TEXT_LIMIT}},
        )
    proposal = HandlingProposal(case_id=case.id, body=body, drafted_by_id=actor_id, created_at=at)
    db.add(proposal)
    await db.flush()
    await audit.record(
        db, at, actor_id, "proposal.draft", "case", case.id, {"proposal": proposal.id}
    )
    return proposal


async def submit(
    db: AsyncSession, case: Case, proposal: HandlingProposal, *, at: datetime, actor_id: int | None
) -> HandlingProposal:
    if proposal.status not in ("draft", "returned"):
        raise Conflict(N_("This proposal is already with the Chairman or decided."))
    proposal.status, proposal.submitted_at = "submitted", at
    await db.flush()
    await audit.record(
        db, at, actor_id, "proposal.submit", "case", case.id, {"proposal": proposal.id}
    )
    leaders = await db.scalars(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.CHAIR, User.active.is_(True))
    )
    for leader_id in set(leaders):
        await notifications.notify(
            db,
            key=f"proposal:{proposal.id}:{at.isoformat()}:user:{leader_id}",
            kind=NotificationKind.TASK,
            message=N_("A handling proposal for case %(reference)s awaits your decision."),
            params={"reference": case.reference},
            at=at,
            user_id=leader_id,
        )
    return proposal


async def decide(
    db: AsyncSession,
    case: Case,
    proposal: HandlingProposal,
    *,
    approve: bool,
    instructions: str,
    at: datetime,
    actor_id: int,
) -> HandlingProposal:
    if proposal.status != "submitted":
        raise Conflict(N_("Only a submitted proposal is decided."))
    words = _text(instructions, TEXT_LIMIT)[:TEXT_LIMIT]
    if not approve and not words:
        raise InvalidInput({"instructions": N_("Give the instructions the proposal returns with.")})
    proposal.status = "approved" if approve else "returned"
    proposal.instructions, proposal.decided_at, proposal.decided_by_id = words, at, actor_id
    await db.flush()
    await audit.record(
        db, at, actor_id, f"proposal.{proposal.status}", "case", case.id, {"proposal": proposal.id}
    )
    if proposal.drafted_by_id is not None:
        await notifications.notify(
            db,
            key=f"proposal:{proposal.id}:{proposal.status}:{at.isoformat()}",
            kind=NotificationKind.TASK,
            message=N_("The Chairman approved the proposal for case %(reference)s.")
            if approve
            else N_("The Chairman returned the proposal for case %(reference)s with instructions."),
            params={"reference": case.reference},
            at=at,
            user_id=proposal.drafted_by_id,
        )
    return proposal


async def pending_count(db: AsyncSession, visible: ColumnElement[bool]) -> int:
    """Submitted proposals awaiting the Chairman, among the cases the reader may see."""
    count = await db.scalar(
        select(func.count(HandlingProposal.id))
        .join(Case, Case.id == HandlingProposal.case_id)
        .where(HandlingProposal.status == "submitted", visible)
    )
    return int(count or 0)


async def pending(
    db: AsyncSession, visible: ColumnElement[bool], limit: int = 20
) -> list[tuple[HandlingProposal, Case]]:
    rows = await db.execute(
        select(HandlingProposal, Case)
        .join(Case, Case.id == HandlingProposal.case_id)
        .where(HandlingProposal.status == "submitted", visible)
        .order_by(HandlingProposal.submitted_at)
        .limit(limit)
    )
    return [(p, c) for p, c in rows.unique().all()]
