"""SQLAlchemy 2 typed models: the case register, meetings and everything filed against them.

Times are stored in UTC (``UTCDateTime`` refuses naive values) and shown in the configured zone.
Enums are stored by value as plain strings, so SQLite and PostgreSQL hold the same text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sessions import enums
from sessions.enums import (
    AttendanceOutcome,
    CaseStatus,
    CaseType,
    CompetentLevel,
    ComplaintInstance,
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingSiteRole,
    MeetingStatus,
    MinutesStatus,
    NotificationKind,
    PartyRole,
    RecordingKind,
    RecordingPolicy,
    RecordingStatus,
    Recurrence,
    Role,
    SiteKind,
    UrgentStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(enum: type[StrEnum]) -> SAEnum:
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


# Column types named once: a model says ``Mapped[str200]`` or ``Mapped[CaseStatus]`` and the
# base's type annotation map gives the column type.
str5 = Annotated[str, 5]
str32 = Annotated[str, 32]
str64 = Annotated[str, 64]
str100 = Annotated[str, 100]
str200 = Annotated[str, 200]
str256 = Annotated[str, 256]
str300 = Annotated[str, 300]
str500 = Annotated[str, 500]
text = Annotated[str, "text"]
# Every enum of sessions.enums is stored by value (see enum_column).
ENUMS: tuple[type[StrEnum], ...] = tuple(
    v
    for v in vars(enums).values()
    if isinstance(v, type) and issubclass(v, StrEnum) and v is not StrEnum
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[int]: JSON(),
        list[str]: JSON(),
        str5: String(5),
        str32: String(32),
        str64: String(64),
        str100: String(100),
        str200: String(200),
        str256: String(256),
        str300: String(300),
        str500: String(500),
        text: Text(),
        **{enum: enum_column(enum) for enum in ENUMS},
    }


class Site(Base):
    """A điểm cầu: a fixed room with a PC, camera and speakers."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str32] = mapped_column(unique=True)
    name: Mapped[str200]
    kind: Mapped[SiteKind]
    former_district: Mapped[str100 | None]
    address: Mapped[str300 | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The kiosk PC of this endpoint proves itself with a device token; only its hash is kept.
    device_token_hash: Mapped[str64 | None] = mapped_column(unique=True, index=True)
    device_token_issued_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str64] = mapped_column(unique=True)
    full_name: Mapped[str200]
    position: Mapped[str200 | None]
    email: Mapped[str200 | None]
    password_hash: Mapped[str256]
    must_change_password: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    site: Mapped[Site | None] = relationship()
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.role_rows)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[Role]

    user: Mapped[User] = relationship(back_populates="role_rows")


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str64] = mapped_column(unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str64]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """A wrong password, kept for the sign-in throttle (``sessions.throttle``)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str64] = mapped_column(index=True)
    address: Mapped[str64] = mapped_column(index=True)
    at: Mapped[datetime] = mapped_column(index=True)


class Case(Base):
    """A vụ việc. Titles and summaries never carry a denouncer's identity."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str32] = mapped_column(unique=True)
    title: Mapped[str300]
    summary: Mapped[text] = mapped_column(default="")
    case_type: Mapped[CaseType]
    complaint_instance: Mapped[ComplaintInstance | None]
    is_crowd: Mapped[bool] = mapped_column(default=False)  # đông người
    is_complex: Mapped[bool] = mapped_column(default=False)  # phức tạp
    is_prolonged: Mapped[bool] = mapped_column(default=False)  # kéo dài
    is_bypassing: Mapped[bool] = mapped_column(default=False)  # vượt cấp
    is_hotspot: Mapped[bool] = mapped_column(default=False)  # điểm nóng
    is_remote: Mapped[bool] = mapped_column(default=False)  # vùng sâu vùng xa
    crowd_size: Mapped[int | None]
    origin_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    competent_level: Mapped[CompetentLevel]
    status: Mapped[CaseStatus] = mapped_column(default=CaseStatus.RECEIVED)
    received_on: Mapped[date] = mapped_column(index=True)
    # A legal hold keeps the case's recordings past the retention period.
    legal_hold: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who may see it (``sessions.permissions``): the unit handling it, and its officer.
    unit_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    handled_before: Mapped[str300 | None]  # the body that already handled it, if any
    accepted_on: Mapped[date | None]  # thụ lý
    closed_on: Mapped[date | None]  # resolved, withdrawn, terminated, guided, …
    extensions: Mapped[int] = mapped_column(default=0)  # a denunciation's, decided in writing
    # The next legal deadline (sessions.deadlines), kept here so lists and the dashboard can
    # count "overdue" and "due soon" in SQL.
    due_on: Mapped[date | None] = mapped_column(index=True)
    due_rule: Mapped[str64 | None]

    origin_site: Mapped[Site | None] = relationship(foreign_keys=[origin_site_id], lazy="joined")
    unit_site: Mapped[Site | None] = relationship(foreign_keys=[unit_site_id], lazy="joined")
    parties: Mapped[list[CaseParty]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseParty.id"
    )
    meetings: Mapped[list[Meeting]] = relationship(
        back_populates="case", order_by="Meeting.planned_start"
    )

    @property
    def flags(self) -> list[str]:
        names = ("crowd", "complex", "prolonged", "bypassing", "hotspot", "remote")
        return [n for n in names if getattr(self, f"is_{n}")]


