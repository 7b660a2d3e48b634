"""Booking a meeting for a case: validation, clashes, invitees, and the join links.

Everything a person typed is validated before anything is stored; a clash names the other
meeting, the endpoint or the leader, and the times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, labels, meetings
from sessions.enums import (
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingStatus,
    PartyRole,
    RecordingPolicy,
    Role,
)
from sessions.errors import MORE_ERRORS, N_, InvalidInput
from sessions.ids import parse_id
from sessions.models import (
    Case,
    CaseParty,
    Meeting,
    MeetingInvitee,
    MeetingSite,
    Site,
    User,
    UserRole,
)
from sessions.tokens import JoinClaims, RoomRole, sign

ACTIVE = (MeetingStatus.SCHEDULED, MeetingStatus.OPEN, MeetingStatus.LIVE)
MIN_MINUTES, MAX_MINUTES = 10, 10 * 60
BOOKING_HORIZON_DAYS = 2 * 366  # a meeting is booked at most two years ahead
QUALITY_PROFILES = ("low", "standard", "high", "audio_only")


@dataclass(frozen=True)
class MeetingDraft:
    """A booking as typed into the form (all text); :func:`book` validates it."""

    title: str
    purpose: str
    kind: str
    date: str  # YYYY-MM-DD, local
    start_time: str  # HH:MM, local
    end_time: str  # HH:MM, local, same day
    host_site_id: str
    participant_site_ids: Sequence[str] = ()
    chair_id: str = ""
    secretary_id: str = ""
    case_id: str = ""
    ad_hoc_reason: str = ""
    waiting_room: bool = True
    recording_policy: str = "always"
    quality_profile: str = "standard"
    legal_basis: str = ""
    invite_party_ids: Sequence[str] = ()
    other_invitees: str = ""  # one per line: "Name | role | site code"
    mode: str = "online"


@dataclass
class Checked:
    """Field errors collected while checking a form: the first message of a field, and any
    further ones (a second bad line, say) under ``MORE_ERRORS`` in its parameters, so every
    problem is named at once."""

    errors: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, object]] = field(default_factory=dict)

    def fail(self, name: str, message: str, **params: object) -> None:
        if name not in self.errors:
            self.errors[name] = message
            if params:
                self.params[name] = params
            return
        if (message, params) == (self.errors[name], self.params.get(name, {})):
            return
        more = self.params.setdefault(name, {}).setdefault(MORE_ERRORS, [])
        assert isinstance(more, list)
        if (message, params) not in more:
            more.append((message, params))


def parse_window(
    draft: MeetingDraft, zone: ZoneInfo, checked: Checked
) -> tuple[datetime, datetime] | None:
    try:
        day = date.fromisoformat(draft.date.strip())
    except ValueError:
        checked.fail("date", N_("Enter the date as YYYY-MM-DD."))
        return None
    times = []
    for name, raw in (("start_time", draft.start_time), ("end_time", draft.end_time)):
        try:
            times.append(time.fromisoformat(raw.strip()))
        except ValueError:
            checked.fail(name, N_("Enter the time as HH:MM."))
    if len(times) != 2:
        return None
    start = datetime.combine(day, times[0], tzinfo=zone)
    end = datetime.combine(day, times[1], tzinfo=zone)
    if end <= start:
        checked.fail("end_time", N_("The end must be after the start."))
        return None
    minutes = (end - start).total_seconds() / 60
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        checked.fail("end_time", N_("A meeting lasts from 10 minutes to 10 hours."))
        return None
    return start, end


async def clashes(
    db: AsyncSession,
    start: datetime,
    end: datetime,
    site_ids: Sequence[int],
    chair_id: int | None,
    *,
    ignore_meeting: int | None = None,
) -> list[tuple[str, Meeting]]:
    """Active meetings overlapping [start, end) that share an endpoint or the chair (urgent
    rooms aside: they are unplanned and must not block the offices' bookings)."""
    shares: list[ColumnElement[bool]] = [
        Meeting.id.in_(
            select(MeetingSite.meeting_id).where(MeetingSite.site_id.in_(list(site_ids)))
        )
    ]
    if chair_id is not None:
        shares.append(Meeting.chair_id == chair_id)
    overlapping = select(Meeting).where(
        Meeting.status.in_(ACTIVE),
        # An urgent room (a crowd in Hanoi) never holds the offices' calendars.
        Meeting.purpose != MeetingPurpose.CROWD,
        Meeting.planned_start < end,
        Meeting.planned_end > start,
        or_(*shares),
    )
    if ignore_meeting is not None:
        overlapping = overlapping.where(Meeting.id != ignore_meeting)
    found = []
    for meeting in (await db.scalars(overlapping)).unique():
        shared = {ms.site_id for ms in meeting.sites} & set(site_ids)
        if shared:
            found.append(("site", meeting))
        elif chair_id is not None and meeting.chair_id == chair_id:
            found.append(("chair", meeting))
    return found


def _invitee_lines(text: str, checked: Checked) -> list[tuple[int, str, str, str]]:
    """(line number, name, role, endpoint code) of each "Name | role | code" line."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        name = parts[0]
        role = parts[1] if len(parts) > 1 else ""
        site_code = parts[2] if len(parts) > 2 else ""
        if not name or len(name) > 200 or len(parts) > 3:
            checked.fail(
                "other_invitees",
                N_("Line %(line)s: write “Name | role | endpoint code” (role and code optional)."),
                line=number,
            )
            continue
        out.append((number, name, role[:100], site_code))
    return out


async def book(
    db: AsyncSession,
    draft: MeetingDraft,
    *,
    now: datetime,
    zone: ZoneInfo,
    actor_id: int | None,
    status: MeetingStatus = MeetingStatus.SCHEDULED,
    allow_past: bool = False,
) -> Meeting:
    checked = Checked()
    title = draft.title.strip()
    if not title:
        checked.fail("title", N_("Enter a title for the meeting."))
    elif len(title) > 300:
        checked.fail("title", N_("The title must be at most 300 characters."))
    purpose: MeetingPurpose | None = None
    try:
        purpose = MeetingPurpose(draft.purpose)
    except ValueError:
        checked.fail("purpose", N_("Choose what the meeting is for."))
    try:
        kind = MeetingKind(draft.kind)
    except ValueError:
        checked.fail("kind", N_("Choose the kind of meeting."))
        kind = MeetingKind.REGULAR
    if kind is MeetingKind.AD_HOC and not draft.ad_hoc_reason.strip():
        checked.fail("ad_hoc_reason", N_("An ad hoc meeting needs its reason recorded."))
    try:
        policy = RecordingPolicy(draft.recording_policy)
    except ValueError:
        checked.fail("recording_policy", N_("Choose a recording policy."))
        policy = RecordingPolicy.ALWAYS
    if purpose is MeetingPurpose.DIALOGUE and policy is not RecordingPolicy.ALWAYS:
        checked.fail(
            "recording_policy",
            N_("A dialogue must be recorded in sound and image for its whole length."),
        )
    if draft.quality_profile not in QUALITY_PROFILES:
        checked.fail("quality_profile", N_("Choose a video quality."))
    try:
        mode = MeetingMode(draft.mode)
    except ValueError:
        mode = MeetingMode.ONLINE
    window = parse_window(draft, zone, checked)
    if window is not None and not allow_past and window[0] < now:
        checked.fail("date", N_("A meeting cannot be booked in the past."))
    elif window is not None and window[0] > now + timedelta(days=BOOKING_HORIZON_DAYS):
        checked.fail("date", N_("A meeting can be booked at most two years ahead."))

    host_id, participant_ids, found_sites = await check_endpoints(
        db, draft.host_site_id, draft.participant_site_ids, checked
    )
    all_ids = [i for i in [host_id, *participant_ids] if i is not None]

    chair = await check_person(db, draft.chair_id, Role.CHAIR, "chair_id", checked)
    secretary = await check_person(db, draft.secretary_id, Role.SECRETARY, "secretary_id", checked)

    case: Case | None = None
    if draft.case_id.strip():
        case_id = parse_id(draft.case_id)
        case = await db.get(Case, case_id) if case_id is not None else None
        if case is None:
            checked.fail("case_id", N_("There is no such case."))

    parties: list[CaseParty] = []
    for raw in draft.invite_party_ids:
        party = await db.get(CaseParty, parse_id(raw) or -1)
        if party is None or case is None or party.case_id != case.id:
            checked.fail("invite_party_ids", N_("Invite people of this case only."))
            continue
        parties.append(party)
    roles = {p.role for p in parties}
    if PartyRole.DENOUNCER in roles and PartyRole.ACCUSED in roles:
        checked.fail(
            "invite_party_ids",
            N_("A denouncer and the person denounced cannot be in the same meeting."),
        )
    others = _invitee_lines(draft.other_invitees, checked)
    other_codes = {code for *_, code in others if code}
    other_sites = {
        s.code: s for s in await db.scalars(select(Site).where(Site.code.in_(other_codes)))
    }
    for number, _, _, code in others:
        if code and code not in other_sites:
            checked.fail(
                "other_invitees",
                N_("Line %(line)s: there is no endpoint with the code %(value)s."),
                line=number,
                value=code,
            )

    if checked.errors:
        raise InvalidInput(checked.errors, checked.params)
    assert window is not None
    assert host_id is not None
    assert purpose is not None
    start, end = window
    clash = await clashes(db, start, end, all_ids, chair.id if chair else None)
    if clash:
        what, other = clash[0]
        field_name = "host_site_id" if what == "site" else "chair_id"
        if what == "site":
            shared = sorted({ms.site_id for ms in other.sites} & set(all_ids))
            subject = found_sites[shared[0]].name
        else:
            subject = chair.full_name if chair else ""
        checked.fail(
            field_name,
            N_("%(subject)s already has “%(other)s” from %(start)s to %(end)s."),
            subject=subject,
            other=other.title,
            start=other.planned_start.astimezone(zone).strftime("%H:%M %d/%m/%Y"),
            end=other.planned_end.astimezone(zone).strftime("%H:%M"),
        )
        raise InvalidInput(checked.errors, checked.params)

    meeting = await meetings.add(
        db,
        meetings.build(
            title=title,
            purpose=purpose,
            start=start,
            end=end,
            host_site_id=host_id,
            participant_site_ids=participant_ids,
            created_at=now,
            kind=kind,
            mode=mode,
            status=status,
            case_id=case.id if case else None,
            chair_id=chair.id if chair else None,
            secretary_id=secretary.id if secretary else None,
            created_by_id=actor_id,
            legal_basis=draft.legal_basis.strip(),
            ad_hoc_reason=draft.ad_hoc_reason.strip() or None,
            waiting_room=draft.waiting_room,
            recording_policy=policy,
            quality_profile=draft.quality_profile,
            invitees=[
                MeetingInvitee(
                    party_id=p.id,
                    display_name=p.shown_name,  # a denouncer under the pseudonym
                    role_label=labels.party_label(p.role),
                )
                for p in parties
            ]
            + [
                MeetingInvitee(
                    display_name=name,
                    role_label=role or labels.label(RoomRole.PARTICIPANT),
                    site_id=other_sites[code].id if code else None,
                )
                for _, name, role, code in others
            ],
        ),
        zone,
    )
    await audit.record(
        db,
        now,
        actor_id,
        "meeting.book",
        "meeting",
        meeting.id,
        {"reference": meeting.reference, "case": meeting.case_id, "sites": all_ids},
    )
    return meeting


async def check_endpoints(
    db: AsyncSession, host_raw: str, participant_raws: Sequence[str], checked: Checked
) -> tuple[int | None, list[int], dict[int, Site]]:
    """The host endpoint (required) and the others, each one known; the host and repeats are
    dropped from the others. Returns (host id, other ids, the sites found by id)."""
    host_id = parse_id(host_raw)
    if host_id is None:
        checked.fail("host_site_id", N_("Choose the host endpoint (điểm cầu chính)."))
    participant_ids: list[int] = []
    for raw in participant_raws:
        value = parse_id(raw)
        if value is None:
            checked.fail("participant_site_ids", N_("Unknown endpoint %(value)s."), value=raw)
        elif value != host_id and value not in participant_ids:
            participant_ids.append(value)
    all_ids = [i for i in [host_id, *participant_ids] if i is not None]
    found = {s.id: s for s in await db.scalars(select(Site).where(Site.id.in_(all_ids)))}
    for site_id in all_ids:
        if site_id not in found:
            name = "host_site_id" if site_id == host_id else "participant_site_ids"
            checked.fail(name, N_("Unknown endpoint %(value)s."), value=site_id)
    return host_id, participant_ids, found


async def check_person(
    db: AsyncSession, raw: str, role: Role, name: str, checked: Checked
) -> User | None:
    if not raw.strip():
        return None
    user = await db.get(User, parse_id(raw) or -1)
    if user is None or not user.active or role not in user.roles:
        checked.fail(name, N_("Choose a person from the list."))
        return None
    return user


@dataclass(frozen=True)
class JoinLink:
    label: str
    role_label: str
    path: str
    site_id: int | None = None  # whose endpoint: an endpoint's own link, or an invitee's place
    invitee_id: int | None = None
    user_id: int | None = None  # an invitee with an account (and so perhaps an e-mail address)


def join_links(meeting: Meeting, key: bytes, valid_hours: int) -> list[JoinLink]:
    """A signed link per endpoint and per invitee, valid until the planned end plus a margin."""
    expires = int((meeting.planned_end + timedelta(hours=valid_hours)).timestamp())
    links = []
    for ms in meeting.sites:
        claims = JoinClaims(
            meeting_id=meeting.id,
            subject=f"site:{ms.site_id}",
            name=ms.site.name,
            role=RoomRole.SITE,
            expires=expires,
            site_id=ms.site_id,
            role_label=labels.label(ms.role),
        )
        links.append(
            JoinLink(
                ms.site.name, claims.role_label, f"/join/{sign(claims, key)}", site_id=ms.site_id
            )
        )
    for invitee in meeting.invitees:
        claims = JoinClaims(  # no name, no role label: see sessions.joining
            meeting_id=meeting.id,
            subject=f"invitee:{invitee.id}",
            name="",
            role=RoomRole.PARTICIPANT,
            expires=expires,
            site_id=invitee.site_id,
        )
        links.append(
            JoinLink(
                invitee.display_name,
                invitee.role_label,
                f"/join/{sign(claims, key)}",
                site_id=invitee.site_id,
                invitee_id=invitee.id,
                user_id=invitee.user_id,
            )
        )
    return links


async def link_addresses(db: AsyncSession, links: Sequence[JoinLink]) -> list[tuple[str, JoinLink]]:
    """Who a link can be e-mailed to: an endpoint's link to its operators with an address, an
    invitee's link to the invitee's account address (outside people have none recorded)."""
    site_ids = {link.site_id for link in links if link.invitee_id is None and link.site_id}
    user_ids = {link.user_id for link in links if link.user_id is not None}
    operators = await db.execute(
        select(User.site_id, User.email)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.site_id.in_(site_ids),
            UserRole.role == Role.SITE_OPERATOR,
            User.active.is_(True),
            User.email.is_not(None),
        )
    )
    by_site: dict[int, list[str]] = {}
    for site_id, email in operators.all():
        if site_id is not None and email:
            by_site.setdefault(site_id, []).append(email)
    rows = await db.execute(
        select(User.id, User.email).where(User.id.in_(user_ids), User.active.is_(True))
    )
    accounts = {user_id: email for user_id, email in rows.all() if email}
    out: list[tuple[str, JoinLink]] = []
    for link in links:
        if link.invitee_id is None and link.site_id is not None:
            out += [(email, link) for email in by_site.get(link.site_id, [])]
        elif link.user_id is not None and link.user_id in accounts:
            out.append((accounts[link.user_id], link))
    return out
