"""Reading submitted forms: text fields, checkboxes, limits."""

from __future__ import annotations

import unicodedata

from aiohttp.web_request import FileField
from multidict import MultiDictProxy

FormData = MultiDictProxy[str | bytes | bytearray | FileField]
MAX_FIELD = 20_000


def form_text(form: FormData, name: str, *, strip: bool = True) -> str:
    """A text field, or "" if missing or not text (a file where text was expected)."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    # Some Vietnamese keyboards type combining marks (e + ̂ + ́): store one form, NFC.
    value = unicodedata.normalize("NFC", value[:MAX_FIELD])
    return value.strip() if strip else value


def form_flags(form: FormData, name: str) -> frozenset[str]:
    return frozenset(v for v in form.getall(name, []) if isinstance(v, str))


def form_values(form: FormData) -> dict[str, str]:
    """Everything typed, to re-render a refused form as the person left it."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