class CaseEvent(Base):
    """A step of a case's handling: a change of status with its date, document and decider."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[CaseStatus | None]
    to_status: Mapped[CaseStatus]
    on: Mapped[date]  # the date of the decision (not of typing it in)
    document_number: Mapped[str64 | None]
    decided_by: Mapped[str200 | None]  # the authority or person who decided
    note: Mapped[text] = mapped_column(default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class HandlingProposal(Base):
    """Đề xuất phương án xử lý: for a crowded, complex or prolonged case, an officer's proposal
    to the provincial Chairman, who approves it or returns it with instructions."""

    __tablename__ = "handling_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    status: Mapped[str32] = mapped_column(default="draft", index=True)  # PROPOSAL_STATES
    body: Mapped[text]  # the situation and the options proposed
    instructions: Mapped[text] = mapped_column(default="")  # the Chairman's, when returned
    drafted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    drafted_by: Mapped[User | None] = relationship(foreign_keys=[drafted_by_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")


class CrowdDelegation(Base):
    """Đoàn đông người: citizens gathered in Hanoi or at the provincial office, the working group
    (Tổ công tác) sent to receive them, and how it ended."""

    __tablename__ = "crowd_delegations"

    id: Mapped[int] = mapped_column(primary_key=True)
    place: Mapped[str32]  # "central" (Hà Nội) or "province"
    gathered_at: Mapped[datetime] = mapped_column(index=True)
    head_count: Mapped[int]
    commune_ids: Mapped[list[int]] = mapped_column(default=list)  # communes of origin
    representatives: Mapped[text] = mapped_column(default="")
    urgent_meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"))
    group_members: Mapped[text] = mapped_column(default="")  # the working group
    group_authority: Mapped[str200 | None]  # the decision that sent it
    group_departed_at: Mapped[datetime | None]
    outcome: Mapped[str32] = mapped_column(default="open")  # DELEGATION_OUTCOMES
    returned_home_on: Mapped[date | None]
    note: Mapped[text] = mapped_column(default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    cases: Mapped[list[Case]] = relationship(secondary="delegation_cases", lazy="selectin")


class DelegationCase(Base):
    __tablename__ = "delegation_cases"
    __table_args__ = (UniqueConstraint("delegation_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delegation_id: Mapped[int] = mapped_column(
        ForeignKey("crowd_delegations.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)


class CaseRevision(Base):
    """A case's registered details as they were before an edit (the edit itself is audited)."""

    __tablename__ = "case_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    before: Mapped[dict[str, Any]]
    changed: Mapped[list[str]] = mapped_column(default=list)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CaseDocument(Base):
    """A document filed with a case (the petition letter, a decision, evidence), checked by its
    content and hashed."""

    __tablename__ = "case_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    title: Mapped[str200]
    relative_path: Mapped[str500]  # under <data_dir>/cases
    content_type: Mapped[str64]
    size_bytes: Mapped[int]
    sha256: Mapped[str64]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ExtraHoliday(Base):
    """A day off the Government moved or added this year (beyond the holidays package)."""

    __tablename__ = "extra_holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    name: Mapped[str200]
    working: Mapped[bool] = mapped_column(default=False)  # True: a Saturday made a working day


