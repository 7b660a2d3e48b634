"""The reception register (Sổ tiếp công dân, Mẫu số 03) as XLSX (openpyxl) and PDF (the same
rows through the document stylesheet), its twelve columns in the form's order."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from gettext import NullTranslations

import jinja2

from sessions import labels
from sessions.errors import N_
from sessions.register import RegisterRow
from web import documents
from web.i18n import show_date

COLUMNS = (
    N_("Row number"),
    N_("Date received"),
    N_("Full name, address"),
    N_("Identity number"),
    N_("Summary of the case"),
    N_("Type / number of people"),
    N_("Body that already handled it"),
    N_("Accepted (document)"),
    N_("Returned with guidance (document)"),
    N_("Transferred (document)"),
    N_("Follow-up"),
    N_("Notes"),
)
WIDTHS = (6, 12, 28, 16, 40, 16, 22, 18, 20, 18, 20, 14)


def cells(row: RegisterRow, translations: NullTranslations) -> list[object]:
    _ = translations.gettext
    follow = _(labels.label(row.status))
    if row.closed_on:
        follow += f" ({show_date(row.closed_on, 'vi')})"
    return [
        row.number,
        show_date(row.received_on, "vi"),
        row.who,
        row.id_number,
        row.summary,
        f"{_(labels.label(row.kind))} / {row.people}",
        row.handled_before,
        row.accepted,
        row.returned_or_guided,
        row.transferred,
        follow,
        row.reference,
    ]


def xlsx(
    rows: Sequence[RegisterRow],
    translations: NullTranslations,
    *,
    start: date,
    end: date,
    issuing_office: str,
) -> bytes:
    return table_xlsx(
        [cells(r, translations) for r in rows],
        translations,
        title=N_("RECEPTION REGISTER"),
        sheet_name=N_("Reception register"),
        columns=COLUMNS,
        widths=WIDTHS,
        start=start,
        end=end,
        issuing_office=issuing_office,
    )


def table_xlsx(
    rows: Sequence[Sequence[object]],
    translations: NullTranslations,
    *,
    title: str,
    sheet_name: str,
    columns: Sequence[str],
    widths: Sequence[int],
    start: date,
    end: date,
    issuing_office: str,
) -> bytes:
    """A register-like sheet: the office, the title, the range, numbered column heads, rows."""
    # Imported here: openpyxl costs the server ~9 MiB it only needs for an export.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    _ = translations.gettext
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _(sheet_name)[:31]
    sheet.append([issuing_office])
    sheet.append([_(title)])
    sheet.append(
        [
            _("From %(start)s to %(end)s")
            % {"start": show_date(start, "vi"), "end": show_date(end, "vi")}
        ]
    )
    sheet.append([])
    sheet.append([_(c) for c in columns])
    sheet.append([str(i) for i in range(1, len(columns) + 1)])
    bold = Font(bold=True)
    thin = Side(style="thin")
    for cell in sheet[5]:
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    sheet["A1"].font = bold
    sheet["A2"].font = Font(bold=True, size=14)
    for row in rows:
        sheet.append(list(row))
    for number, line in enumerate(sheet.iter_rows(min_row=5, max_row=sheet.max_row), start=5):
        for cell in line:
            cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
            if number > 6:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A7"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def html(
    env: jinja2.Environment,
    rows: Sequence[RegisterRow],
    translations: NullTranslations,
    *,
    start: date,
    end: date,
    letterhead: documents.Letterhead,
) -> str:
    return table_html(
        env,
        [cells(r, translations) for r in rows],
        translations,
        title=N_("RECEPTION REGISTER"),
        columns=COLUMNS,
        start=start,
        end=end,
        letterhead=letterhead,
    )


def table_html(
    env: jinja2.Environment,
    rows: Sequence[Sequence[object]],
    translations: NullTranslations,
    *,
    title: str,
    columns: Sequence[str],
    start: date,
    end: date,
    letterhead: documents.Letterhead,
) -> str:
    """The same table for the PDF, landscape, through the document stylesheet."""
    return env.get_template("documents/register.html").render(
        translations=translations,
        rows=rows,
        columns=columns,
        start=show_date(start, "vi"),
        end=show_date(end, "vi"),
        issuing_body=letterhead.issuing_body,
        issuing_office=letterhead.issuing_office,
        css_url=documents.CSS.as_uri(),
        number=None,
        dated=None,
        screen=False,
        sha256=None,
        title=translations.gettext(title),
    )
