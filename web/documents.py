"""Official documents (minutes, notices) in the Nghị định 30/2020 layout: one Jinja2 template
for the print view and the PDF/A (WeasyPrint, in a worker process, never on the event loop), and
the same content as DOCX (python-docx). The layout is ``static/document.css``, one file for the
browser and for WeasyPrint; the Liberation Serif in ``static/fonts`` (SIL OFL; metric-compatible
with Times New Roman, full Vietnamese) makes every machine render the same pages."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import multiprocessing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from sessions.models import ConclusionNotice, MinutesVersion

STATIC_DIR = Path(__file__).with_name("static")
FONTS_DIR = STATIC_DIR / "fonts"
CSS = STATIC_DIR / "document.css"
FONT = "Liberation Serif"
PDF_VARIANT = "pdf/a-3b"  # archival PDF that may carry attachments


@dataclass(frozen=True)
class Letterhead:
    issuing_body: str  # "UBND TỈNH LẠNG SƠN"
    issuing_office: str  # "BAN TIẾP CÔNG DÂN TỈNH"


def _moment(zone: ZoneInfo) -> Any:
    def moment(iso: str | None) -> str:
        if not iso:
            return "……"
        local = datetime.fromisoformat(iso).astimezone(zone)
        return (
            f"{local:%H} giờ {local:%M} phút, ngày {local.day:02d} tháng {local.month:02d} "
            f"năm {local.year}"
        )

    return moment


def _clock(zone: ZoneInfo) -> Any:
    def clock(iso: str | None) -> str:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%H:%M") if iso else ""

    return clock


def _offset(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def title_of(content: Mapping[str, Any], translations: NullTranslations) -> str:
    if content.get("kind") == "dialogue":
        return translations.gettext("DIALOGUE MINUTES")
    return translations.gettext("CITIZEN RECEPTION RECORD")


def minutes_html(
    env: jinja2.Environment,
    version: MinutesVersion,
    *,
    translations: NullTranslations,
    zone: ZoneInfo,
    letterhead: Letterhead,
    sha256: str | None,
    screen: bool,
) -> str:
    """The document's HTML; ``screen`` for the browser's print view (fonts over HTTP)."""
    content = version.content
    return env.get_template("documents/minutes.html").render(
        translations=translations,
        content=content,
        facts=content.get("facts", {}),
        version=version,
        amendment=version.kind == "amendment",
        title=title_of(content, translations),
        moment=_moment(zone),
        clock=_clock(zone),
        offset=_offset,
        issuing_body=letterhead.issuing_body,
        issuing_office=letterhead.issuing_office,
        sha256=sha256,
        screen=screen,
        css_url="/static/document.css" if screen else CSS.as_uri(),
        number=content.get("number"),
        dated=None,  # a biên bản has no date line in its heading
    )


def notice_html(
    env: jinja2.Environment,
    notice: ConclusionNotice,
    facts: Mapping[str, Any],
    *,
    translations: NullTranslations,
    zone: ZoneInfo,
    letterhead: Letterhead,
    place: str,
    screen: bool,
) -> str:
    """The conclusion notice: numbered, with its place and date line, signed by the leader."""
    signed = (notice.signed_at or notice.created_at).astimezone(zone)
    return env.get_template("documents/notice.html").render(
        translations=translations,
        notice=notice,
        facts=facts,
        title=translations.gettext("NOTICE"),
        moment=_moment(zone),
        issuing_body=letterhead.issuing_body,
        issuing_office=letterhead.issuing_office,
        number=notice.number,
        dated=translations.gettext("%(place)s, day %(d)s month %(m)s year %(y)s")
        % {"place": place, "d": f"{signed.day:02d}", "m": f"{signed.month:02d}", "y": signed.year},
        leader=facts.get("chair") or "",
        leader_title=(facts.get("chair_position") or translations.gettext("Chair")).upper(),
        places=", ".join(e["name"] for e in facts.get("endpoints", [])),
        sha256=None,
        screen=screen,
        css_url="/static/document.css" if screen else CSS.as_uri(),
    )


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # type: ignore[import-untyped]  # heavy: imported when used

    data: bytes = HTML(string=html, base_url=str(FONTS_DIR)).write_pdf(pdf_variant=PDF_VARIANT)
    return data


def renderer() -> concurrent.futures.ProcessPoolExecutor:
    """The worker process that renders PDFs: another process, so WeasyPrint's Python work never
    holds the server's interpreter lock while rooms forward media (on a thread it stalled the
    event loop for ~100 ms a page; bench/minutes.py)."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    )


async def pdf(html: str, pool: concurrent.futures.Executor) -> bytes:
    """The PDF/A of a document's HTML, rendered in the worker process."""
    return await asyncio.get_running_loop().run_in_executor(pool, _pdf, html)


