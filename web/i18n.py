"""Message catalogs (Babel .po files, compiled in memory at start-up) and locale choice.

Message ids are English; ``locale/vi`` translates them. Vietnamese is the default on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from sessions import labels
from sessions.errors import MORE_ERRORS

LOCALE_DIR = Path(__file__).with_name("locale")
LOCALES = ("vi", "en")
LOCALE_COOKIE = "diemcau_lang"


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


def load_translations() -> dict[str, NullTranslations]:
    out: dict[str, NullTranslations] = {"en": NullTranslations()}
    for locale in LOCALES:
        if locale == "en":
            continue
        with catalog_path(locale).open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        out[locale] = Translations(buffer)
    return out


def render_message(
    translations: NullTranslations, message: str, params: Mapping[str, object] | None = None
) -> str:
    """A message id with its parameters, in the catalog's language; enum parameters are shown
    by their translated labels. A stored message no catalog knows is shown as written."""
    text = translations.gettext(message)
    if not params:
        return text
    shown = {
        key: translations.gettext(labels.label(value)) if isinstance(value, StrEnum) else value
        for key, value in params.items()
    }
    try:
        return text % shown
    except (KeyError, TypeError, ValueError):
        return text


def render_field_error(
    translations: NullTranslations, message: str, params: Mapping[str, object] | None = None
) -> str:
    """A field's message and any further ones (``sessions.errors.MORE_ERRORS``), in order."""
    parts = [render_message(translations, message, params)]
    more = (params or {}).get(MORE_ERRORS)
    if isinstance(more, list):
        parts += [render_message(translations, m, p) for m, p in more]
    return " ".join(parts)


def choose_locale(cookie: str | None, default: str) -> str:
    return cookie if cookie in LOCALES else default


_DATETIME_PATTERN = {"vi": "HH:mm dd/MM/yyyy", "en": "HH:mm, d MMM yyyy"}
_DATE_PATTERN = {"vi": "dd/MM/yyyy", "en": "d MMM yyyy"}
_TIME_PATTERN = "HH:mm"


def show_datetime(value: datetime | None, locale: str, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    return format_datetime(value.astimezone(zone), _DATETIME_PATTERN[locale], locale=locale)


def show_time(value: datetime | None, locale: str, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    return format_datetime(value.astimezone(zone), _TIME_PATTERN, locale=locale)


def show_date(value: date | None, locale: str) -> str:
    if value is None:
        return ""
    return format_date(value, _DATE_PATTERN[locale], locale=locale)
