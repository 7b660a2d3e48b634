"""The Chairman's overview: SQL counts for a period and a commune, each number opening its cases."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, register, sites
from sessions.enums import Role
from sessions.models import Site
from tests.conftest import START, ZONE, Client, login, make_user


async def registered(db: AsyncSession) -> dict[str, int]:
    await sites.seed_sites(db, START)
    await db.flush()
    by_code = {s.code: s.id for s in await db.scalars(select(Site))}
    made = {}
    for title, kind, commune, received, crowd in (
        ("Khiếu nại đất rừng", "KN", "05977", "2026-02-10", "12"),
        ("Khiếu nại bồi thường", "KN", "05977", "2026-03-15", ""),
        ("Kiến nghị đường", "PA", "05983", "2026-03-20", ""),
        ("Tố cáo cán bộ", "TC", "05983", "2025-12-01", ""),
    ):
        case = await cases.create_case(
            db,
            cases.CaseDraft(
                title=title,
                case_type=kind,
                complaint_instance="first" if kind == "KN" else "",
                received_on=received,
                competent_level="province",
                origin_site_id=str(by_code[commune]),
                crowd_size=crowd,
            ),
            at=START,
            today=date(2026, 3, 31),
            actor_id=None,
            crowd_threshold=5,
        )
        made[title] = case.id
    await db.commit()
    return {**made, "a": by_code["05977"], "b": by_code["05983"]}


async def test_counts_are_sql_aggregates_for_a_period_and_a_commune(db: AsyncSession) -> None:
    ids = await registered(db)
    everything = await register.overview(
        db, register.Scope(), visible=true(), today=date(2026, 3, 10), due_soon_days=5, zone=ZONE
    )
    assert everything.total == 4
    assert everything.flags["crowd"] == 1  # 12 people: crowded by the head-count
    assert dict((k.value, n) for k, n in everything.by_type) == {"KN": 2, "PA": 1, "TC": 1}
    # 10 Feb + 10 working days across Tết = 3 Mar: overdue on 10 Mar; Dec 2025 too.
    assert everything.overdue == 2
    during = await register.overview(
        db,
        register.Scope(date(2026, 3, 15), date(2026, 3, 31), None),
        visible=true(),
        today=date(2026, 3, 10),
        due_soon_days=5,
        zone=ZONE,
    )
    assert during.total == 2
    one_commune = await register.overview(
        db,
        register.Scope(None, None, ids["b"]),
        visible=true(),
        today=date(2026, 3, 10),
        due_soon_days=5,
        zone=ZONE,
    )
    assert one_commune.total == 2
    assert [(site, n) for site, _, n in one_commune.by_commune] == [(ids["b"], 2)]


async def test_the_overview_page_links_every_number_to_its_cases(
    client: Client, db: AsyncSession
) -> None:
    await registered(db)
    await make_user(db, "chutich", Role.CHAIR)
    await login(client, "chutich")
    page = await (await client.get("/overview")).text()
    assert "<svg" in page
    link = re.search(r'href="(/cases\?[^"]*flag=crowd[^"]*)"', page)
    assert link is not None
    listed = await (await client.get(link.group(1).replace("&amp;", "&"))).text()
    assert "Khiếu nại đất rừng" in listed
    assert "Khiếu nại bồi thường" not in listed
    overdue = re.search(r'href="(/cases\?[^"]*due=overdue[^"]*)"', page)
    assert overdue is not None
    assert (await client.get(overdue.group(1).replace("&amp;", "&"))).status == 200
    # A period narrows every number.
    during = await (await client.get("/overview?period=during")).text()
    assert "Khiếu nại bồi thường" not in during  # titles never appear; counts do
    assert re.search(r"<strong>1</strong> vụ việc", during)  # election day: 15/3 only
