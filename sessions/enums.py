"""Every state and category the domain knows, as string enums stored by value."""

from __future__ import annotations

from enum import StrEnum


class SiteKind(StrEnum):
    PROVINCIAL_OFFICE = "provincial_office"  # Trụ sở tiếp công dân tỉnh
    CENTRAL_OFFICE = "central_office"  # Trụ sở Tiếp công dân Trung ương
    COMMUNE = "commune"  # UBND xã
    WARD = "ward"  # UBND phường


class Role(StrEnum):
    ADMIN = "admin"
    CHAIR = "chair"  # lãnh đạo, người chủ trì
    OFFICER = "officer"  # người tiếp công dân
    SECRETARY = "secretary"  # thư ký
    SITE_OPERATOR = "site_operator"
    CENTRAL_LIAISON = "central_liaison"
    AUDITOR = "auditor"
    # Explicitly cleared to read a denouncer's identity (every read asks a reason, audited).
    VAULT_READER = "vault_reader"


class CaseType(StrEnum):
    COMPLAINT = "KN"  # khiếu nại
    DENUNCIATION = "TC"  # tố cáo
    PETITION = "KNGH"  # kiến nghị
    FEEDBACK = "PA"  # phản ánh
    MULTIPLE = "multi"  # đơn có nhiều nội dung


class ComplaintInstance(StrEnum):
    FIRST = "first"
    SECOND = "second"


class CompetentLevel(StrEnum):
    COMMUNE = "commune"
    PROVINCE = "province"
    CENTRAL = "central"


class CaseStatus(StrEnum):
    RECEIVED = "received"  # tiếp nhận
    ACCEPTED = "accepted"  # thụ lý
    GUIDED = "guided"  # hướng dẫn
    TRANSFERRED = "transferred"  # chuyển đơn
    RETURNED = "returned"  # trả lại đơn
    FILED = "filed"  # lưu đơn
    VERIFYING = "verifying"  # xác minh
    IN_DIALOGUE = "in_dialogue"  # đối thoại
    RESOLVED = "resolved"  # đã giải quyết
    WITHDRAWN = "withdrawn"  # rút
    SUSPENDED = "suspended"  # tạm đình chỉ
    TERMINATED = "terminated"  # đình chỉ


class PartyRole(StrEnum):
    COMPLAINANT = "complainant"
    RESPONDENT = "respondent"  # người bị khiếu nại
    DENOUNCER = "denouncer"
    ACCUSED = "accused"  # người bị tố cáo
    PETITIONER = "petitioner"
    REPRESENTATIVE = "representative"
    LAWYER = "lawyer"
    INTERESTED_PARTY = "interested_party"


class MeetingKind(StrEnum):
    REGULAR = "regular"  # thường xuyên
    SCHEDULED = "scheduled"  # định kỳ
    AD_HOC = "ad_hoc"  # đột xuất


class MeetingPurpose(StrEnum):
    RECEPTION = "reception"  # tiếp công dân
    DIALOGUE = "dialogue"  # đối thoại
    CROWD = "crowd"  # tiếp đoàn đông người


class MeetingMode(StrEnum):
    ONLINE = "online"
    IN_PERSON = "in_person"


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    LIVE = "live"
    ENDED = "ended"
    MINUTES_FINALISED = "minutes_finalised"
    CANCELLED = "cancelled"


class RecordingPolicy(StrEnum):
    ALWAYS = "always"
    CHAIR = "chair"  # the chair may start and stop
    NEVER = "never"


class MeetingSiteRole(StrEnum):
    HOST = "host"
    PARTICIPANT = "participant"


class AttendanceOutcome(StrEnum):
    PRESENT = "present"
    LEFT = "left"
    DROPPED = "dropped"
    REMOVED = "removed"
    ABSENT = "absent"


class MinutesStatus(StrEnum):
    DRAFT = "draft"
    READ_BACK = "read_back"
    FINALISED = "finalised"


class RecordingStatus(StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"  # the server stopped mid-file; recovered up to that moment
    PROCESSING = "processing"  # a combined file being produced
    FAILED = "failed"
    DELETED = "deleted"  # past the retention period; the row and its hash remain


class RecordingKind(StrEnum):
    PARTICIPANT = "participant"  # one participant's audio and video, as forwarded
    RECOVERED = "recovered"  # a playable copy of an interrupted file
    COMBINED = "combined"  # everyone in one grid, for playback


class Recurrence(StrEnum):
    WEEKLY = "weekly"  # e.g. a commune chairman, every Tuesday
    MONTHLY = "monthly"  # e.g. the provincial chairman, the 15th of each month


class NotificationKind(StrEnum):
    REMINDER = "reminder"
    MEETING_OPEN = "meeting_open"
    URGENT = "urgent"
    TASK = "task"


class UrgentStatus(StrEnum):
    ALERTING = "alerting"
    ACCEPTED = "accepted"
    CLOSED = "closed"
