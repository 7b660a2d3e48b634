"""Who may join a meeting, in which room role, and the signed token that says so."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sessions import labels
from sessions.enums import MeetingSiteRole
from sessions.errors import N_, PermissionDenied
from sessions.ids import parse_id
from sessions.models import Meeting, MeetingInvitee, Site, User, WebSession
from sessions.permissions import Action, Principal, Scope
from sessions.tokens import JoinClaims, RoomRole

TOKEN_HOURS = 12  # a kiosk's token (fetched again on every poll)
USER_TOKEN_MARGIN = timedelta(hours=2)  # past the planned end, for meetings that run over


def room_role(user: User, meeting: Meeting) -> RoomRole:
    """The role a signed-in user takes in a meeting, or PermissionDenied."""
    if meeting.chair_id == user.id:
        return RoomRole.CHAIR
    if meeting.secretary_id == user.id:
        return RoomRole.SECRETARY
    principal = Principal.of(user)
    if not principal.allows(Action.MEETING_JOIN, meeting):
        raise PermissionDenied(N_("You are not a participant of this meeting."))
    if principal.scope(Action.MEETING_JOIN) is Scope.SITE:
        return RoomRole.SITE  # an endpoint's operator joins as its endpoint
    return RoomRole.OFFICER


def claims_for_user(
    user: User, meeting: Meeting, now: datetime, web_session: WebSession
) -> JoinClaims:
    """A signed-in person's room token: bound to the browser sign-in it was issued to, and
    valid no longer than that sign-in nor past the meeting's planned end (plus a margin)."""
    role = room_role(user, meeting)
    site_id = user.site_id if role is RoomRole.SITE else _host_site_id(meeting)
    until = min(web_session.expires_at, meeting.planned_end + USER_TOKEN_MARGIN)
    return JoinClaims(
        meeting_id=meeting.id,
        subject=f"user:{user.id}",
        name=user.full_name,
        role=role,
        expires=int(max(until, now + timedelta(minutes=5)).timestamp()),
        site_id=site_id,
        role_label=user.position or labels.label(role),
        web_session=web_session.id,
    )


def claims_for_site(site: Site, meeting: Meeting, now: datetime) -> JoinClaims:
    """An endpoint's kiosk joins as the endpoint itself."""
    if site.id not in {ms.site_id for ms in meeting.sites}:
        raise PermissionDenied(N_("This endpoint is not part of the meeting."))
    host = any(ms.site_id == site.id and ms.role is MeetingSiteRole.HOST for ms in meeting.sites)
    return JoinClaims(
        meeting_id=meeting.id,
        subject=f"site:{site.id}",
        name=site.name,
        role=RoomRole.SITE,
        expires=int((now + timedelta(hours=TOKEN_HOURS)).timestamp()),
        site_id=site.id,
        role_label=labels.label(MeetingSiteRole.HOST if host else MeetingSiteRole.PARTICIPANT),
    )


def _host_site_id(meeting: Meeting) -> int | None:
    return next((ms.site_id for ms in meeting.sites if ms.role is MeetingSiteRole.HOST), None)


async def with_invitee_name(db: AsyncSession, claims: JoinClaims) -> JoinClaims:
    """An invitee's claims with the name and role label the meeting gives it (the token
    carries neither); refused when the invitee is not, or no longer, in that meeting."""
    if not claims.subject.startswith("invitee:") or claims.name:
        return claims
    invitee_id = parse_id(claims.subject.removeprefix("invitee:"))
    invitee = await db.get(MeetingInvitee, invitee_id) if invitee_id else None
    if invitee is None or invitee.meeting_id != claims.meeting_id:
        raise PermissionDenied(N_("This join link is no longer valid for this meeting."))
    return replace(claims, name=invitee.display_name, role_label=invitee.role_label)
