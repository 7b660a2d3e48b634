"""Minutes through the real app: started from the meeting's record, written in versions with
conflicts refused, signed, finalised into a stored PDF/A, amended; PDF and DOCX read back."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import docx
import pypdf
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recordings import bundle
from sessions import audit, cases, deadlines, handling, meetings, minutes, sites
from sessions.enums import (
    AttendanceOutcome,
    MeetingKind,
    MeetingPurpose,
    MeetingStatus,
    MinutesStatus,
    Role,
)
from sessions.identity import IdentityVault
from sessions.models import Attendance, AuditEvent, MeetingInvitee, Recording
from sessions.settings import Settings
from tests.conftest import START, ZONE, Client, csrf_of, login, make_user
from web.cli import main as cli


async def ended_dialogue(
    db: AsyncSession, settings: Settings, *, denunciation: bool = False
) -> int:
    """An ended online dialogue of a case, with a party invited, a chair, a secretary and the
    attendance the room wrote."""
    await sites.seed_sites(db, START)
    await db.flush()
    host = await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)
    commune = await sites.by_code(db, "05977")
    assert host is not None
    assert commune is not None
    chair = await make_user(db, "lanhdao", Role.CHAIR, full_name="Lương Văn Bình")
    secretary = await make_user(db, "thuky", Role.SECRETARY, full_name="Vi Thị Lan")
    await make_user(db, "canbo", Role.OFFICER)
    case = await cases.create_case(
        db,
        cases.CaseDraft(
            title="Tố cáo cán bộ địa chính" if denunciation else "Khiếu nại về bồi thường",
            case_type="TC" if denunciation else "KN",
            complaint_instance="" if denunciation else "first",
            received_on="2026-02-20",
            competent_level="province",
        ),
        at=START,
        today=START.date(),
        actor_id=None,
        crowd_threshold=5,
    )
    party = await cases.add_party(
        db,
        case,
        cases.PartyDraft(
            role="denouncer" if denunciation else "complainant", full_name="Hoàng Văn Sáng"
        ),
        vault=IdentityVault(settings.identity_key),
        at=START,
        actor_id=None,
    )
    meeting = await meetings.add(
        db,
        meetings.build(
            title="Đối thoại giải quyết khiếu nại về đất đai",
            purpose=MeetingPurpose.DIALOGUE,
            kind=MeetingKind.SCHEDULED,
            case_id=case.id,
            chair_id=chair.id,
            secretary_id=secretary.id,
            start=START - timedelta(hours=3),
            end=START - timedelta(hours=1),
            status=MeetingStatus.ENDED,
            created_at=START,
            host_site_id=host.id,
            participant_site_ids=[commune.id],
            officials={host.id: "Lương Văn Bình", commune.id: "Chủ tịch UBND phường"},
            invitees=[
                MeetingInvitee(
                    party_id=party.id, display_name=party.shown_name, role_label="Complainant"
                )
            ],
        ),
        ZONE,
    )
    meeting.started_at = START - timedelta(hours=3)
    meeting.ended_at = START - timedelta(hours=1, minutes=10)
    db.add(
        Attendance(
            meeting_id=meeting.id,
            site_id=commune.id,
            display_name=commune.name,
            role_label="Participant endpoint",
            joined_at=START - timedelta(hours=3),
            left_at=START - timedelta(hours=1, minutes=10),
            outcome=AttendanceOutcome.LEFT,
            interruptions=1,
        )
    )
    # The server restarted during the dialogue (signaling/journal.py records it so).
    await audit.record(
        db,
        START - timedelta(hours=2) + timedelta(minutes=3),
        None,
        "meeting.restart",
        "meeting",
        meeting.id,
        {
            "from": (START - timedelta(hours=2)).isoformat(),
            "to": (START - timedelta(hours=2) + timedelta(minutes=3)).isoformat(),
            "cause": "server_restart",
            "subjects": [f"site:{commune.id}"],
        },
    )
    await db.commit()
    return meeting.id


async def started(client: Client, meeting_id: int) -> tuple[str, dict[str, Any]]:
    token = await csrf_of(client, f"/meetings/{meeting_id}/minutes")
    begun = await client.post(
        f"/meetings/{meeting_id}/minutes/start", data={"csrf_token": token}, allow_redirects=False
    )
    assert begun.status == 303
    state = await (await client.get(f"/meetings/{meeting_id}/minutes/state")).json()
    return token, state


async def save(
    client: Client, meeting_id: int, token: str, base: int, content: dict[str, Any]
) -> Any:
    return await client.post(
        f"/meetings/{meeting_id}/minutes/save",
        json={"base_version": base, "content": content},
        headers={"X-CSRF-Token": token},
    )


def signed(content: dict[str, Any]) -> dict[str, Any]:
    """Everyone signed but the complainant, who refused with a reason."""
    out = dict(content)
    out["signatures"] = [
        {**s, "state": "refused", "reason": "Không đồng ý với kết quả"}
        if s["role"] == "Complainant"
        else {**s, "state": "signed"}
        for s in content["signatures"]
    ]
    return out


async def test_minutes_are_written_signed_finalised_and_read_back(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    meeting_id = await ended_dialogue(db, settings)
    await login(client, "thuky")
    token, state = await started(client, meeting_id)
    content = state["content"]
    # Prefilled from the record: endpoints with their officials, the party, the attendance
    # with its interruption, and the signature lines with the secretary and the chair last.
    facts = content["facts"]
    assert [e["official"] for e in facts["endpoints"]] == ["Lương Văn Bình", "Chủ tịch UBND phường"]
    assert facts["invitees"][0]["name"] == "Hoàng Văn Sáng"
    assert facts["attendance"][0]["interruptions"] == 1
    assert [s["role"] for s in content["signatures"]][-2:] == ["Secretary", "Chair"]
    assert content["kind"] == "dialogue"
    assert content["instance"] == "first"

    content.update(
        number="07/BB-BTCD",
        issues="Bồi thường đất nông nghiệp khi thu hồi",
        verification="Đơn giá áp dụng đúng quy định",
        agreed="Rà soát lại diện tích",
        outstanding="Đơn giá bồi thường",
        opinions=[
            {"who": "Hoàng Văn Sáng", "text": "<script>alert(1)</script>Đề nghị xem xét", "at": 754}
        ],
    )
    second = await save(client, meeting_id, token, state["version"], content)
    assert second.status == 200
    v2 = (await second.json())["version"]
    assert v2 == state["version"] + 1
    # A second editor on the old version is refused, and told what was saved meanwhile.
    stale = await save(client, meeting_id, token, state["version"], {**content, "agreed": "Khác"})
    assert stale.status == 409
    conflict = await stale.json()
    assert conflict["current"]["version"] == v2
    assert conflict["current"]["content"]["agreed"] == "Rà soát lại diện tích"
    assert "đã được lưu" in conflict["message"] or "vừa được lưu" in conflict["message"]
    # Bad input: an over-long field is refused, nothing saved.
    long = await save(client, meeting_id, token, v2, {**content, "agreed": "x" * 10001})
    assert long.status == 400
    assert "agreed" in (await long.json())["errors"]
    # Not finalised while signatures are missing; the page says what is missing.
    page = await (await client.get(f"/meetings/{meeting_id}/minutes")).text()
    assert "Mọi người tham gia phải ký, điểm chỉ hoặc từ chối ký." in page
    early = await client.post(
        f"/meetings/{meeting_id}/minutes/finalise", data={"csrf_token": token}
    )
    assert early.status == 409
    # A refusal needs its reason.
    no_reason = signed(content)
    for s in no_reason["signatures"]:
        if s["state"] == "refused":
            s["reason"] = ""
    assert (await save(client, meeting_id, token, v2, no_reason)).status == 200
    page = await (await client.get(f"/meetings/{meeting_id}/minutes")).text()
    assert "Ghi lý do của từng người từ chối ký." in page
    state = await (await client.get(f"/meetings/{meeting_id}/minutes/state")).json()
    done = await save(client, meeting_id, token, state["version"], signed(content))
    assert done.status == 200
    final = await client.post(
        f"/meetings/{meeting_id}/minutes/finalise",
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert final.status == 303
    await db.rollback()
    locked = await minutes.minutes_of(db, meeting_id)
    assert locked is not None
    assert locked.status is MinutesStatus.FINALISED
    assert (await meetings.get_meeting(db, meeting_id)).status is MeetingStatus.MINUTES_FINALISED
    # Finalised minutes are never edited: a save is refused (409), nothing changes.
    after = await save(client, meeting_id, token, locked.current_version, content)
    assert after.status == 409

    # The PDF/A: the one stored when finalising, its hash the recorded one, the text right.
    pdf = await client.get(f"/meetings/{meeting_id}/minutes.pdf")
    assert pdf.status == 200
    body = await pdf.read()
    assert hashlib.sha256(body).hexdigest() == locked.pdf_sha256
    reader = pypdf.PdfReader(io.BytesIO(body))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BIÊN BẢN ĐỐI THOẠI",
        "Số: 07/BB-BTCD",
        "Hoàng Văn Sáng",
        "Lương Văn Bình",
        "Vi Thị Lan",
        "Chủ tịch UBND phường",
        "Không ký. Lý do: Không đồng ý với kết quả",
        "tại 0:12:34 trong bản ghi hình",
    ):
        assert expected in " ".join(text.split()), expected
    # PDF/A-3b, as its XMP metadata declares.
    metadata = reader.xmp_metadata
    assert metadata is not None
    xmp = metadata.stream.get_data().decode()
    assert re.search(r"pdfaid:part[=>\"']+3", xmp), xmp
    assert re.search(r"pdfaid:conformance[=>\"']+B", xmp), xmp
    # The print view (same template) escapes what was typed.
    printed = await (await client.get(f"/meetings/{meeting_id}/minutes/print")).text()
    assert "<script>alert(1)</script>" not in printed
    assert "&lt;script&gt;" in printed
    # The restart's gap, with its range, among the interruptions.
    assert "07:00–07:03 — máy chủ khởi động lại: mất âm thanh và hình ảnh" in printed
    # The DOCX opens and holds the same.
    word = await client.get(f"/meetings/{meeting_id}/minutes.docx")
    document = docx.Document(io.BytesIO(await word.read()))
    words = "\n".join(p.text for p in document.paragraphs) + "\n".join(
        cell.text for table in document.tables for row in table.rows for cell in row.cells
    )
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "BIÊN BẢN ĐỐI THOẠI",
        "Hoàng Văn Sáng",
        "07:00–07:03 — máy chủ khởi động lại: mất âm thanh và hình ảnh",
    ):
        assert expected in words, expected

    # A correction is an amendment linked to the finalised version; the chain checks.
    amended = await client.post(
        f"/meetings/{meeting_id}/minutes/amend",
        json={
            "content": {**signed(content), "agreed": "Rà soát lại diện tích đo đạc"},
            "reason": "",
        },
        headers={"X-CSRF-Token": token},
    )
    assert amended.status == 400  # a reason is needed
    amended = await client.post(
        f"/meetings/{meeting_id}/minutes/amend",
        json={
            "content": {**signed(content), "agreed": "Rà soát lại diện tích đo đạc"},
            "reason": "Sửa lỗi ghi chép",
        },
        headers={"X-CSRF-Token": token},
    )
    assert amended.status == 200, await amended.text()
    await db.rollback()
    locked = await minutes.minutes_of(db, meeting_id)
    assert locked is not None
    assert await minutes.chain_problems(db, locked) == []
    kinds = [v.kind for v in locked.versions]
    assert kinds[-2:] == ["final", "amendment"]
    assert locked.versions[-1].amends_version == locked.versions[-2].version
    # Tampering with a stored version is found.
    locked.versions[-2].content = {**locked.versions[-2].content, "agreed": "đã sửa lén"}
    assert await minutes.chain_problems(db, locked) != []
    await db.rollback()
    actions = set(await db.scalars(select(AuditEvent.action)))
    assert {"minutes.start", "minutes.finalise", "minutes.amend", "minutes.download"} <= actions


async def test_a_denouncer_is_only_a_pseudonym_in_the_minutes(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    meeting_id = await ended_dialogue(db, settings, denunciation=True)
    await login(client, "thuky")
    _, state = await started(client, meeting_id)
    assert state["content"]["facts"]["invitees"][0]["name"] == "Người tố cáo 1"
    assert "Hoàng Văn Sáng" not in str(state)
    printed = await (await client.get(f"/meetings/{meeting_id}/minutes/print")).text()
    assert "Người tố cáo 1" in printed
    assert "Hoàng Văn Sáng" not in printed


@pytest.mark.parametrize("who", ["diemcau", "lienlac"])
async def test_who_may_not_read_minutes_is_refused(
    client: Client, db: AsyncSession, settings: Settings, who: str
) -> None:
    meeting_id = await ended_dialogue(db, settings)
    role = Role.SITE_OPERATOR if who == "diemcau" else Role.CENTRAL_LIAISON
    await make_user(db, who, role)
    await login(client, who)
    assert (await client.get(f"/meetings/{meeting_id}/minutes")).status == 403
    assert (await client.get(f"/meetings/{meeting_id}/minutes.pdf")).status == 403


async def test_the_case_file_checks_with_common_tools_and_a_changed_byte_is_named(
    client: Client, db: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    """The archive's README says how to check it without our software: do exactly that."""
    meeting_id = await ended_dialogue(db, settings)
    await login(client, "thuky")
    token, state = await started(client, meeting_id)
    content = signed({**state["content"], "agreed": "Rà soát lại diện tích"})
    assert (await save(client, meeting_id, token, state["version"], content)).status == 200
    final = await client.post(
        f"/meetings/{meeting_id}/minutes/finalise",
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert final.status == 303
    meeting = await meetings.get_meeting(db, meeting_id)
    assert meeting.case_id is not None
    await login(client, "lanhdao")  # the leader exports the case file
    exported = await client.get(f"/cases/{meeting.case_id}/file")
    assert exported.status == 200
    archive = tmp_path / "ho-so.zip"
    archive.write_bytes(await exported.read())
    # Our own check, offline.
    assert cli(["verify-bundle", str(archive)]) == 0
    # A third party's check: unzip, sha256sum -c, openssl.
    folder = tmp_path / "hoso"
    with zipfile.ZipFile(archive) as z:
        z.extractall(folder)
        names = z.namelist()
    assert any(n.endswith("bien-ban-v2.pdf") for n in names)
    assert any(n.endswith("diem-danh.csv") for n in names)
    assert "nhat-ky.json" in names
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert "sha256sum -c SHA256SUMS" in readme
    sums = await asyncio.to_thread(
        subprocess.run,
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    signature = await asyncio.to_thread(
        subprocess.run,
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signing-public.pem",
            "-rawin",
            "-in",
            "SHA256SUMS",
            "-sigfile",
            "SHA256SUMS.sig",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Signature Verified Successfully" in signature.stdout, (
        signature.stdout + signature.stderr
    )
    # One byte of one file changed: the check fails and names that file.
    pdf_name = next(n for n in names if n.endswith("bien-ban-v2.pdf"))
    with zipfile.ZipFile(archive) as z:
        members = {n: z.read(n) for n in z.namelist()}
    tampered = bytearray(members[pdf_name])
    tampered[len(tampered) // 2] ^= 0x01
    members[pdf_name] = bytes(tampered)
    changed = tmp_path / "ho-so-doi.zip"
    with zipfile.ZipFile(changed, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    problems = bundle.verify(changed)
    assert problems == [f"{pdf_name}: SHA-256 does not match SHA256SUMS"]
    assert cli(["verify-bundle", str(changed)]) == 1


async def test_signed_scans_are_checked_by_content_and_the_leader_signs_the_notice(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    meeting_id = await ended_dialogue(db, settings)
    await login(client, "thuky")
    token, state = await started(client, meeting_id)
    content = {**state["content"], "agreed": "Rà soát lại diện tích đất"}
    assert (await save(client, meeting_id, token, state["version"], content)).status == 200
    url = f"/meetings/{meeting_id}/minutes/scans?csrf_token={token}"
    # Named .pdf but text inside: refused by its content, nothing filed.
    fake = aiohttp.FormData()
    fake.add_field(
        "scan", b"<html>not a scan</html>", filename="ban-ky.pdf", content_type="application/pdf"
    )
    refused = await client.post(url, data=fake)
    assert refused.status == 409
    assert "Bản quét phải là tệp PDF, PNG hoặc JPEG." in await refused.text()
    png = aiohttp.FormData()
    host = (await meetings.get_meeting(db, meeting_id)).sites[0].site_id
    png.add_field("site_id", str(host))
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
    png.add_field("scan", image, filename="scan.png", content_type="image/png")
    filed = await client.post(url, data=png, allow_redirects=False)
    assert filed.status == 303
    page = await (await client.get(f"/meetings/{meeting_id}/minutes")).text()
    assert hashlib.sha256(image).hexdigest() in page
    scan_link = re.search(r'href="(/meetings/\d+/minutes/scans/\d+)"', page)
    assert scan_link is not None
    assert await (await client.get(scan_link.group(1))).read() == image
    # The conclusion notice: drafted from the minutes' result, signed by the chair only.
    drafted = await client.post(
        f"/meetings/{meeting_id}/notice",
        data={"csrf_token": token, "draft_only": "1"},
        allow_redirects=False,
    )
    assert drafted.status == 303
    notice_page = await (await client.get(f"/meetings/{meeting_id}/notice")).text()
    assert "Rà soát lại diện tích đất" in notice_page  # from the minutes' result
    assert "Ghi số thông báo trước khi ký." not in notice_page  # the secretary cannot sign
    saved = await client.post(
        f"/meetings/{meeting_id}/notice",
        data={
            "csrf_token": token,
            "number": "12/TB-UBND",
            "conclusion": "Giao UBND phường rà soát lại diện tích đất",
            "tasks": "UBND phường báo cáo trước ngày 30/3/2026",
            "recipients": "- Hộ ông Hoàng Văn Sáng;\n- Lưu: VT.",
        },
        allow_redirects=False,
    )
    assert saved.status == 303
    assert (
        await client.post(f"/meetings/{meeting_id}/notice/sign", data={"csrf_token": token})
    ).status == 403  # the secretary is not the leader who chaired
    await login(client, "lanhdao")
    token = await csrf_of(client, f"/meetings/{meeting_id}/notice")
    signed_off = await client.post(
        f"/meetings/{meeting_id}/notice/sign", data={"csrf_token": token}, allow_redirects=False
    )
    assert signed_off.status == 303
    pdf = await (await client.get(f"/meetings/{meeting_id}/notice.pdf")).read()
    text = " ".join(
        " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages).split()
    )
    for expected in (
        "THÔNG BÁO",
        "Số: 12/TB-UBND",
        "Lạng Sơn, ngày",
        "Lương Văn Bình",
        "Giao UBND phường rà soát lại diện tích đất",
        "Nơi nhận:",
    ):
        assert expected in text, expected
    # Signed, it no longer changes.
    again = await client.post(
        f"/meetings/{meeting_id}/notice",
        data={"csrf_token": token, "number": "13/TB-UBND", "conclusion": "khác"},
    )
    assert again.status == 409


async def test_the_case_page_tells_the_whole_story_in_order(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    """Intake, the meeting, its recording, the locked minutes and the handling step on one
    timeline, oldest first, each leading to its page."""
    meeting_id = await ended_dialogue(db, settings)
    meeting = await meetings.get_meeting(db, meeting_id)
    assert meeting.case_id is not None
    case = await cases.get_case(db, meeting.case_id)
    db.add(
        Recording(
            meeting_id=meeting_id,
            participant_label="Phường Đông Kinh",
            relative_path="x/1/a.webm",
            started_at=START - timedelta(hours=3),
        )
    )
    await handling.change_status(
        db,
        case,
        "accepted",
        on_raw="2026-02-25",
        document_number="05/TB-BTCD",
        decided_by="Chủ tịch UBND tỉnh",
        note="",
        today=START.date(),
        at=START,
        actor_id=None,
        calendar=deadlines.Calendar(frozenset(), frozenset()),
        rules=deadlines.rules_of(settings),
    )
    await db.commit()
    await login(client, "thuky")
    token, state = await started(client, meeting_id)
    assert (await save(client, meeting_id, token, state["version"], signed(state["content"]))).ok
    await client.post(f"/meetings/{meeting_id}/minutes/finalise", data={"csrf_token": token})
    await client.post("/logout", data={"csrf_token": token})

    await login(client, "lanhdao")
    page = await (await client.get(f"/cases/{case.id}")).text()
    story = page[page.index('id="timeline"') :]
    story = story[: story.index("</section>")]
    expected = [
        "20/02/2026</strong> — Tiếp nhận, vào sổ (Khiếu nại)",
        "25/02/2026</strong> — Chuyển sang: Đã thụ lý",
        f'<a href="/meetings/{meeting_id}">Cuộc họp “Đối thoại giải quyết khiếu nại về đất đai”',
        f'<a href="/meetings/{meeting_id}/recordings">Ghi hình “Đối thoại',
        f'<a href="/meetings/{meeting_id}/minutes">Biên bản “Đối thoại',
    ]
    places = [story.find(text) for text in expected]
    assert -1 not in places, [t for t, p in zip(expected, places, strict=True) if p == -1]
    assert places == sorted(places)
    assert "05/TB-BTCD · Chủ tịch UBND tỉnh" in story
