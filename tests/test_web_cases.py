"""The case register through the browser's eyes: intake, refusals, parties, protection."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import sites
from sessions.enums import CaseStatus, Role
from sessions.identity import IdentityVault
from sessions.models import AuditEvent, Case, CaseParty, Site
from sessions.settings import Settings
from tests.conftest import START, Client, csrf_of, login, make_user


async def signed_in_officer(client: Client, db: AsyncSession) -> None:
    await sites.seed_sites(db, START)
    await make_user(db, "canbo", Role.OFFICER)
    await login(client, "canbo")


async def register(client: Client, token: str, title: str, case_type: str, **more: str) -> str:
    """Register a case through the intake form; its page's address."""
    created = await client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "title": title,
            "case_type": case_type,
            "received_on": "2026-03-09",
            "competent_level": "province",
            **more,
        },
        allow_redirects=False,
    )
    assert created.status == 303, await created.text()
    return created.headers["Location"]


async def commune_id(db: AsyncSession, code: str = "05977") -> int:
    site = await db.scalar(select(Site).where(Site.code == code))
    assert site is not None
    return site.id


async def test_register_a_case(client: Client, db: AsyncSession) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    response = await client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "title": "Khiếu nại về bồi thường khi thu hồi đất",
            "summary": "Nhóm hộ dân khiếu nại đơn giá bồi thường.",
            "case_type": "KN",
            "complaint_instance": "first",
            "received_on": "2026-03-09",
            "competent_level": "province",
            "origin_site_id": str(await commune_id(db)),
            "crowd_size": "8",
            "flags": ["complex", "remote"],
        },
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    page = await client.get(location)
    html = await page.text()
    assert "Đã ghi nhận vụ việc." in html
    assert "VV-2026-0001" in html
    assert "UBND Phường Đông Kinh" in html
    # 8 people reaches the crowd threshold (5): the crowd flag is set by the head-count.
    for flag in ("Đông người", "Phức tạp", "Vùng sâu, vùng xa"):
        assert flag in html
    case = await db.scalar(select(Case))
    assert case is not None
    assert case.is_crowd
    assert case.status is CaseStatus.RECEIVED
    assert await db.scalar(select(AuditEvent.action).where(AuditEvent.object_type == "case")) == (
        "case.create"
    )
    listing = await client.get("/cases?type=KN&flag=crowd")
    assert "VV-2026-0001" in await listing.text()
    none = await client.get("/cases?type=TC")
    assert "VV-2026-0001" not in await none.text()


async def test_invalid_intake_keeps_what_was_typed(client: Client, db: AsyncSession) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    response = await client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "title": "Kiến nghị về môi trường <b>khẩn</b>",
            "summary": "Nội dung đã nhập",
            "case_type": "KNGH",
            "complaint_instance": "first",
            "received_on": "2026-12-31",
            "competent_level": "huyện",
            "crowd_size": "-3",
            "origin_site_id": "99999",
        },
    )
    assert response.status == 400
    html = await response.text()
    assert "Vui lòng sửa các mục được đánh dấu." in html
    assert "Chỉ khiếu nại mới có lần giải quyết." in html
    assert "Ngày tiếp nhận không thể ở tương lai." in html
    assert "Chọn cấp có thẩm quyền." in html
    assert "Số người phải là số nguyên từ 1 trở lên." in html
    assert "Chọn một xã hoặc phường trong danh sách." in html
    # What the officer typed is still there (escaped), and nothing was stored.
    assert 'value="Kiến nghị về môi trường &lt;b&gt;khẩn&lt;/b&gt;"' in html
    assert "Nội dung đã nhập</textarea>" in html
    assert await db.scalar(select(func.count()).select_from(Case)) == 0


async def test_unknown_case_is_a_404_page(client: Client, db: AsyncSession) -> None:
    await signed_in_officer(client, db)
    response = await client.get("/cases/424242")
    assert response.status == 404
    assert "Không có vụ việc số 424242." in await response.text()
    unknown_route = await client.get("/khong-co-trang-nay")
    assert unknown_route.status == 404
    assert "Trang này không tồn tại." in await unknown_route.text()


