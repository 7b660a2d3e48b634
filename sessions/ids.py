"""Record ids typed by people or carried in addresses: a number outside the 32-bit range of
the id columns names no record (and must not reach the database, where it overflows)."""

from __future__ import annotations

MAX_ID = 2**31 - 1


def whole_number(raw: str | None) -> int | None:
    """A whole number typed in ASCII digits (at most ten), or None. ``str.isdigit`` alone is
    not enough: "²" is a digit to Python but not to ``int``."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    return int(text)


def parse_id(raw: str | None) -> int | None:
    """The id ``raw`` names, or None when it cannot name a record."""
    value = whole_number(raw)
    return value if value is not None and 0 < value <= MAX_ID else None
