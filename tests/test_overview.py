"""The Chairman's overview: SQL counts for a period and a commune, each number opening its cases."""

from __future__ import annotations

import io
import re
from datetime import date

import openpyxl
import pypdf
from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, register, sites
from sessions.enums import Role
from sessions.identity import IdentityVault
from sessions.models import Site
from sessions.settings import Settings
from tests.conftest import START, ZONE, Client, csrf_of, login, make_user


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


def test_reporting_quarters_run_from_the_15th_to_the_14th() -> None:
    assert register.reporting_quarter(2026, 1) == (date(2025, 12, 15), date(2026, 3, 14))
    assert register.reporting_quarter(2026, 2) == (date(2026, 3, 15), date(2026, 6, 14))
    assert register.reporting_quarter(2026, 4) == (date(2026, 9, 15), date(2026, 12, 14))


async def test_the_reception_register_exports_its_twelve_columns_and_keeps_the_vault(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    ids = await registered(db)
    denunciation = await cases.get_case(db, ids["Tố cáo cán bộ"])
    await cases.add_party(
        db,
        denunciation,
        cases.PartyDraft(role="denouncer", full_name="Nguyễn Văn Mật", id_number="012345678901"),
        vault=IdentityVault(settings.identity_key),
        at=START,
        actor_id=None,
    )
    await db.commit()
    await make_user(db, "chutich", Role.CHAIR)
    await login(client, "chutich")
    counts = await register.quarter_counts(db, 2026, 1, visible=true(), zone=ZONE)
    # Q1 runs 15/12/2025–14/3/2026: the 10/2 case (12 people); 1/12/2025 falls in Q4 2025.
    assert (counts.visits, counts.people) == (1, 12)
    sheet = await client.get("/register?from=2025-12-01&to=2026-03-31&format=xlsx")
    assert sheet.status == 200
    book = openpyxl.load_workbook(io.BytesIO(await sheet.read()))
    sheet_ = book.worksheets[0]
    rows = list(sheet_.iter_rows(values_only=True))
    header = rows[4]
    assert header[0] == "STT"
    assert len([c for c in header if c]) == 12
    body = [r for r in rows[6:] if r[0]]
    assert [r[0] for r in body] == [1, 2, 3, 4]
    assert body[0][2] == "Người tố cáo 1"  # the denouncer by pseudonym only
    assert "Nguyễn Văn Mật" not in str(rows)
    assert "012345678901" not in str(rows)
    pdf = await client.get("/register?from=2025-12-01&to=2026-03-31&format=pdf")
    text = " ".join(
        " ".join(
            p.extract_text() for p in pypdf.PdfReader(io.BytesIO(await pdf.read())).pages
        ).split()
    )
    assert "SỔ TIẾP CÔNG DÂN" in text
    assert "Khiếu nại đất rừng" in text
    assert "Nguyễn Văn Mật" not in text
    refused = await client.get("/register?from=2026-03-31&to=2026-01-01")
    assert refused.status == 400


async def test_a_proposal_goes_to_the_chairman_and_comes_back_decided(
    client: Client, db: AsyncSession
) -> None:
    ids = await registered(db)
    crowded = ids["Khiếu nại đất rừng"]  # 12 people: crowded
    plain = ids["Kiến nghị đường"]
    officer = await make_user(db, "canbo", Role.OFFICER)
    office = await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)
    assert office is not None
    officer.site_id = office.id
    for case_id in (crowded, plain):
        (await cases.get_case(db, case_id)).unit_site_id = office.id  # the office's cases
    await db.commit()
    await make_user(db, "chutich", Role.CHAIR, full_name="Hồ Tiến Thiệu")
    await login(client, "canbo")
    token = await csrf_of(client, f"/cases/{crowded}")
    refused = await client.post(
        f"/cases/{plain}/proposals", data={"csrf_token": token, "text": "Đề xuất"}
    )
    assert refused.status == 409  # a petition that is neither crowded nor complex
    sent = await client.post(
        f"/cases/{crowded}/proposals",
        data={
            "csrf_token": token,
            "text": "Đề xuất thành lập tổ công tác liên ngành",
            "submit": "1",
        },
        allow_redirects=False,
    )
    assert sent.status == 303
    await login(client, "chutich")
    overview = await (await client.get("/overview")).text()
    assert "Đề xuất đang chờ Chủ tịch cho ý kiến (1)" in overview
    page = await (await client.get(f"/cases/{crowded}")).text()
    proposal = re.search(r"/cases/\d+/proposals/(\d+)/decide", page)
    assert proposal is not None
    token = await csrf_of(client, f"/cases/{crowded}")
    no_words = await client.post(
        f"/cases/{crowded}/proposals/{proposal.group(1)}/decide",
        data={"csrf_token": token, "decision": "return", "instructions": ""},
    )
    assert no_words.status == 409
    back = await client.post(
        f"/cases/{crowded}/proposals/{proposal.group(1)}/decide",
        data={
            "csrf_token": token,
            "decision": "return",
            "instructions": "Bổ sung ý kiến của Sở Tài nguyên",
        },
        allow_redirects=False,
    )
    assert back.status == 303
    page = await (await client.get(f"/cases/{crowded}")).text()
    assert "Bổ sung ý kiến của Sở Tài nguyên" in page
    assert "Đã trả lại kèm ý kiến chỉ đạo" in page


async def test_a_crowd_delegation_is_recorded_with_its_working_group_and_outcome(
    client: Client, db: AsyncSession
) -> None:
    ids = await registered(db)
    reference = (await cases.get_case(db, ids["Khiếu nại đất rừng"])).reference
    await make_user(db, "chutich", Role.CHAIR)
    await login(client, "chutich")
    token = await csrf_of(client, "/delegations")
    form = {
        "csrf_token": token,
        "place": "central",
        "gathered_on": "2026-03-09",
        "gathered_time": "07:30",
        "head_count": "25",
        "commune_ids": [str(ids["a"])],
        "case_references": f"{reference}, VV-2026-9999",
        "group_members": "Phó Trưởng Ban Tiếp công dân; cán bộ Sở Tài nguyên",
        "group_authority": "Quyết định 15/QĐ-UBND",
        "outcome": "returned_home",
        "returned_home_on": "",
    }
    refused = await client.post("/delegations", data=form)
    assert refused.status == 400
    html = await refused.text()
    assert "Không có vụ việc VV-2026-9999." in html
    assert "Ghi ngày công dân về địa phương." in html
    assert "Phó Trưởng Ban Tiếp công dân" in html  # nothing typed is lost
    saved = await client.post(
        "/delegations",
        data={**form, "case_references": reference, "returned_home_on": "2026-03-10"},
        allow_redirects=False,
    )
    assert saved.status == 303
    case_page = await (await client.get(f"/cases/{ids['Khiếu nại đất rừng']}")).text()
    assert "25 người" in case_page  # on the case's page
    overview = await (await client.get("/overview")).text()
    assert re.search(r"<strong>1</strong> đoàn đông người \(25 người\)", overview)