class EndpointPresence(Base):
    """The last that was heard of an endpoint's kiosk or operator: when, from which browser, its
    devices and the link quality the browser measured. Written from memory every few heartbeats
    and on each connect and disconnect, so the board shows "last seen" across restarts."""

    __tablename__ = "endpoint_presence"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    last_seen_at: Mapped[datetime]
    online_since: Mapped[datetime | None]  # None once its connection closed
    source: Mapped[str32] = mapped_column(default="kiosk")  # "kiosk" or "operator"
    browser: Mapped[str64] = mapped_column(default="")
    browser_version: Mapped[str32] = mapped_column(default="")
    camera: Mapped[str32] = mapped_column(default="")  # DEVICE_STATES
    microphone: Mapped[str32] = mapped_column(default="")
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"))
    rtt_ms: Mapped[float | None]
    loss_percent: Mapped[float | None]
    kbps: Mapped[float | None]


class ReadinessCheck(Base):
    """One endpoint's short test call to the server, asked by staff, with its figures and the
    verdict; kept as the readiness history."""

    __tablename__ = "readiness_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    finished_at: Mapped[datetime | None]
    # "pending", "good", "fair", "poor", "failed" (the test call could not be made) or
    # "unreachable" (the endpoint was offline or did not answer in time).
    verdict: Mapped[str32] = mapped_column(default="pending", index=True)
    rtt_ms: Mapped[float | None]
    loss_percent: Mapped[float | None]
    kbps: Mapped[float | None]
    camera: Mapped[str32] = mapped_column(default="")
    microphone: Mapped[str32] = mapped_column(default="")
    problem: Mapped[str200] = mapped_column(default="")  # what the browser said went wrong


class CaseParty(Base):
    """A person in a case. A denouncer's identity lives only in ``protected_identity``."""

    __tablename__ = "case_parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    role: Mapped[PartyRole]
    full_name: Mapped[str200 | None]
    address: Mapped[str300 | None]
    id_number: Mapped[str32 | None]
    phone: Mapped[str32 | None]
    protected_identity: Mapped[bytes | None]
    # What a protected person is called on every screen, link and document ("Người tố cáo 1").
    pseudonym: Mapped[str100 | None]
    represents_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_parties.id", ondelete="SET NULL")
    )
    appointment_document: Mapped[str300 | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="parties")

    @property
    def is_protected(self) -> bool:
        return self.protected_identity is not None

    @property
    def shown_name(self) -> str:
        """The name to show anyone: a protected person's pseudonym, never the identity."""
        return (self.pseudonym or "") if self.is_protected else (self.full_name or "")