async def test_denouncer_identity_is_sealed_and_never_shown(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    location = await register(client, token, "Tố cáo sai phạm trong cấp giấy chứng nhận", "TC")
    added = await client.post(
        f"{location}/parties",
        data={
            "csrf_token": token,
            "role": "denouncer",
            "full_name": "Nguyễn Thị Tuyết",
            "address": "Thôn Khòn Pổ",
            "id_number": "020190001234",
        },
        allow_redirects=False,
    )
    assert added.status == 303
    html = await (await client.get(location)).text()
    assert "Người tố cáo" in html
    assert "Thông tin được giữ bí mật theo quy định" in html
    for secret in ("Nguyễn Thị Tuyết", "Khòn Pổ", "020190001234"):
        assert secret not in html
    party = await db.scalar(select(CaseParty))
    assert party is not None
    assert party.full_name is None
    assert party.address is None
    assert party.protected_identity is not None
    assert b"Tuy" not in party.protected_identity
    opened = IdentityVault(settings.identity_key).open(party.protected_identity)
    assert opened.full_name == "Nguyễn Thị Tuyết"


async def test_representative_needs_appointment(client: Client, db: AsyncSession) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    location = await register(
        client, token, "Khiếu nại đông người về đất rừng", "KN", complaint_instance="first"
    )
    refused = await client.post(
        f"{location}/parties",
        data={"csrf_token": token, "role": "representative", "full_name": "Hoàng Văn Sáng"},
    )
    assert refused.status == 400
    html = await refused.text()
    assert "Người đại diện phải có văn bản cử người đại diện" in html
    assert 'value="Hoàng Văn Sáng"' in html
    assert await db.scalar(select(func.count()).select_from(CaseParty)) == 0


async def test_english_switch(client: Client, db: AsyncSession) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases")
    switched = await client.post(
        "/language",
        data={"csrf_token": token, "locale": "en", "next": "/cases"},
        allow_redirects=False,
    )
    assert switched.headers["Location"] == "/cases"
    html = await (await client.get("/cases")).text()
    assert "Register a case" in html
    assert '<html lang="en">' in html
    back = await client.post("/language", data={"csrf_token": token, "locale": "vi", "next": "/"})
    assert "Ghi nhận vụ việc" in await back.text()


async def test_names_are_stored_composed_and_have_a_length_limit(
    client: Client, db: AsyncSession
) -> None:
    """Some Vietnamese keyboards type combining marks; a 10,000-character name breaks tables."""
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    created = await client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "title": "Khie\u0302\u0301u na\u0323i ve\u0302\u0300 đa\u0302\u0301t",
            "case_type": "PA",
            "received_on": "2026-03-09",
            "competent_level": "commune",
        },
        allow_redirects=False,
    )
    assert created.status == 303
    case = await db.scalar(select(Case))
    assert case is not None
    assert case.title == "Khiếu nại về đất"  # NFC
    token = await csrf_of(client, f"/cases/{case.id}")
    refused = await client.post(
        f"/cases/{case.id}/parties",
        data={"csrf_token": token, "role": "complainant", "full_name": "Ngô " * 2500},
    )
    assert refused.status == 400
    assert "Trường này dài tối đa 200 ký tự." in await refused.text()
    assert await db.scalar(select(func.count()).select_from(CaseParty)) == 0


async def test_people_are_corrected_and_removed_and_must_fit_the_case(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    case_url = await register(client, token, "Tố cáo cán bộ địa chính xã", "TC")
    # A complainant has no place in a denunciation; the form offers only the roles that fit.
    form = await (await client.get(case_url)).text()
    assert 'value="denouncer"' in form
    assert 'value="complainant"' not in form
    misfit = await client.post(
        f"{case_url}/parties",
        data={"csrf_token": token, "role": "complainant", "full_name": "Lý Văn Nam"},
    )
    assert misfit.status == 400
    assert "Vụ việc loại “Tố cáo” không có “Người khiếu nại”." in await misfit.text()
    for role, name in (("denouncer", "Lý Văn Nam"), ("accused", "Nông Văn Bảy")):
        added = await client.post(
            f"{case_url}/parties",
            data={"csrf_token": token, "role": role, "full_name": name},
            allow_redirects=False,
        )
        assert added.status == 303
    parties = {p.role.value: p for p in await db.scalars(select(CaseParty))}
    denouncer_id, accused_id = parties["denouncer"].id, parties["accused"].id
    sealed = parties["denouncer"].protected_identity
    # Correcting a name; the denouncer's identity is never shown back, and kept when left empty.
    page = await (await client.get(f"{case_url}/parties/{denouncer_id}")).text()
    assert "Lý Văn Nam" not in page
    kept = await client.post(
        f"{case_url}/parties/{denouncer_id}",
        data={"csrf_token": token, "role": "denouncer", "full_name": ""},
        allow_redirects=False,
    )
    assert kept.status == 303
    fixed = await client.post(
        f"{case_url}/parties/{accused_id}",
        data={"csrf_token": token, "role": "accused", "full_name": "Nông Văn Bẩy"},
        allow_redirects=False,
    )
    assert fixed.status == 303
    db.expire_all()
    assert (await db.get(CaseParty, denouncer_id)).protected_identity == sealed  # type: ignore[union-attr]
    assert (await db.get(CaseParty, accused_id)).full_name == "Nông Văn Bẩy"  # type: ignore[union-attr]
    vault = IdentityVault(settings.identity_key)
    assert vault.open(sealed).full_name == "Lý Văn Nam"  # type: ignore[arg-type]
    # A denouncer stays a denouncer (a protected identity never becomes a plain one).
    turned = await client.post(
        f"{case_url}/parties/{denouncer_id}",
        data={"csrf_token": token, "role": "accused", "full_name": "X"},
    )
    assert turned.status == 400
    # Removing one recorded by mistake.
    removed = await client.post(
        f"{case_url}/parties/{accused_id}/remove",
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert removed.status == 303
    await db.rollback()  # read what the server wrote
    assert await db.scalar(select(func.count()).where(CaseParty.id == accused_id)) == 0
    details = {
        e.action: e.details
        for e in await db.scalars(select(AuditEvent).where(AuditEvent.object_type == "case"))
    }
    assert details["case.party_edit"]["changed"] == ["full_name"]
    assert details["case.party_remove"]["shown_as"] == "Nông Văn Bẩy"
    assert "Lý Văn Nam" not in str(details)  # the denouncer's name is in no audit entry


async def test_a_case_is_handled_step_by_step_on_its_page(client: Client, db: AsyncSession) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    case_url = await register(
        client, token, "Khiếu nại về bồi thường đất", "KN", complaint_instance="first"
    )
    page = await (await client.get(case_url)).text()
    assert "hạn tiếp theo" in page  # the acceptance clock runs from intake
    # A step dated before receipt is refused beside its field; nothing recorded.
    early = await client.post(
        f"{case_url}/status",
        data={
            "csrf_token": token,
            "status": "accepted",
            "on": "2026-01-01",
            "document_number": "01/TB",
        },
    )
    assert early.status == 400
    assert "Ngày quyết định không được trước ngày tiếp nhận vụ việc" in await early.text()
    # A transition the lifecycle forbids is refused.
    forbidden = await client.post(
        f"{case_url}/status",
        data={
            "csrf_token": token,
            "status": "resolved",
            "on": "2026-03-09",
            "document_number": "1",
        },
    )
    assert forbidden.status == 409
    accepted = await client.post(
        f"{case_url}/status",
        data={
            "csrf_token": token,
            "status": "accepted",
            "on": "2026-03-09",
            "document_number": "15/TB-BTCD",
            "decided_by": "Trưởng Ban Tiếp công dân",
        },
        allow_redirects=False,
    )
    assert accepted.status == 303
    page = await (await client.get(case_url)).text()
    assert "15/TB-BTCD" in page
    assert "giải quyết khiếu nại" in page  # the next deadline is now the resolution's
    await db.rollback()
    actions = list(
        await db.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "case"))
    )
    assert actions.count("case.status") == 1


async def test_a_case_is_corrected_and_its_earlier_details_are_kept(
    client: Client, db: AsyncSession
) -> None:
    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    case_url = await register(
        client, token, "Khiếu nại về bồi thường", "KN", complaint_instance="first"
    )
    form = await (await client.get(f"{case_url}/edit")).text()
    assert 'value="Khiếu nại về bồi thường"' in form
    bad = await client.post(
        f"{case_url}/edit",
        data={
            "csrf_token": token,
            "title": "Khiếu nại",
            "case_type": "KN",
            "complaint_instance": "first",
            "received_on": "2099-01-01",
            "competent_level": "province",
        },
    )
    assert bad.status == 400
    assert (
        "Ngày nhận không được sau ngày hôm nay." in await bad.text()
        or "tương lai" in await bad.text()
    )
    fixed = await client.post(
        f"{case_url}/edit",
        data={
            "csrf_token": token,
            "title": "Khiếu nại về bồi thường đất nông nghiệp",
            "case_type": "KN",
            "complaint_instance": "first",
            "received_on": "2026-03-09",
            "competent_level": "province",
            "flags": ["complex"],
        },
        allow_redirects=False,
    )
    assert fixed.status == 303
    form = await (await client.get(f"{case_url}/edit")).text()
    assert "tiêu đề trước khi sửa: Khiếu nại về bồi thường" in form
    assert "Phức tạp" in form  # the changed fields by their names, not raw ids
    assert "is_complex" not in form
    await db.rollback()
    details = [
        e.details
        for e in await db.scalars(select(AuditEvent).where(AuditEvent.action == "case.edit"))
    ]
    assert details == [{"changed": ["title", "is_complex"]}]


async def test_documents_are_checked_by_content_hashed_and_filed(
    client: Client, db: AsyncSession
) -> None:
    import aiohttp

    await signed_in_officer(client, db)
    token = await csrf_of(client, "/cases/new")
    case_url = await register(client, token, "Kiến nghị về đường", "PA")
    url = f"{case_url}/documents?csrf_token={token}"
    fake = aiohttp.FormData()
    fake.add_field("title", "Đơn kiến nghị")
    fake.add_field(
        "document", b"MZ\x90\x00 not a pdf", filename="don.pdf", content_type="application/pdf"
    )
    refused = await client.post(url, data=fake)
    assert refused.status == 409
    assert "Bản quét phải là tệp PDF, PNG hoặc JPEG." in await refused.text()
    pdf = b"%PDF-1.7\n" + b"0" * 4096
    real = aiohttp.FormData()
    real.add_field("title", "Đơn kiến nghị")
    real.add_field("document", pdf, filename="don.pdf", content_type="application/pdf")
    filed = await client.post(url, data=real, allow_redirects=False)
    assert filed.status == 303
    page = await (await client.get(case_url)).text()
    assert hashlib.sha256(pdf).hexdigest() in page
    link = re.search(r'href="(/cases/\d+/documents/\d+)"', page)
    assert link is not None
    assert await (await client.get(link.group(1))).read() == pdf
