"""When the timetable acts: the durations the scheduler and its features share, from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sessions.settings import Settings


@dataclass(frozen=True)
class Timing:
    lead: timedelta  # rooms open this long before the start
    grace: timedelta  # empty rooms end this long after the end
    reminders: tuple[timedelta, ...]
    escalation: timedelta  # an unanswered urgent call goes to the next rank after this
    urgent_timeout: timedelta  # an unanswered urgent room ends by itself after this
    horizon_days: int  # recurring reception days are created this far ahead
    zone: ZoneInfo

    @classmethod
    def of(cls, settings: Settings) -> Timing:
        return cls(
            lead=timedelta(minutes=settings.room_lead_minutes),
            grace=timedelta(minutes=settings.end_grace_minutes),
            reminders=tuple(timedelta(minutes=int(m)) for m in settings.reminder_minutes),
            escalation=timedelta(minutes=settings.urgent_escalation_minutes),
            urgent_timeout=timedelta(minutes=settings.urgent_timeout_minutes),
            horizon_days=settings.recurrence_horizon_days,
            zone=settings.zone,
        )
