"""Paging and query-parameter parsing for list pages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


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
