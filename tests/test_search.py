"""Search without diacritics or case, on SQLite (FTS5) and PostgreSQL (trigram index)."""

from __future__ import annotations

from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, search
from sessions.collation import fold, shown
from sessions.enums import Role
from sessions.identity import IdentityVault
from sessions.settings import Settings
from tests.conftest import START, Client, login, make_user


def test_folding_keeps_places_and_folds_d() -> None:
    assert fold("Đối thoại Đường") == "doi thoai duong"
    assert fold("KHIẾU NẠI") == "khieu nai"
    written = shown("Tranh   chấp\n đất  rừng")
    assert written == "Tranh chấp đất rừng"
    assert len(fold(written)) == len(written)  # each character at the same place


async def registered(db: AsyncSession, settings: Settings) -> dict[str, int]:
    ids = {}
    for title, summary in (
        ("Đối thoại về đất rừng Hữu Lũng", "Tranh chấp ranh giới"),
        ("Kiến nghị mở rộng Đường Bà Triệu", "Đề nghị sửa chữa mặt đường"),
        ("Khiếu nại bồi thường", "Giá đất thấp"),
    ):
        case = await cases.create_case(
            db,
            cases.CaseDraft(
                title=title,
                summary=summary,
                case_type="PA",
                received_on="2026-03-01",
                competent_level="province",
            ),
            at=START,
            today=START.date(),
            actor_id=None,
            crowd_threshold=5,
        )
        ids[title] = case.id
    denunciation = await cases.create_case(
        db,
        cases.CaseDraft(
            title="Tố cáo sai phạm",
            case_type="TC",
            received_on="2026-03-01",
            competent_level="province",
        ),
        at=START,
        today=START.date(),
        actor_id=None,
        crowd_threshold=5,
    )
    await cases.add_party(
        db,
        denunciation,
        cases.PartyDraft(role="denouncer", full_name="Nguyễn Văn Mật"),
        vault=IdentityVault(settings.identity_key),
        at=START,
        actor_id=None,
    )
    await db.commit()
    return ids


async def test_search_ignores_marks_and_case_on_both_databases(
    db: AsyncSession, settings: Settings
) -> None:
    ids = await registered(db, settings)

    async def found(query: str) -> set[int]:
        hits = await search.search(db, query, cases_visible=true(), meetings_visible=true())
        return {h.object_id for h in hits if h.kind == "case"}

    forest = ids["Đối thoại về đất rừng Hữu Lũng"]
    street = ids["Kiến nghị mở rộng Đường Bà Triệu"]
    assert await found("doi thoai") == {forest}
    assert await found("Đối thoại") == {forest}
    assert await found("DOI THOAI RUNG") == {forest}
    assert await found("Duong") == {street}
    assert await found("duong ba trieu") == {street}
    assert await found("dat") >= {forest, ids["Khiếu nại bồi thường"]}
    assert await found("'; DROP TABLE cases; --") == set()  # only words reach the query
    assert await found("") == set()
    # A denouncer's name is in the vault, never in what search reads.
    assert await found("Nguyen Van Mat") == set()
    (hit,) = await search.search(db, "duong", cases_visible=true(), meetings_visible=true())
    assert "Đường" in hit.snippet  # shown as written


async def test_the_search_page_shows_only_what_the_reader_may_see(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    await registered(db, settings)
    await make_user(db, "thanhtra", Role.AUDITOR)
    await login(client, "thanhtra")
    page = await (await client.get("/search?q=doi+thoai")).text()
    assert "Đối thoại về đất rừng Hữu Lũng" in page
    assert "Kiến nghị mở rộng" not in page
