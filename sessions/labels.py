"""Human names for every enum value (English msgids; translated through the catalog)."""

from __future__ import annotations

from enum import StrEnum

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
    PartyRole,
    RecordingPolicy,
    RecordingStatus,
    Role,
    SiteKind,
)
from sessions.errors import N_
from sessions.tokens import RoomRole

# Keyed by (enum class, value): equal values in different enums ("chair") need different words.
_PAIRS: tuple[tuple[StrEnum, str], ...] = (
    (SiteKind.PROVINCIAL_OFFICE, N_("Provincial citizen reception office")),
    (SiteKind.CENTRAL_OFFICE, N_("Central citizen reception office")),
    (SiteKind.COMMUNE, N_("Commune")),
    (SiteKind.WARD, N_("Ward")),
    (Role.ADMIN, N_("Administrator")),
    (Role.CHAIR, N_("Leader (chair)")),
    (Role.OFFICER, N_("Reception officer")),
    (Role.SECRETARY, N_("Secretary")),
    (Role.SITE_OPERATOR, N_("Site operator")),
    (Role.CENTRAL_LIAISON, N_("Central-office liaison")),
    (Role.AUDITOR, N_("Auditor")),
    (Role.VAULT_READER, N_("Cleared to read denouncers' identities")),
    (CaseType.COMPLAINT, N_("Complaint")),
    (CaseType.DENUNCIATION, N_("Denunciation")),
    (CaseType.PETITION, N_("Petition")),
    (CaseType.FEEDBACK, N_("Feedback")),
    (CaseType.MULTIPLE, N_("Several contents")),
    (ComplaintInstance.FIRST, N_("First instance")),
    (ComplaintInstance.SECOND, N_("Second instance")),
    (CompetentLevel.COMMUNE, N_("Commune level")),
    (CompetentLevel.PROVINCE, N_("Provincial level")),
    (CompetentLevel.CENTRAL, N_("Central level")),
    (CaseStatus.RECEIVED, N_("Received")),
    (CaseStatus.ACCEPTED, N_("Accepted for resolution")),
    (CaseStatus.GUIDED, N_("Guided elsewhere")),
    (CaseStatus.TRANSFERRED, N_("Transferred")),
    (CaseStatus.RETURNED, N_("Returned")),
    (CaseStatus.FILED, N_("Filed")),
    (CaseStatus.VERIFYING, N_("Under verification")),
    (CaseStatus.IN_DIALOGUE, N_("In dialogue")),
    (CaseStatus.RESOLVED, N_("Resolved")),
    (CaseStatus.WITHDRAWN, N_("Withdrawn")),
    (CaseStatus.SUSPENDED, N_("Suspended")),
    (CaseStatus.TERMINATED, N_("Terminated")),
    (PartyRole.COMPLAINANT, N_("Complainant")),
    (PartyRole.RESPONDENT, N_("Person complained about")),
    (PartyRole.DENOUNCER, N_("Denouncer")),
    (PartyRole.ACCUSED, N_("Person denounced")),
    (PartyRole.PETITIONER, N_("Petitioner")),
    (PartyRole.REPRESENTATIVE, N_("Representative")),
    (PartyRole.LAWYER, N_("Lawyer")),
    (PartyRole.INTERESTED_PARTY, N_("Interested party")),
    (MeetingKind.REGULAR, N_("Regular")),
    (MeetingKind.SCHEDULED, N_("Periodic")),
    (MeetingKind.AD_HOC, N_("Ad hoc")),
    (MeetingPurpose.RECEPTION, N_("Citizen reception")),
    (MeetingPurpose.DIALOGUE, N_("Dialogue")),
    (MeetingPurpose.CROWD, N_("Crowd delegation")),
    (MeetingMode.ONLINE, N_("Online")),
    (MeetingMode.IN_PERSON, N_("In person")),
    (MeetingStatus.SCHEDULED, N_("Scheduled")),
    (MeetingStatus.OPEN, N_("Room open")),
    (MeetingStatus.LIVE, N_("Live")),
    (MeetingStatus.ENDED, N_("Ended")),
    (MeetingStatus.MINUTES_FINALISED, N_("Minutes finalised")),
    (MeetingStatus.CANCELLED, N_("Cancelled")),
    (MeetingSiteRole.HOST, N_("Host endpoint")),
    (MeetingSiteRole.PARTICIPANT, N_("Participant endpoint")),
    (RoomRole.CHAIR, N_("Chair")),
    (RoomRole.OFFICER, N_("Reception officer")),
    (RoomRole.SECRETARY, N_("Secretary")),
    (RoomRole.SITE, N_("Endpoint")),
    (RoomRole.PARTICIPANT, N_("Participant")),
    (RecordingPolicy.ALWAYS, N_("Always recorded")),
    (RecordingPolicy.CHAIR, N_("Recorded when the chair starts it")),
    (RecordingPolicy.NEVER, N_("Not recorded")),
    (AttendanceOutcome.PRESENT, N_("Present")),
    (AttendanceOutcome.LEFT, N_("Left")),
    (AttendanceOutcome.DROPPED, N_("Connection dropped")),
    (AttendanceOutcome.REMOVED, N_("Removed by the chair")),
    (AttendanceOutcome.ABSENT, N_("Absent")),
    (MinutesStatus.DRAFT, N_("Draft")),
    (MinutesStatus.READ_BACK, N_("Read back")),
    (MinutesStatus.FINALISED, N_("Finalised")),
    (RecordingStatus.RECORDING, N_("Recording")),
    (RecordingStatus.COMPLETE, N_("Complete")),
    (RecordingStatus.INTERRUPTED, N_("Interrupted")),
    (RecordingStatus.PROCESSING, N_("Being made")),
    (RecordingStatus.FAILED, N_("Failed")),
    (RecordingStatus.DELETED, N_("Deleted after the retention period")),
)
LABELS = {(type(member), member.value): text for member, text in _PAIRS}