class Meeting(Base):
    """A phiên tiếp công dân / phiên đối thoại: one video session, filed against a case."""

    __tablename__ = "meetings"
    __table_args__ = (UniqueConstraint("schedule_id", "occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str32] = mapped_column(unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    title: Mapped[str300]
    kind: Mapped[MeetingKind]
    purpose: Mapped[MeetingPurpose]
    ad_hoc_reason: Mapped[text | None]
    mode: Mapped[MeetingMode]
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    secretary_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    planned_start: Mapped[datetime] = mapped_column(index=True)
    planned_end: Mapped[datetime]
    status: Mapped[MeetingStatus] = mapped_column(default=MeetingStatus.SCHEDULED, index=True)
    legal_basis: Mapped[text] = mapped_column(default="")
    waiting_room: Mapped[bool] = mapped_column(default=True)
    recording_policy: Mapped[RecordingPolicy] = mapped_column(default=RecordingPolicy.ALWAYS)
    quality_profile: Mapped[str32] = mapped_column(default="standard")
    opened_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[text | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set on meetings a recurring reception day created: one meeting per occurrence.
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("reception_schedules.id"))
    occurrence: Mapped[date | None]

    case: Mapped[Case | None] = relationship(back_populates="meetings", lazy="joined")
    chair: Mapped[User | None] = relationship(foreign_keys=[chair_id], lazy="joined")
    secretary: Mapped[User | None] = relationship(foreign_keys=[secretary_id], lazy="joined")
    sites: Mapped[list[MeetingSite]] = relationship(
        back_populates="meeting",
        cascade="all, delete-orphan",
        order_by="MeetingSite.id",
        lazy="selectin",
    )
    invitees: Mapped[list[MeetingInvitee]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="MeetingInvitee.id"
    )

    @property
    def host_site(self) -> Site | None:
        for ms in self.sites:
            if ms.role is MeetingSiteRole.HOST:
                return ms.site
        return None


class MeetingSite(Base):
    __tablename__ = "meeting_sites"
    __table_args__ = (UniqueConstraint("meeting_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    role: Mapped[MeetingSiteRole]
    responsible_official: Mapped[str200 | None]

    meeting: Mapped[Meeting] = relationship(back_populates="sites")
    site: Mapped[Site] = relationship(lazy="joined")


class MeetingInvitee(Base):
    """Someone invited: a user of the system, or an outside person (citizen, lawyer, agency)."""

    __tablename__ = "meeting_invitees"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("case_parties.id"))
    display_name: Mapped[str200]
    role_label: Mapped[str100]
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))

    meeting: Mapped[Meeting] = relationship(back_populates="invitees")
    site: Mapped[Site | None] = relationship(lazy="joined")


class Attendance(Base):
    """One presence of a participant or site in a meeting: a join, and how it ended."""

    __tablename__ = "attendances"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invitee_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_invitees.id"))
    display_name: Mapped[str200]
    role_label: Mapped[str100] = mapped_column(default="")
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    outcome: Mapped[AttendanceOutcome] = mapped_column(default=AttendanceOutcome.PRESENT)
    recording_notice_ack_at: Mapped[datetime | None]
    interruptions: Mapped[int] = mapped_column(default=0)

    site: Mapped[Site | None] = relationship(lazy="joined")


class Minutes(Base):
    """The biên bản of a meeting: drafts while it is written, then locked. Corrections after
    that are amendment versions linked to the version they correct, never edits."""

    __tablename__ = "minutes"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), unique=True)
    number: Mapped[str64 | None]
    status: Mapped[MinutesStatus] = mapped_column(default=MinutesStatus.DRAFT)
    current_version: Mapped[int] = mapped_column(default=0)
    finalised_at: Mapped[datetime | None]
    finalised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sha256: Mapped[str64 | None]  # of the finalised content (canonical JSON)
    pdf_sha256: Mapped[str64 | None]  # of the PDF/A rendered when finalised

    versions: Mapped[list[MinutesVersion]] = relationship(
        back_populates="minutes", order_by="MinutesVersion.version"
    )


