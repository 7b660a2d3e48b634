"""Every allowed and every refused meeting transition, in memory and as a guarded UPDATE."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import lifecycle, meetings, sites
from sessions.enums import MeetingPurpose, MeetingStatus
from sessions.errors import TransitionRefused
from sessions.models import Meeting
from tests.conftest import START

S = MeetingStatus
ALLOWED = {
    (S.SCHEDULED, S.OPEN),
    (S.SCHEDULED, S.CANCELLED),
    (S.OPEN, S.LIVE),
    (S.OPEN, S.ENDED),
    (S.OPEN, S.CANCELLED),
    (S.LIVE, S.ENDED),
    (S.ENDED, S.MINUTES_FINALISED),
}
ALL_PAIRS = list(itertools.product(MeetingStatus, MeetingStatus))


def meeting(status: MeetingStatus) -> Meeting:
    return meetings.build(
        title="Phiên thử",
        purpose=MeetingPurpose.RECEPTION,
        start=START,
        end=START + timedelta(hours=1),
        status=status,
        host_site_id=1,
        created_at=START,
    )


def test_the_table_is_the_documented_one() -> None:
    table = {(a, b) for a, targets in lifecycle.ALLOWED.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_transition_in_memory(current: MeetingStatus, target: MeetingStatus) -> None:
    m = meeting(current)
    at = START + timedelta(minutes=5)
    if (current, target) in ALLOWED:
        lifecycle.transition(m, target, at, reason="Lý do")
        assert m.status is target
        stamp = {
            S.OPEN: m.opened_at,
            S.LIVE: m.started_at,
            S.ENDED: m.ended_at,
            S.CANCELLED: m.cancelled_at,
        }.get(target, at)
        assert stamp == at
    else:
        with pytest.raises(TransitionRefused):
            lifecycle.transition(m, target, at, reason="Lý do")
        assert m.status is current


@pytest.mark.parametrize("current", [S.SCHEDULED, S.OPEN])
def test_cancelling_needs_a_reason(current: MeetingStatus) -> None:
    m = meeting(current)
    with pytest.raises(TransitionRefused):
        lifecycle.transition(m, S.CANCELLED, START, reason="  ")
    assert m.status is current


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
async def test_guarded_update(
    db: AsyncSession, current: MeetingStatus, target: MeetingStatus
) -> None:
    await sites.seed_sites(db, START)  # the meeting's host endpoint
    m = meeting(current)
    db.add(m)
    await db.commit()
    changed = await lifecycle.guarded_update(db, m.id, target, START, reason="Lý do")
    await db.commit()
    await db.refresh(m)
    if (current, target) in ALLOWED:
        assert changed
        assert m.status is target
        # A second firing of the same job changes nothing.
        assert not await lifecycle.guarded_update(db, m.id, target, START, reason="Lý do")
    else:
        assert not changed
        assert m.status is current
