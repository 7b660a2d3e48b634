"""Legal deadlines, the handling transitions and the representative limits."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, deadlines, handling
from sessions.enums import CaseStatus, CaseType, ComplaintInstance
from sessions.errors import InvalidInput, TransitionRefused
from sessions.identity import IdentityVault
from sessions.models import Case, CaseEvent, CaseParty
from sessions.settings import Settings
from tests.conftest import START

CAL = deadlines.Calendar()
RULES = deadlines.Rules()


def case_of(kind: CaseType, **fields: object) -> Case:
    case = Case(
        case_type=kind,
        status=CaseStatus.RECEIVED,
        received_on=date(2026, 2, 10),
        is_complex=False,
        is_remote=False,
        extensions=0,
    )
    for name, value in fields.items():
        setattr(case, name, value)
    return case


def test_working_days_skip_weekends_and_tet() -> None:
    # 10 working days from Tuesday 10 Feb 2026 run over Tết (16–20 Feb) and three weekends.
    assert CAL.add(date(2026, 2, 10), 10, working=True) == date(2026, 3, 3)
    assert CAL.add(date(2026, 2, 10), 10, working=False) == date(2026, 2, 20)
    assert not CAL.is_working_day(date(2026, 11, 24))  # Vietnam Cultural Day, new in 2026
    assert not CAL.is_working_day(date(2026, 9, 2))
    assert CAL.is_working_day(date(2026, 11, 25))
    moved = deadlines.calendar_from([date(2026, 3, 2)], [date(2026, 2, 28)])
    assert not moved.is_working_day(date(2026, 3, 2))  # a day off the Government added
    assert moved.is_working_day(date(2026, 2, 28))  # a Saturday made a working day


def test_a_complaint_must_be_accepted_in_ten_working_days_across_tet() -> None:
    deadline = deadlines.next_deadline(case_of(CaseType.COMPLAINT), CAL, RULES)
    assert deadline == deadlines.Deadline("complaint_accept", date(2026, 3, 3))


@pytest.mark.parametrize(
    ("instance", "complex_", "remote", "days"),
    [
        (ComplaintInstance.FIRST, False, False, 30),
        (ComplaintInstance.FIRST, True, False, 45),
        (ComplaintInstance.FIRST, False, True, 45),
        (ComplaintInstance.FIRST, True, True, 60),
        (ComplaintInstance.SECOND, False, False, 45),
        (ComplaintInstance.SECOND, True, False, 60),
        (ComplaintInstance.SECOND, False, True, 60),
        (ComplaintInstance.SECOND, True, True, 70),
    ],
)
def test_complaint_resolution_periods(
    instance: ComplaintInstance, complex_: bool, remote: bool, days: int
) -> None:
    accepted = date(2026, 3, 2)
    case = case_of(
        CaseType.COMPLAINT,
        complaint_instance=instance,
        is_complex=complex_,
        is_remote=remote,
        status=CaseStatus.ACCEPTED,
        accepted_on=accepted,
    )
    deadline = deadlines.next_deadline(case, CAL, RULES)
    assert deadline is not None
    assert deadline.rule == "complaint_resolve"
    assert (deadline.due - accepted).days == days  # calendar days, as the law writes "ngày"


def test_denunciation_resolution_and_its_extensions() -> None:
    accepted = date(2026, 3, 2)
    case = case_of(CaseType.DENUNCIATION, status=CaseStatus.VERIFYING, accepted_on=accepted)
    for extensions, days in ((0, 30), (1, 60), (2, 90), (3, 90)):
        case.extensions = extensions
        deadline = deadlines.next_deadline(case, CAL, RULES)
        assert deadline is not None
        assert (deadline.due - accepted).days == days


def test_working_days_per_rule_are_a_setting() -> None:
    case = case_of(CaseType.COMPLAINT, status=CaseStatus.ACCEPTED, accepted_on=date(2026, 2, 10))
    calendar_days = deadlines.next_deadline(case, CAL, RULES)
    working = deadlines.next_deadline(case, CAL, deadlines.Rules(frozenset({"complaint_resolve"})))
    assert calendar_days is not None
    assert working is not None
    assert working.due > calendar_days.due  # 30 working days run longer than 30 days


def test_due_soon_and_overdue() -> None:
    due = date(2026, 3, 20)
    assert deadlines.state_of(due, date(2026, 3, 10), RULES) is deadlines.DueState.OK
    assert deadlines.state_of(due, date(2026, 3, 16), RULES) is deadlines.DueState.DUE_SOON
    assert deadlines.state_of(due, date(2026, 3, 20), RULES) is deadlines.DueState.DUE_SOON
    assert deadlines.state_of(due, date(2026, 3, 21), RULES) is deadlines.DueState.OVERDUE
    assert deadlines.state_of(None, date(2026, 3, 21), RULES) is None
    closed = case_of(CaseType.COMPLAINT, status=CaseStatus.RESOLVED)
    assert deadlines.next_deadline(closed, CAL, RULES) is None


async def intake(db: AsyncSession, kind: str = "KN", **more: Any) -> Case:
    case = await cases.create_case(
        db,
        cases.CaseDraft(
            title="Khiếu nại về bồi thường",
            case_type=kind,
            complaint_instance="first" if kind == "KN" else "",
            received_on="2026-02-10",
            competent_level="province",
            **more,
        ),
        at=START,
        today=START.date(),
        actor_id=None,
        crowd_threshold=5,
    )
    await db.commit()
    return case


ALL_PAIRS = list(itertools.product(CaseStatus, CaseStatus))


async def test_every_transition_is_allowed_or_refused_as_the_table_says(
    db: AsyncSession,
) -> None:
    case = await intake(db)
    assert case.due_on == date(2026, 3, 3)  # the intake started the acceptance clock
    for current, target in ALL_PAIRS:
        case.status = current
        if target in handling.ALLOWED[current]:
            continue
        with pytest.raises(TransitionRefused):
            await handling.change_status(
                db,
                case,
                target.value,
                on_raw="2026-03-01",
                document_number="01/QĐ",
                decided_by="",
                note="",
                today=START.date(),
                at=START,
                actor_id=None,
                calendar=CAL,
                rules=RULES,
            )
    await db.rollback()


async def test_handling_steps_are_dated_documented_and_move_the_deadline(
    db: AsyncSession,
) -> None:
    case = await intake(db)

    async def step(target: str, on: str, number: str = "12/TB-BTCD") -> CaseEvent:
        return await handling.change_status(
            db,
            case,
            target,
            on_raw=on,
            document_number=number,
            decided_by="Chủ tịch UBND tỉnh",
            note="",
            today=START.date(),
            at=START,
            actor_id=None,
            calendar=CAL,
            rules=RULES,
        )

    with pytest.raises(InvalidInput) as before:
        await step("accepted", "2026-02-01")  # before it was received
    assert "on" in before.value.field_errors
    with pytest.raises(InvalidInput) as no_document:
        await step("accepted", "2026-02-20", number="")
    assert "document_number" in no_document.value.field_errors
    await step("accepted", "2026-02-20")
    assert case.accepted_on == date(2026, 2, 20)
    assert (case.due_rule, case.due_on) == ("complaint_resolve", date(2026, 3, 22))
    await step("verifying", "2026-03-01", number="")
    await step("resolved", "2026-03-05")
    assert case.due_on is None
    assert case.closed_on == date(2026, 3, 5)
    await db.commit()
    timeline = await handling.events_of(db, case.id)
    assert [(e.from_status, e.to_status) for e in timeline] == [
        (CaseStatus.RECEIVED, CaseStatus.ACCEPTED),
        (CaseStatus.ACCEPTED, CaseStatus.VERIFYING),
        (CaseStatus.VERIFYING, CaseStatus.RESOLVED),
    ]
    assert await db.scalar(select(func.count()).select_from(CaseEvent)) == 3


@pytest.mark.parametrize(("people", "most"), [(4, None), (5, 2), (10, 2), (11, 5), (40, 5)])
def test_representative_limits(people: int, most: int | None) -> None:
    assert cases.representative_limit(people) == most


async def test_three_representatives_for_seven_people_are_refused(
    db: AsyncSession, settings: Settings
) -> None:
    case = await intake(db, crowd_size="7")
    loaded = await cases.get_case(db, case.id)
    vault = IdentityVault(settings.identity_key)
    for n in (1, 2):
        await cases.add_party(
            db,
            loaded,
            cases.PartyDraft(
                role="representative",
                full_name=f"Người đại diện {n}",
                appointment_document="Giấy cử 01",
            ),
            vault=vault,
            at=START,
            actor_id=None,
        )
        await db.commit()
        loaded = await cases.get_case(db, case.id)
    with pytest.raises(InvalidInput) as refused:
        await cases.add_party(
            db,
            loaded,
            cases.PartyDraft(
                role="representative", full_name="Người thứ ba", appointment_document="Giấy cử 01"
            ),
            vault=vault,
            at=START,
            actor_id=None,
        )
    assert refused.value.field_params["role"] == {"people": 7, "limit": 2}
    await db.rollback()
    assert await db.scalar(select(func.count()).select_from(CaseParty)) == 2


def test_deadline_rules_in_settings_are_checked(tmp_path: object) -> None:
    from sessions.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="working_day_rules"):
        load_settings(environ={}, overrides={"data_dir": tmp_path, "working_day_rules": ("nope",)})


async def test_the_daily_sweep_tells_the_officers_of_an_overdue_case_once(
    db: AsyncSession, settings: Settings
) -> None:
    from sessions.enums import Role
    from sessions.models import Notification
    from tests.conftest import make_user
    from tests.factories import shown

    officer = await make_user(db, "canbo", Role.OFFICER)
    case = await intake(db)  # received 10/2, to be accepted by 3/3
    assert await deadlines.sweep(db, date(2026, 2, 20), settings, START) == 0  # not yet
    assert await deadlines.sweep(db, date(2026, 2, 27), settings, START) == 1  # due soon
    assert await deadlines.sweep(db, date(2026, 3, 4), settings, START) == 1  # overdue
    assert await deadlines.sweep(db, date(2026, 3, 5), settings, START) == 0  # said once
    await db.commit()
    notices = [shown(n) for n in await db.scalars(select(Notification).order_by(Notification.id))]
    assert notices[-1] == f"Vụ việc {case.reference} đã quá hạn: hạn theo luật là 03/03/2026."
    assert {n.user_id for n in await db.scalars(select(Notification))} == {officer.id}


async def test_an_administrator_adds_a_day_off_and_deadlines_move(
    client: Any, db: AsyncSession, settings: Settings
) -> None:
    from sessions.enums import Role
    from tests.conftest import csrf_of, login, make_user

    case = await intake(db)
    case_id = case.id
    assert case.due_on == date(2026, 3, 3)
    await make_user(db, "quantri", Role.ADMIN)
    await login(client, "quantri")
    page = await (await client.get("/holidays")).text()
    assert "Tết Nguyên Đán" in page
    token = await csrf_of(client, "/holidays")
    refused = await client.post(
        "/holidays", data={"csrf_token": token, "day": "2026-02-17", "name": ""}
    )
    assert refused.status == 400
    added = await client.post(
        "/holidays",
        data={"csrf_token": token, "day": "2026-02-12", "name": "Nghỉ bù theo thông báo"},
        allow_redirects=False,
    )
    assert added.status == 303
    await db.rollback()
    due = await db.scalar(select(Case.due_on).where(Case.id == case_id))
    assert due == date(2026, 3, 4)  # one working day fewer before Tết
