"""Paging and query-parameter parsing for list pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from aiohttp import web

from sessions.errors import N_, BadRequest, NotFound
from sessions.ids import parse_id

E = TypeVar("E", bound=StrEnum)
# Dates a person can mean in this system; outside them date arithmetic overflows.
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2200, 12, 31)


def path_id(request: web.Request, name: str) -> int:
    """A record id from the URL: a number that names no row is "not found", never an error."""
    value = parse_id(request.match_info[name])
    if value is None:
        raise NotFound(N_("There is no such record. Check the address."))
    return value


def optional_date_param(raw: str | None) -> date | None:
    """A date from the query string if one is given (see :func:`date_param`)."""
    return date_param(raw, default=FIRST_DAY) if raw else None


def date_param(raw: str | None, *, default: date) -> date:
    """A date from the query string; an unreadable or far-off one is refused with a message."""
    if not raw:
        return default
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(N_("Enter the date as YYYY-MM-DD.")) from None
    if not FIRST_DAY <= value <= LAST_DAY:
        raise BadRequest(N_("Choose a date between 1990 and 2200."))
    return value


def enum_param(enum: type[E], raw: str | None) -> E | None:
    """A query-string value as an enum member; unknown values mean "no filter"."""
    try:
        return enum(raw) if raw else None
    except ValueError:
        return None


def int_param(raw: str | None, *, default: int, minimum: int = 0, maximum: int = 1_000_000) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return max(minimum, min(maximum, value))


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages
