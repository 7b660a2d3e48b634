"""Every message on screen has a Vietnamese translation with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from web import i18n

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted_ids() -> set[str]:
    method_map = [
        ("sessions/**.py", "python"),
        ("web/**.py", "python"),
        ("signaling/**.py", "python"),
        ("recordings/**.py", "python"),
        ("web/templates/**.html", "jinja2"),
    ]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords={"_": None, "gettext": None, "N_": None}
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_message_is_translated() -> None:
    with i18n.catalog_path("vi").open("rb") as fh:
        catalog = read_po(fh, locale="vi")
    ids = extracted_ids()
    assert len(ids) > 150
    translations = {m: entry.string for m in ids if (entry := catalog.get(m)) is not None}
    missing = sorted(m for m in ids if not translations.get(m))
    assert missing == [], "run `make messages` and translate these in web/locale/vi"
    for message in ids:
        translated = translations[message]
        assert isinstance(translated, str)
        assert set(PLACEHOLDER.findall(message)) == set(PLACEHOLDER.findall(translated)), message


def test_catalog_loads_and_translates() -> None:
    translations = i18n.load_translations()
    assert translations["vi"].gettext("Sign in") == "Đăng nhập"
    assert translations["en"].gettext("Sign in") == "Sign in"


def test_every_quality_profile_has_a_label() -> None:
    from sessions.booking import QUALITY_PROFILES
    from sessions.labels import QUALITY_LABELS
    from signaling.media.quality import PROFILES

    assert set(QUALITY_LABELS) == set(QUALITY_PROFILES) == set(PROFILES)


def test_every_member_of_a_labelled_enum_has_a_label() -> None:
    """A status with no label broke the recordings page (a 500 while a file was being made)."""
    from sessions import labels

    kinds = {kind for kind, _ in labels.LABELS}
    missing = [
        f"{kind.__name__}.{m.name}"
        for kind in kinds
        for m in kind
        if (kind, m.value) not in labels.LABELS
    ]
    assert missing == []