class MinutesVersion(Base):
    __tablename__ = "minutes_versions"
    __table_args__ = (UniqueConstraint("minutes_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    minutes_id: Mapped[int] = mapped_column(ForeignKey("minutes.id"))
    version: Mapped[int]
    content: Mapped[dict[str, Any]]
    sha256: Mapped[str64]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # "draft", "final" (the version that was locked) or "amendment" (a correction after it).
    kind: Mapped[str32] = mapped_column(default="draft")
    amends_version: Mapped[int | None]
    reason: Mapped[text | None]  # why an amendment was made

    minutes: Mapped[Minutes] = relationship(back_populates="versions")


class MinutesScan(Base):
    """A scanned copy of the signed minutes, from one endpoint (PDF or image, as uploaded)."""

    __tablename__ = "minutes_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    minutes_id: Mapped[int] = mapped_column(ForeignKey("minutes.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    relative_path: Mapped[str500]  # under <data_dir>/minutes
    content_type: Mapped[str64]
    size_bytes: Mapped[int]
    sha256: Mapped[str64]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    site: Mapped[Site | None] = relationship(lazy="joined")


class ConclusionNotice(Base):
    """Thông báo kết luận tiếp công dân: after a leader's session, drafted from the minutes'
    result, numbered, signed off by the leader who chaired it, filed on the case."""

    __tablename__ = "conclusion_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), unique=True)
    number: Mapped[str64 | None]
    conclusion: Mapped[text] = mapped_column(default="")
    tasks: Mapped[text] = mapped_column(default="")  # who is to do what, by when
    recipients: Mapped[text] = mapped_column(default="")  # "Nơi nhận"
    signed_at: Mapped[datetime | None]
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sha256: Mapped[str64 | None]  # of the signed notice's PDF/A
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchDocument(Base):
    """What search reads: a case or a meeting's minutes as folded text (``collation.fold``),
    never a party's identity. SQLite indexes it with FTS5 (``search_fts``), PostgreSQL with a
    trigram index (both made by migration 0011)."""

    __tablename__ = "search_documents"
    __table_args__ = (UniqueConstraint("kind", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str32]  # "case" or "minutes"
    object_id: Mapped[int]  # the case's id, or the meeting's
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"), index=True)
    title: Mapped[str300]
    shown: Mapped[text]  # the text as written (NFC, single spaces)
    body: Mapped[text]  # the same, folded: each character of ``shown`` at the same place
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recording(Base):
    """One recorded file of a meeting, filed under its case."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    kind: Mapped[RecordingKind] = mapped_column(default=RecordingKind.PARTICIPANT)
    participant_label: Mapped[str200]
    participant_subject: Mapped[str64 | None]
    recovered_from_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"))
    duration_ms: Mapped[int | None]
    video_frames: Mapped[int | None]
    audio_frames: Mapped[int | None]
    progress: Mapped[int] = mapped_column(default=0)
    note: Mapped[text | None]
    relative_path: Mapped[str500] = mapped_column(unique=True)
    media_type: Mapped[str64] = mapped_column(default="video/webm")
    status: Mapped[RecordingStatus] = mapped_column(default=RecordingStatus.RECORDING)
    size_bytes: Mapped[int | None]
    sha256: Mapped[str64 | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Append-only, hash-chained: each row's hash covers its content and the previous hash."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str64]
    object_type: Mapped[str32]
    object_id: Mapped[str64]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seq: Mapped[int] = mapped_column(unique=True)
    prev_hash: Mapped[str64] = mapped_column(unique=True)
    hash: Mapped[str64] = mapped_column(unique=True)


class AuditHead(Base):
    """The single row that serialises appends to the audit chain (see ``sessions.audit``)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str64]
    # HMAC of seq and last_hash under the audit key: cutting events off the end is caught.
    mac: Mapped[str64 | None]


class ReceptionSchedule(Base):
    """A recurring reception day: meetings are created from it ahead of time."""

    __tablename__ = "reception_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str300]
    recurrence: Mapped[Recurrence]
    weekday: Mapped[int | None]  # 0 = Monday, for weekly
    day_of_month: Mapped[int | None]  # for monthly
    start_local: Mapped[str5]  # "08:00", local time
    duration_minutes: Mapped[int]
    chair_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    host_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    participant_site_ids: Mapped[list[int]] = mapped_column(default=list)
    waiting_room: Mapped[bool] = mapped_column(default=True)
    recording_policy: Mapped[RecordingPolicy] = mapped_column(default=RecordingPolicy.ALWAYS)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    chair: Mapped[User] = relationship(lazy="joined")
    host_site: Mapped[Site] = relationship(lazy="joined")


class Notification(Base):
    """An in-app notice for a person (staff dashboards) or an endpoint (its kiosk)."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"))
    kind: Mapped[NotificationKind]
    # A catalog message id and its parameters, shown in each reader's language.
    message: Mapped[text]
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Makes creating the same notice twice (a job firing twice) a no-op.
    dedupe_key: Mapped[str200]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]


class DutyRosterEntry(Base):
    """Leaders on duty for urgent links, in escalation order (rank 1 first)."""

    __tablename__ = "duty_roster"
    __table_args__ = (UniqueConstraint("user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rank: Mapped[int]

    user: Mapped[User] = relationship(lazy="joined")


class UrgentCall(Base):
    """A crowd from the province at the central office: an ad-hoc meeting opened at once."""

    __tablename__ = "urgent_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), unique=True)
    commune_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    head_count: Mapped[int]
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[UrgentStatus] = mapped_column(default=UrgentStatus.ALERTING)
    alerted_rank: Mapped[int] = mapped_column(default=1)
    next_escalation_at: Mapped[datetime | None]
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None]

    meeting: Mapped[Meeting] = relationship(lazy="joined")
    commune: Mapped[Site] = relationship(lazy="joined")
