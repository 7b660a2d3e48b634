"""Realistic sample data for a demonstration: users for every role, cases and meetings.

Names are invented; places and procedure follow DOMAIN.md. Loading twice adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, sites, users
from sessions.enums import (
    AttendanceOutcome,
    CaseStatus,
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingSiteRole,
    MeetingStatus,
    RecordingPolicy,
    Role,
)
from sessions.identity import IdentityVault
from sessions.models import (
    Attendance,
    Case,
    Meeting,
    MeetingInvitee,
    MeetingSite,
    Site,
    User,
)

DEMO_USERS: tuple[tuple[str, str, str, tuple[Role, ...], str | None], ...] = (
    ("lanhdao", "Lương Văn Bình", "Phó Chủ tịch UBND tỉnh", (Role.CHAIR,), None),
    (
        "truongban",
        "Hoàng Văn Quân",
        "Trưởng Ban Tiếp công dân tỉnh",
        (Role.CHAIR, Role.OFFICER, Role.VAULT_READER),
        "TCD-LS",
    ),
    ("canbo", "Hoàng Thị Mai", "Chuyên viên Ban Tiếp công dân tỉnh", (Role.OFFICER,), "TCD-LS"),
    (
        "thuky",
        "Vi Thị Lan",
        "Chuyên viên, thư ký phiên tiếp",
        (Role.SECRETARY, Role.OFFICER),
        "TCD-LS",
    ),
    (
        "diemcau.dongkinh",
        "Nông Văn Tuấn",
        "Văn phòng UBND phường Đông Kinh",
        (Role.SITE_OPERATOR,),
        "05977",
    ),
    (
        "lienlac.tw",
        "Trần Minh Đức",
        "Cán bộ liên lạc tại Trụ sở TCD Trung ương",
        (Role.CENTRAL_LIAISON,),
        "TCD-TW",
    ),
    ("thanhtra", "Lăng Thị Hoa", "Thanh tra viên", (Role.AUDITOR,), None),
)


@dataclass(frozen=True)
class DemoResult:
    created: bool
    password: str | None
    usernames: tuple[str, ...]


def _at(day_offset: int, hour: int, minute: int, now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone) + timedelta(days=day_offset)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0)


async def load_demo(
    db: AsyncSession, *, now: datetime, zone: ZoneInfo, vault: IdentityVault, crowd_threshold: int
) -> DemoResult:
    usernames = tuple(u[0] for u in DEMO_USERS)
    if await db.scalar(select(User.id).where(User.username == usernames[0])) is not None:
        return DemoResult(False, None, usernames)
    await sites.seed_sites(db, now)
    password = users.generate_password()
    by_name: dict[str, User] = {}
    for username, full_name, position, roles, site_code in DEMO_USERS:
        site = await sites.by_code(db, site_code) if site_code else None
        by_name[username] = await users.create_user(
            db,
            username=username,
            full_name=full_name,
            position=position,
            password=password,
            roles=roles,
            site_id=site.id if site else None,
            at=now,
        )
    site_by_code = {s.code: s for s in await db.scalars(select(Site))}
    province = site_by_code[sites.PROVINCIAL_OFFICE_CODE]
    central = site_by_code[sites.CENTRAL_OFFICE_CODE]
    dong_kinh = site_by_code["05977"]
    commune_codes = [s.code for s in sites.commune_seeds()]
    commune_a = site_by_code[commune_codes[10]]
    commune_b = site_by_code[commune_codes[25]]
    officer = by_name["canbo"]
    today = now.astimezone(zone).date()

    async def case(draft: cases.CaseDraft, status: CaseStatus) -> Case:
        c = await cases.create_case(
            db,
            draft,
            at=now,
            today=today,
            actor_id=officer.id,
            crowd_threshold=crowd_threshold,
            unit_site_id=officer.site_id,
        )
        c.status = status
        return c

    land = await case(
        cases.CaseDraft(
            title="Khiếu nại về bồi thường, hỗ trợ khi thu hồi đất thực hiện dự án đường cao tốc",
            summary=(
                "12 hộ dân khiếu nại phương án bồi thường, hỗ trợ tái định cư khi Nhà nước thu hồi "
                "đất; cho rằng đơn giá đất nông nghiệp thấp hơn thị trường và chưa được hỗ trợ "
                "chuyển đổi nghề."
            ),
            case_type="KN",
            complaint_instance="first",
            received_on=str(today - timedelta(days=40)),
            competent_level="province",
            origin_site_id=str(commune_a.id),
            crowd_size="12",
            flags=frozenset({"complex"}),
        ),
        CaseStatus.IN_DIALOGUE,
    )
    complainant = await cases.add_party(
        db,
        land,
        cases.PartyDraft(role="complainant", full_name="Nhóm 12 hộ dân thôn Nà Phai"),
        vault=vault,
        at=now,
        actor_id=officer.id,
    )
    await cases.add_party(
        db,
        land,
        cases.PartyDraft(
            role="representative",
            full_name="Hoàng Văn Sáng",
            address="Thôn Nà Phai",
            represents_id=str(complainant.id),
            appointment_document="Văn bản cử người đại diện ngày 02/10/2026",
        ),
        vault=vault,
        at=now,
        actor_id=officer.id,
    )
    await cases.add_party(
        db,
        land,
        cases.PartyDraft(role="respondent", full_name="Chủ tịch UBND xã (người bị khiếu nại)"),
        vault=vault,
        at=now,
        actor_id=officer.id,
    )
    denunciation = await case(
        cases.CaseDraft(
            title="Tố cáo hành vi vi phạm trong cấp giấy chứng nhận quyền sử dụng đất",
            summary="Tố cáo cán bộ địa chính có dấu hiệu sai phạm trong hồ sơ cấp giấy chứng nhận.",
            case_type="TC",
            received_on=str(today - timedelta(days=12)),
            competent_level="province",
            origin_site_id=str(commune_b.id),
        ),
        CaseStatus.VERIFYING,
    )
    await cases.add_party(
        db,
        denunciation,
        cases.PartyDraft(role="denouncer", full_name="Nguyễn Thị Tuyết", address="Thôn Khòn Pổ"),
        vault=vault,
        at=now,
        actor_id=officer.id,
    )
    await case(
        cases.CaseDraft(
            title="Kiến nghị xử lý ô nhiễm môi trường từ cơ sở chế biến gỗ",
            summary="Người dân kiến nghị kiểm tra bụi, tiếng ồn của xưởng bóc gỗ gần khu dân cư.",
            case_type="KNGH",
            received_on=str(today - timedelta(days=5)),
            competent_level="commune",
            origin_site_id=str(dong_kinh.id),
        ),
        CaseStatus.ACCEPTED,
    )
    await case(
        cases.CaseDraft(
            title="Phản ánh chậm chi trả chế độ trợ cấp cho người có công",
            case_type="PA",
            received_on=str(today - timedelta(days=2)),
            competent_level="commune",
            origin_site_id=str(commune_b.id),
            flags=frozenset({"remote"}),
        ),
        CaseStatus.RECEIVED,
    )
    second = await case(
        cases.CaseDraft(
            title="Khiếu nại lần hai quyết định giải quyết tranh chấp đất rừng",
            summary=(
                "Công dân không đồng ý quyết định giải quyết khiếu nại lần đầu; vụ việc kéo dài."
            ),
            case_type="KN",
            complaint_instance="second",
            received_on=str(today - timedelta(days=90)),
            competent_level="province",
            origin_site_id=str(commune_a.id),
            flags=frozenset({"prolonged", "bypassing", "remote"}),
        ),
        CaseStatus.IN_DIALOGUE,
    )
    chair = by_name["lanhdao"]
    secretary = by_name["thuky"]
    meetings = [
        Meeting(
            reference="PH-DEMO-1",
            case_id=land.id,
            title="Đối thoại giải quyết khiếu nại về bồi thường thu hồi đất",
            kind=MeetingKind.SCHEDULED,
            purpose=MeetingPurpose.DIALOGUE,
            mode=MeetingMode.ONLINE,
            chair_id=chair.id,
            secretary_id=secretary.id,
            planned_start=_at(-1, 8, 0, now, zone),
            planned_end=_at(-1, 10, 0, now, zone),
            status=MeetingStatus.ENDED,
            opened_at=_at(-1, 7, 45, now, zone),
            started_at=_at(-1, 8, 2, now, zone),
            ended_at=_at(-1, 9, 48, now, zone),
            legal_basis="Luật Khiếu nại 2011, Điều 30; Nghị định 124/2020/NĐ-CP",
            recording_policy=RecordingPolicy.ALWAYS,
            sites=[
                MeetingSite(
                    site_id=province.id,
                    role=MeetingSiteRole.HOST,
                    responsible_official="Lương Văn Bình",
                ),
                MeetingSite(
                    site_id=commune_a.id,
                    role=MeetingSiteRole.PARTICIPANT,
                    responsible_official="Chủ tịch UBND xã",
                ),
            ],
            invitees=[
                MeetingInvitee(
                    display_name="Hoàng Văn Sáng", role_label="Người đại diện", site_id=commune_a.id
                ),
            ],
        ),
        Meeting(
            reference="PH-DEMO-2",
            case_id=None,
            title="Tiếp công dân định kỳ của lãnh đạo UBND tỉnh",
            kind=MeetingKind.SCHEDULED,
            purpose=MeetingPurpose.RECEPTION,
            mode=MeetingMode.ONLINE,
            chair_id=chair.id,
            secretary_id=secretary.id,
            planned_start=now + timedelta(hours=2),
            planned_end=now + timedelta(hours=4),
            legal_basis="Luật Tiếp công dân 2013, Điều 18; Kế hoạch 67/KH-UBND",
            sites=[
                MeetingSite(site_id=province.id, role=MeetingSiteRole.HOST),
                MeetingSite(site_id=dong_kinh.id, role=MeetingSiteRole.PARTICIPANT),
                MeetingSite(site_id=central.id, role=MeetingSiteRole.PARTICIPANT),
            ],
        ),
        Meeting(
            reference="PH-DEMO-3",
            case_id=second.id,
            title="Đối thoại khiếu nại lần hai về tranh chấp đất rừng",
            kind=MeetingKind.SCHEDULED,
            purpose=MeetingPurpose.DIALOGUE,
            mode=MeetingMode.ONLINE,
            chair_id=chair.id,
            secretary_id=secretary.id,
            planned_start=_at(2, 8, 30, now, zone),
            planned_end=_at(2, 10, 30, now, zone),
            legal_basis="Luật Khiếu nại 2011, Điều 39",
            sites=[
                MeetingSite(site_id=province.id, role=MeetingSiteRole.HOST),
                MeetingSite(site_id=commune_a.id, role=MeetingSiteRole.PARTICIPANT),
            ],
        ),
        Meeting(
            reference="PH-DEMO-4",
            case_id=denunciation.id,
            title="Làm việc xác minh nội dung tố cáo",
            kind=MeetingKind.REGULAR,
            purpose=MeetingPurpose.RECEPTION,
            mode=MeetingMode.ONLINE,
            chair_id=by_name["truongban"].id,
            planned_start=_at(1, 14, 0, now, zone),
            planned_end=_at(1, 15, 0, now, zone),
            status=MeetingStatus.CANCELLED,
            cancelled_at=now,
            cancel_reason="Đổi sang làm việc trực tiếp tại trụ sở",
            sites=[
                MeetingSite(site_id=province.id, role=MeetingSiteRole.HOST),
                MeetingSite(site_id=commune_b.id, role=MeetingSiteRole.PARTICIPANT),
            ],
        ),
    ]
    for meeting in meetings:
        meeting.created_at = now
        meeting.created_by_id = officer.id
        db.add(meeting)
    await db.flush()
    past = meetings[0]
    db.add_all(
        [
            Attendance(
                meeting_id=past.id,
                site_id=province.id,
                user_id=chair.id,
                display_name=chair.full_name,
                role_label="Người chủ trì",
                joined_at=_at(-1, 7, 58, now, zone),
                left_at=_at(-1, 9, 48, now, zone),
                outcome=AttendanceOutcome.LEFT,
                recording_notice_ack_at=_at(-1, 7, 58, now, zone),
            ),
            Attendance(
                meeting_id=past.id,
                site_id=commune_a.id,
                display_name=commune_a.name,
                role_label="Điểm cầu thành phần",
                joined_at=_at(-1, 7, 55, now, zone),
                left_at=_at(-1, 9, 48, now, zone),
                outcome=AttendanceOutcome.LEFT,
                interruptions=1,
            ),
        ]
    )
    await db.flush()
    return DemoResult(True, password, usernames)