FLAG_LABELS = {
    "crowd": N_("Crowd"),
    "complex": N_("Complex"),
    "prolonged": N_("Prolonged"),
    "bypassing": N_("Bypassing level"),
    "hotspot": N_("Hot spot"),
    "remote": N_("Remote area"),
}


def label(value: StrEnum) -> str:
    return LABELS[(type(value), value.value)]


def party_label(role: PartyRole) -> str:
    """How a party is introduced in a meeting: a denouncer only as a participant, so neither
    a link, a tile nor the minutes reveal who denounced."""
    return label(RoomRole.PARTICIPANT if role is PartyRole.DENOUNCER else role)


# What a participant's ``role_label`` may be when the server chose it (the room's tiles
# translate these; a person's own position is shown as typed).
ROLE_LABELS = tuple(
    text for (kind, _), text in LABELS.items() if kind in (RoomRole, MeetingSiteRole, PartyRole)
)


# Monday first, as Vietnamese calendars are laid out.
WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)

# The meetings' video quality profiles (``sessions.booking.QUALITY_PROFILES``), as people read them.
QUALITY_LABELS = {
    "low": N_("Low (weak links: 300 kbps)"),
    "standard": N_("Standard (800 kbps)"),
    "high": N_("High (1.5 Mbps)"),
    "audio_only": N_("Sound only"),
}

# The deadline rules of sessions.deadlines, as people read them.
DEADLINE_LABELS = {
    "complaint_accept": N_("acceptance (thụ lý) within 10 days of receipt"),
    "complaint_resolve": N_("resolution of the complaint"),
    "denunciation_notify": N_("notice of acceptance of the denunciation"),
    "denunciation_resolve": N_("resolution of the denunciation"),
    "petition_handle": N_("handling of the petition"),
}

# The election periods of the settings, by their names.
PERIOD_LABELS = {
    "before": N_("Before the election"),
    "during": N_("During the election"),
    "after": N_("After the election"),
}

PROPOSAL_LABELS = {
    "draft": N_("Draft"),
    "submitted": N_("With the Chairman"),
    "approved": N_("Approved"),
    "returned": N_("Returned with instructions"),
}

DELEGATION_PLACES = {
    "central": N_("Central citizen reception office (Hà Nội)"),
    "province": N_("Provincial citizen reception office"),
}
DELEGATION_OUTCOMES = {
    "open": N_("Being received"),
    "received": N_("Received"),
    "persuaded": N_("Persuaded"),
    "returned_home": N_("Returned home"),
}

# A case's registered details, as the intake form names them.
CASE_FIELD_LABELS = {
    "title": N_("Title"),
    "summary": N_("Summary"),
    "case_type": N_("Type"),
    "complaint_instance": N_("Instance"),
    "crowd_size": N_("Number of people"),
    "origin_site_id": N_("Commune of origin"),
    "competent_level": N_("Competent level"),
    "received_on": N_("Date received"),
    "handled_before": N_("Body that already handled it"),
    **{f"is_{name}": text for name, text in FLAG_LABELS.items()},
}
