"""Who may do what, and on which records: the one permissions table.

Every view, template and live-room action asks this module; no role list is written anywhere
else. The table maps role × action to a *scope*, and a principal's scope for an action is the
widest of its roles':

- ``ALL``: every record;
- ``UNIT``: the cases of the principal's unit (the office its account belongs to), the cases
  assigned to it or that it registered; the meetings of those cases, the meetings filed against
  no case, and the meetings it chairs, records, booked or whose endpoints include its unit;
- ``SITE``: only the meetings its own endpoint takes part in — their times and titles, never
  case content (a commune or ward operator; the central-office liaison);
- ``NONE``.

Each scope has two faces kept side by side here: a Python test on a loaded object (for a page
and its buttons) and a SQL clause (for lists and counts), and a test checks they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from sqlalchemy import ColumnElement, false, or_, select, true

from sessions.enums import Role
from sessions.errors import N_, PermissionDenied
from sessions.models import Case, Meeting, MeetingSite, User


class Action(StrEnum):
    CASE_LIST = "case.list"
    CASE_VIEW = "case.view"
    CASE_CREATE = "case.create"
    CASE_EDIT = "case.edit"  # people on the case, tying a meeting to it
    CASE_HOLD = "case.hold"  # legal hold of its recordings
    CASE_EXPORT = "case.export"  # the case file: one signed archive of everything filed
    PROPOSAL_DECIDE = "proposal.decide"  # approve or return a handling proposal (the Chairman)
    MEETING_LIST = "meeting.list"  # lists, calendars and feeds
    MEETING_VIEW = "meeting.view"
    MEETING_BOOK = "meeting.book"
    MEETING_CANCEL = "meeting.cancel"
    MEETING_JOIN = "meeting.join"
    MEETING_LINKS = "meeting.links"  # see and hand out the invitees' join links
    MINUTES_VIEW = "minutes.view"  # read the minutes and download them
    MINUTES_WRITE = "minutes.write"  # write the draft, record signatures
    MINUTES_FINALISE = "minutes.finalise"  # lock them (and amend them afterwards)
    RECORDING_VIEW = "recording.view"  # list, play and download
    RECORDING_COMBINE = "recording.combine"
    SCHEDULE_MANAGE = "schedule.manage"  # recurring reception days
    DUTY_MANAGE = "duty.manage"  # the leaders' duty roster for urgent links
    HOLIDAY_MANAGE = "holiday.manage"  # days off the Government moved, for working-day deadlines
    DELEGATION_VIEW = "delegation.view"  # crowd delegations and their working groups
    DELEGATION_MANAGE = "delegation.manage"
    URGENT_RAISE = "urgent.raise"
    URGENT_ANSWER = "urgent.answer"
    SITE_LIST = "site.list"
    SITE_DEVICE = "site.device"  # issue a kiosk's device link
    SITE_CHECK = "site.check"  # run readiness checks, export their history, message a kiosk
    LIVE_ROOMS = "live.rooms"  # operators' view of live rooms
    USER_MANAGE = "user.manage"
    VAULT_READ = "vault.read"  # a denouncer's identity, with a reason, audited
    AUDIT_READ = "audit.read"  # the audit trail, and who read the vault


class Scope(IntEnum):
    NONE = 0
    SITE = 1
    UNIT = 2
    ALL = 3


_A, _U, _S = Scope.ALL, Scope.UNIT, Scope.SITE
# The table. An action a role does not name is NONE for it.
RULES: Mapping[Role, Mapping[Action, Scope]] = {
    # Technical administration: accounts, endpoints, kiosks, live rooms. No case content.
    Role.ADMIN: {
        Action.USER_MANAGE: _A,
        Action.HOLIDAY_MANAGE: _A,
        Action.SITE_LIST: _A,
        Action.SITE_DEVICE: _A,
        Action.SITE_CHECK: _A,
        Action.LIVE_ROOMS: _A,
    },
    # Provincial leaders: see everything, chair sessions, answer urgent links.
    Role.CHAIR: {
        Action.CASE_LIST: _A,
        Action.CASE_VIEW: _A,
        Action.CASE_CREATE: _A,
        Action.CASE_EDIT: _A,
        Action.CASE_EXPORT: _A,
        Action.PROPOSAL_DECIDE: _A,
        Action.MEETING_LIST: _A,
        Action.MEETING_VIEW: _A,
        Action.MEETING_BOOK: _A,
        Action.MEETING_CANCEL: _A,
        Action.MEETING_JOIN: _A,
        Action.MEETING_LINKS: _A,
        Action.MINUTES_VIEW: _A,
        Action.MINUTES_WRITE: _A,
        Action.MINUTES_FINALISE: _A,
        Action.RECORDING_VIEW: _A,
        Action.RECORDING_COMBINE: _A,
        Action.URGENT_ANSWER: _A,
        Action.DELEGATION_VIEW: _A,
        Action.DELEGATION_MANAGE: _A,
        Action.SITE_LIST: _A,
        Action.LIVE_ROOMS: _A,
    },
    # Reception officers: the cases of their unit or assigned to them.
    Role.OFFICER: {
        Action.CASE_LIST: _U,
        Action.CASE_VIEW: _U,
        Action.CASE_CREATE: _A,
        Action.CASE_EDIT: _U,
        Action.CASE_HOLD: _U,
        Action.CASE_EXPORT: _U,
        Action.MEETING_LIST: _U,
        Action.MEETING_VIEW: _U,
        Action.MEETING_BOOK: _A,
        Action.MEETING_CANCEL: _U,
        Action.MEETING_JOIN: _U,
        Action.MEETING_LINKS: _U,
        Action.MINUTES_VIEW: _U,
        Action.MINUTES_WRITE: _U,
        Action.RECORDING_VIEW: _U,
        Action.RECORDING_COMBINE: _U,
        Action.SCHEDULE_MANAGE: _A,
        Action.DUTY_MANAGE: _A,
        Action.HOLIDAY_MANAGE: _A,
        Action.URGENT_RAISE: _A,
        Action.DELEGATION_VIEW: _A,
        Action.DELEGATION_MANAGE: _A,
        Action.SITE_LIST: _A,
        Action.SITE_CHECK: _A,
        Action.LIVE_ROOMS: _A,
    },
    # Secretaries: as officers for the cases they work on, without the office's settings.
    Role.SECRETARY: {
        Action.CASE_LIST: _U,
        Action.CASE_VIEW: _U,
        Action.CASE_CREATE: _A,
        Action.CASE_EDIT: _U,
        Action.CASE_EXPORT: _U,
        Action.MEETING_LIST: _U,
        Action.MEETING_VIEW: _U,
        Action.MEETING_BOOK: _A,
        Action.MEETING_JOIN: _U,
        Action.MEETING_LINKS: _U,
        Action.MINUTES_VIEW: _U,
        Action.MINUTES_WRITE: _U,
        Action.MINUTES_FINALISE: _U,
        Action.RECORDING_VIEW: _U,
        Action.RECORDING_COMBINE: _U,
        Action.SITE_LIST: _A,
        Action.SITE_CHECK: _A,
    },
    # A commune or ward operator: its own endpoint's meetings, no case content.
    Role.SITE_OPERATOR: {
        Action.MEETING_LIST: _S,
        Action.MEETING_VIEW: _S,
        Action.MEETING_JOIN: _S,
        Action.SITE_LIST: _A,
    },
    # The liaison at the central office: the urgent link and its office's meetings.
    Role.CENTRAL_LIAISON: {
        Action.URGENT_RAISE: _A,
        Action.DELEGATION_VIEW: _A,
        Action.DELEGATION_MANAGE: _A,
        Action.MEETING_LIST: _S,
        Action.MEETING_VIEW: _S,
        Action.MEETING_JOIN: _S,
        Action.SITE_LIST: _A,
    },
    # The inspector reads everything (the denouncer vault excepted) and changes nothing.
    Role.AUDITOR: {
        Action.CASE_LIST: _A,
        Action.CASE_VIEW: _A,
        Action.CASE_EXPORT: _A,
        Action.MEETING_LIST: _A,
        Action.MEETING_VIEW: _A,
        Action.MINUTES_VIEW: _A,
        Action.RECORDING_VIEW: _A,
        Action.DELEGATION_VIEW: _A,
        Action.SITE_LIST: _A,
        Action.AUDIT_READ: _A,
    },
    # Clearance for the denouncer vault, given to named people on top of their usual role: it
    # opens the identity on the cases they may already see, and nothing else.
    Role.VAULT_READER: {
        Action.VAULT_READ: _A,
    },
}

# Actions whose scope is about cases; the others are about meetings (or nothing).
CASE_ACTIONS = frozenset(
    {
        Action.CASE_LIST,
        Action.CASE_VIEW,
        Action.CASE_EDIT,
        Action.CASE_HOLD,
        Action.CASE_EXPORT,
        Action.PROPOSAL_DECIDE,
        Action.CASE_CREATE,
        Action.VAULT_READ,
    }
)

# What each room role may do in a live meeting, by protocol message type. Everyone may speak
# for themselves (mute, raise a hand, publish, leave); these are the actions on others.
ROOM_RULES: Mapping[str, frozenset[str]] = {
    "chair": frozenset(
        {
            "admit",
            "send_back",
            "mute_participant",
            "remove",
            "give_floor",
            "end_meeting",
            "recording_control",
            "skip_waiting_room",
        }
    ),
    "officer": frozenset({"admit", "send_back", "skip_waiting_room"}),
    "secretary": frozenset(),
    "site": frozenset(),
    "participant": frozenset(),
}


def room_allows(room_role: str, action: str) -> bool:
    return action in ROOM_RULES.get(room_role, frozenset())


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in account, reduced to what permissions depend on."""

    user_id: int
    roles: frozenset[Role]
    site_id: int | None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.id, user.roles, user.site_id)

    def scope(self, action: Action) -> Scope:
        widest = max((RULES[r].get(action, Scope.NONE) for r in self.roles), default=Scope.NONE)
        if action is Action.VAULT_READ:
            # Clearance opens the identity only on cases the principal may already see.
            return min(widest, self.scope(Action.CASE_VIEW))
        return widest

    def may(self, action: Action) -> bool:
        """May this principal do ``action`` on at least some records?"""
        return self.scope(action) is not Scope.NONE

    # ---- on a loaded object ---------------------------------------------------------------

    def allows(self, action: Action, target: Case | Meeting | None = None) -> bool:
        """May this principal do ``action`` on ``target`` (a case, or a meeting; a recording
        is asked about through its meeting)? Without a target: on some record."""
        scope = self.scope(action)
        if scope is Scope.NONE:
            return False
        if target is None:
            return True
        if isinstance(target, Meeting) and action in CASE_ACTIONS:
            # A case action asked of a meeting is about the meeting's case.
            return target.case is not None and self.allows(action, target.case)
        if scope is Scope.ALL:
            return True
        if isinstance(target, Case):
            return scope is Scope.UNIT and self._case_in_unit(target)
        site_ids = {ms.site_id for ms in target.sites}
        if scope is Scope.SITE:
            return self.site_id is not None and self.site_id in site_ids
        return (
            target.case is None
            or self._case_in_unit(target.case)
            or self.user_id in (target.chair_id, target.secretary_id, target.created_by_id)
            or (self.site_id is not None and self.site_id in site_ids)
        )

    def _case_in_unit(self, case: Case) -> bool:
        return (
            (self.site_id is not None and case.unit_site_id == self.site_id)
            or case.assignee_id == self.user_id
            or case.created_by_id == self.user_id
        )

    def require(self, action: Action, target: Case | Meeting | None = None) -> None:
        if not self.allows(action, target):
            raise PermissionDenied(N_("Your role does not allow this."))

    # ---- as SQL, for lists ------------------------------------------------------------------

    def case_clause(self, action: Action) -> ColumnElement[bool]:
        """The cases this principal may ``action``, as a WHERE clause on ``Case``."""
        scope = self.scope(action)
        if scope is Scope.ALL:
            return true()
        if scope is not Scope.UNIT:
            return false()
        return self._case_unit_clause()

    def _case_unit_clause(self) -> ColumnElement[bool]:
        return or_(
            Case.unit_site_id == self.site_id if self.site_id is not None else false(),
            Case.assignee_id == self.user_id,
            Case.created_by_id == self.user_id,
        )

    def meeting_clause(self, action: Action) -> ColumnElement[bool]:
        """The meetings this principal may ``action``, as a WHERE clause on ``Meeting``."""
        if action in CASE_ACTIONS:
            return Meeting.case_id.in_(select(Case.id).where(self.case_clause(action)))
        scope = self.scope(action)
        if scope is Scope.ALL:
            return true()
        if scope is Scope.NONE:
            return false()
        at_own_site = (
            Meeting.id.in_(
                select(MeetingSite.meeting_id).where(MeetingSite.site_id == self.site_id)
            )
            if self.site_id is not None
            else false()
        )
        if scope is Scope.SITE:
            return at_own_site
        return or_(
            Meeting.case_id.is_(None),
            Meeting.case_id.in_(select(Case.id).where(self._case_unit_clause())),
            Meeting.chair_id == self.user_id,
            Meeting.secretary_id == self.user_id,
            Meeting.created_by_id == self.user_id,
            at_own_site,
        )


def nobody() -> Principal:
    """A principal with no roles (for code paths with no signed-in person)."""
    return Principal(0, frozenset(), None)
