"""Realistic sample data for a demonstration: users for every role, cases and meetings.

Names are invented; places and procedure follow DOMAIN.md. Loading twice adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, labels, lifecycle, meetings, sites, urgent, users
from sessions.enums import (
    AttendanceOutcome,
    CaseStatus,
    MeetingKind,
    MeetingPurpose,
    MeetingSiteRole,
    MeetingStatus,
    PartyRole,
    RecordingPolicy,
    Role,
)
from sessions.identity import IdentityVault
from sessions.models import (
    Attendance,
    Case,
    MeetingInvitee,
    Site,
    User,
)
from sessions.tokens import RoomRole

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


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


OFFICE_HOURS = (time(8), time(16))  # a demo meeting about to start falls between these


def _working_days(now: datetime, zone: ZoneInfo) -> tuple[date, datetime, date, date]:
    """The last working day before today; the start of a meeting about to begin in office
    hours (within the hour today, or the next working morning); the next two working days."""
    today = now.astimezone(zone).date()

    def step(day: date, direction: int) -> date:
        day += timedelta(days=direction)
        while day.weekday() >= 5:
            day += timedelta(days=direction)
        return day

    local = now.astimezone(zone)
    soon = (local + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    opens, closes = OFFICE_HOURS
    if today.weekday() >= 5 or soon.time() > closes:
        soon = _at(step(today, 1), opens.hour, 0, zone)
    elif soon.time() < opens:
        soon = _at(today, opens.hour, 0, zone)
    first = step(soon.date(), 1)
    return step(today, -1), soon, first, step(first, 1)


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
    # Demo meetings fall in office hours in the province's zone, whenever the demo is loaded:
    # the last working day, the next ones, and a meeting about to start within today's hours.
    yesterday, soon, later, after = _working_days(now, zone)
    planned = [
        meetings.build(
            case_id=land.id,
            title="Đối thoại giải quyết khiếu nại về bồi thường thu hồi đất",
            kind=MeetingKind.SCHEDULED,
            purpose=MeetingPurpose.DIALOGUE,
            chair_id=chair.id,
            secretary_id=secretary.id,
            start=_at(yesterday, 8, 0, zone),
            end=_at(yesterday, 10, 0, zone),
            status=MeetingStatus.ENDED,
            legal_basis="Luật Khiếu nại 2011, Điều 30; Nghị định 124/2020/NĐ-CP",
            recording_policy=RecordingPolicy.ALWAYS,
            host_site_id=province.id,
            participant_site_ids=[commune_a.id],
            officials={province.id: "Lương Văn Bình", commune_a.id: "Chủ tịch UBND xã"},
            invitees=[
                MeetingInvitee(
                    display_name="Hoàng Văn Sáng",
                    role_label=labels.label(PartyRole.REPRESENTATIVE),
                    site_id=commune_a.id,
                ),
            ],
            created_at=now,
            created_by_id=officer.id,
        ),
        meetings.build(
            title="Tiếp công dân định kỳ của lãnh đạo UBND tỉnh",
            kind=MeetingKind.SCHEDULED,
            purpose=MeetingPurpose.RECEPTION,
            chair_id=chair.id,
            secretary_id=secretary.id,
            start=soon,
            end=soon + timedelta(hours=2),
            legal_basis="Luật Tiếp công dân 2013, Điều 18; Kế hoạch 67/KH-UBND",
            host_site_id=province.id,
            participant_site_ids=[dong_kinh.id, central.id],
            created_at=now,
            created_by_id=officer.id,
        ),
        meetings.build(
            case_id=second.id,
            title="Đối thoại khiếu nại lần hai về tranh chấp đất rừng",
            kind=MeetingKind.SCHEDULED,
            purpose=MeetingPurpose.DIALOGUE,
            chair_id=chair.id,
            secretary_id=secretary.id,
            start=_at(after, 8, 30, zone),
            end=_at(after, 10, 30, zone),
            legal_basis="Luật Khiếu nại 2011, Điều 39",
            host_site_id=province.id,
            participant_site_ids=[commune_a.id],
            created_at=now,
            created_by_id=officer.id,
        ),
        meetings.build(
            case_id=denunciation.id,
            title="Làm việc xác minh nội dung tố cáo",
            purpose=MeetingPurpose.RECEPTION,
            chair_id=by_name["truongban"].id,
            start=_at(later, 14, 0, zone),
            end=_at(later, 15, 0, zone),
            host_site_id=province.id,
            participant_site_ids=[commune_b.id],
            created_at=now,
            created_by_id=officer.id,
        ),
    ]
    for meeting in planned:
        await meetings.add(db, meeting, zone)
    past = planned[0]
    past.opened_at = _at(yesterday, 7, 45, zone)
    past.started_at = _at(yesterday, 8, 2, zone)
    past.ended_at = _at(yesterday, 9, 48, zone)
    lifecycle.transition(
        planned[3], MeetingStatus.CANCELLED, now, reason="Đổi sang làm việc trực tiếp tại trụ sở"
    )
    await urgent.set_roster(
        db, {chair.id: 1, by_name["truongban"].id: 2}, at=now, actor_id=officer.id
    )
    db.add_all(
        [
            Attendance(
                meeting_id=past.id,
                site_id=province.id,
                user_id=chair.id,
                display_name=chair.full_name,
                role_label=labels.label(RoomRole.CHAIR),
                joined_at=_at(yesterday, 7, 58, zone),
                left_at=_at(yesterday, 9, 48, zone),
                outcome=AttendanceOutcome.LEFT,
                recording_notice_ack_at=_at(yesterday, 7, 58, zone),
            ),
            Attendance(
                meeting_id=past.id,
                site_id=commune_a.id,
                display_name=commune_a.name,
                role_label=labels.label(MeetingSiteRole.PARTICIPANT),
                joined_at=_at(yesterday, 7, 55, zone),
                left_at=_at(yesterday, 9, 48, zone),
                outcome=AttendanceOutcome.LEFT,
                interruptions=1,
            ),
        ]
    )
    await db.flush()
    return DemoResult(True, password, usernames)