def _docx(
    version: MinutesVersion,
    translations: NullTranslations,
    zone: ZoneInfo,
    letterhead: Letterhead,
) -> bytes:
    _ = translations.gettext
    content = version.content
    facts: Mapping[str, Any] = content.get("facts", {})
    moment, clock = _moment(zone), _clock(zone)
    # Imported here: python-docx costs the server ~7 MiB it only needs for this download.
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Mm, Pt

    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(13)
    normal.paragraph_format.space_after = Pt(6)

    def para(
        text: str = "",
        *,
        bold: bool = False,
        italic: bool = False,
        center: bool = False,
        indent: bool = True,
        size: float | None = None,
    ) -> None:
        p = doc.add_paragraph()
        if center:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif indent:
            p.paragraph_format.first_line_indent = Cm(1.27)
        run = p.add_run(text)
        run.bold, run.italic = bold, italic
        run.font.name = FONT
        if size:
            run.font.size = Pt(size)

    heading = doc.add_table(rows=1, cols=2)
    left, right = heading.rows[0].cells
    left.text = ""
    for text, bold in (
        (letterhead.issuing_body, False),
        (letterhead.issuing_office, True),
        (f"{_('No.')} {content.get('number') or '……'}", False),
    ):
        p = left.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        r = p.add_run(text)
        r.bold = bold
        r.font.size = Pt(12.5 if bold else 13)
    for text, size in (
        (_("SOCIALIST REPUBLIC OF VIETNAM"), 12.5),
        (_("Independence - Freedom - Happiness"), 13.5),
    ):
        p = right.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        r = p.add_run(text)
        r.bold = True
        r.font.size = Pt(size)
    para(title_of(content, translations), bold=True, center=True, size=14)
    if facts.get("case"):
        para(f"{_('case')} {facts['case']}", bold=True, center=True)
    if version.kind == "amendment":
        para(
            _("Amendment %(n)s of version %(of)s: %(reason)s")
            % {"n": version.version, "of": version.amends_version, "reason": version.reason},
            bold=True,
            indent=False,
        )
    para(
        _(
            "At %(time)s, the meeting “%(title)s” (%(reference)s) was held online between the "
            "endpoints below, in sound and image, recorded in full."
        )
        % {
            "time": moment(facts.get("started_at") or facts.get("planned_start")),
            "title": facts.get("title", ""),
            "reference": facts.get("reference", ""),
        }
    )
    para(_("I. Place: the endpoints"), bold=True, indent=False)
    for e in facts.get("endpoints", []):
        official = f" — {e['official']}" if e.get("official") else ""
        para(f"{e['name']} ({_(e['role'])}){official}", indent=False)
    para(_("II. Participants"), bold=True, indent=False)
    if facts.get("chair"):
        para(f"{_('Chair')}: {facts['chair']}", indent=False)
    if facts.get("secretary"):
        para(f"{_('Secretary')}: {facts['secretary']}", indent=False)
    for i in facts.get("invitees", []):
        where = f" ({i['endpoint']})" if i.get("endpoint") else ""
        para(f"{_(i['role'])}: {i['name']}{where}", indent=False)
    for a in facts.get("attendance", []):
        para(
            f"{a['name']} — {_(a['role'])}: {clock(a.get('joined'))}–{clock(a.get('left'))}",
            indent=False,
        )
    for item in facts.get("interruptions", []):
        who = f"{item['who']}: " if item.get("who") else ""
        until = f"–{clock(item['until'])}" if item.get("until") else ""
        para(f"{clock(item['at'])}{until} — {who}{_(item['what'])}", indent=False)
    para(_("III. Content"), bold=True, indent=False)
    sections = (
        [
            ("issues", _("Issues for dialogue:")),
            ("verification", _("Verification result read out by the chair:")),
        ]
        if content.get("kind") == "dialogue"
        else [("account", _("The citizen's account:"))]
    )
    for name, caption in sections:
        para(caption, bold=True, indent=False)
        para(content.get(name, ""))
    if content.get("opinions"):
        para(_("Opinions of the participants:"), bold=True, indent=False)
        for o in content["opinions"]:
            para(f"{o['who']}: {o['text']}")
    para(_("IV. Result"), bold=True, indent=False)
    results = (
        [("agreed", _("Points agreed:")), ("outstanding", _("Points outstanding:"))]
        if content.get("kind") == "dialogue"
        else [("handling", _("Classification and handling:"))]
    )
    for name, caption in results:
        para(caption, bold=True, indent=False)
        para(content.get(name, ""))
    para(
        _(
            "The meeting ended at %(time)s. These minutes were read back to the participants and "
            "made in %(copies)s copies of equal value."
        )
        % {
            "time": moment(facts.get("ended_at") or facts.get("planned_end")),
            "copies": content.get("copies", 2),
        }
    )
    signatures = content.get("signatures", [])
    table = doc.add_table(rows=(len(signatures) + 1) // 2, cols=2)
    for index, s in enumerate(signatures):
        cell = table.rows[index // 2].cells[index % 2]
        cell.text = ""
        state = {
            "refused": _("Did not sign. Reason: %(reason)s") % {"reason": s["reason"]},
            "fingerprint": _("(fingerprint)"),
            "signed": _("(signed)"),
        }.get(s["state"], _("(not yet signed)"))
        for text, bold, italic in (
            (_(s["role"]).upper(), True, False),
            (state, False, True),
            ("", False, False),
            (s["who"], True, False),
        ):
            p = cell.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            r = p.add_run(text)
            r.bold, r.italic = bold, italic
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


async def docx(
    version: MinutesVersion,
    translations: NullTranslations,
    zone: ZoneInfo,
    letterhead: Letterhead,
) -> bytes:
    return await asyncio.to_thread(_docx, version, translations, zone, letterhead)
