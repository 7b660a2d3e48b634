"""Record ids typed by people or carried in addresses: a number outside the 32-bit range of
the id columns names no record (and must not reach the database, where it overflows)."""

from __future__ import annotations

MAX_ID = 2**31 - 1


def parse_id(raw: str | None) -> int | None:
    """The id ``raw`` names, or None when it cannot name a record."""
    text = (raw or "").strip()
    if not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
