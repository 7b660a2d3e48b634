"""The Chairman's view of the register: counts by commune, type and flag, overdue and due soon,
crowd delegations, for an election period and a commune; every number opens its cases."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from sessions import audit, cases, deadlines, labels, proposals, register, sites
from sessions.errors import N_, BadRequest, InvalidInput
from sessions.ids import MAX_ID
from sessions.permissions import Action
from web import documents, registers
from web.auth import current_user, db_of, principal_of, requires
from web.forms import form_text, form_values
from web.keys import CLOCK, RENDERER, SETTINGS, TEMPLATES, TRANSLATIONS
from web.paging import date_param, int_param
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()


@routes.get("/overview", name="overview")
@requires(Action.CASE_LIST)
async def overview_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    db = db_of(request)
    q = request.query
    periods = {p.name: p for p in settings.election_periods}
    period = periods.get(q.get("period", ""))
    commune_id = int_param(q.get("commune"), default=0, maximum=MAX_ID) or None
    scope = register.Scope(
        start=period.start if period else None,
        end=period.end if period else None,
        commune_id=commune_id,
    )
    today = request.app[CLOCK].now().astimezone(settings.zone).date()
    numbers = await register.overview(
        db,
        scope,
        visible=principal_of(request).case_clause(Action.CASE_LIST),
        today=today,
        due_soon_days=settings.due_soon_days,
        zone=settings.zone,
    )
    year = int_param(q.get("year"), default=today.year, minimum=2000, maximum=2200)
    quarter = int_param(q.get("quarter"), default=(today.month - 1) // 3 + 1, minimum=1, maximum=4)
    counts = await register.quarter_counts(
        db,
        year,
        quarter,
        visible=principal_of(request).case_clause(Action.CASE_LIST),
        zone=settings.zone,
    )
    pending = await proposals.pending(db, principal_of(request).case_clause(Action.CASE_LIST))
    base = {
        "from": scope.start.isoformat() if scope.start else "",
        "to": scope.end.isoformat() if scope.end else "",
        "commune": str(commune_id or ""),
    }

    def cases_url(**more: str) -> str:
        """The case list behind a number: the same period and commune, and ``more``."""
        return "/cases?" + urlencode({k: v for k, v in {**base, **more}.items() if v})

    return render(
        request,
        "overview.html",
        {
            "numbers": numbers,
            "periods": settings.election_periods,
            "period": period,
            "commune_id": commune_id,
            "communes": await sites.listed(db, sites.COMMUNE_KINDS),
            "cases_url": cases_url,
            "today": today,
            "counts": counts,
            "pending": pending,
            "year": year,
            "quarter": quarter,
            "period_labels": labels.PERIOD_LABELS,
            "flag_rows": [
                (labels.FLAG_LABELS[name], numbers.flags[name], cases_url(flag=name))
                for name in cases.FLAG_NAMES
            ],
            "type_rows": [
                (labels.label(kind), n, cases_url(type=kind.value)) for kind, n in numbers.by_type
            ],
            "commune_rows": [
                (name or N_("Not recorded"), n, cases_url(commune=str(site_id or "")))
                for site_id, name, n in numbers.by_commune
            ],
        },
    )


@routes.get("/register", name="register")
@requires(Action.CASE_LIST)
async def register_export(request: web.Request) -> web.StreamResponse:
    """The reception register for a date range, as XLSX or PDF (``?format=pdf``); audited."""
    settings = request.app[SETTINGS]
    today = request.app[CLOCK].now().astimezone(settings.zone).date()
    start = date_param(request.query.get("from"), default=today.replace(day=1))
    end = date_param(request.query.get("to"), default=today)
    if end < start:
        raise BadRequest(N_("The end of the range comes before its start."))
    db = db_of(request)
    rows = await register.register_rows(
        db, start, end, visible=principal_of(request).case_clause(Action.CASE_LIST)
    )
    vi = request.app[TRANSLATIONS]["vi"]
    as_pdf = request.query.get("format") == "pdf"
    if as_pdf:
        letterhead = documents.Letterhead(settings.issuing_body, settings.issuing_office)
        html = registers.html(
            request.app[TEMPLATES], rows, vi, start=start, end=end, letterhead=letterhead
        )
        body = await documents.pdf(html, request.app[RENDERER])
        content_type, extension = "application/pdf", "pdf"
    else:
        body = registers.xlsx(
            rows, vi, start=start, end=end, issuing_office=settings.issuing_office
        )
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        extension = "xlsx"
    await audit.record(
        db,
        request.app[CLOCK].now(),
        current_user(request).id,
        "register.export",
        "register",
        f"{start}..{end}",
        {"rows": len(rows), "format": extension},
    )
    await db.commit()
    name = f"so-tiep-cong-dan_{start:%Y%m%d}-{end:%Y%m%d}.{extension}"
    return web.Response(
        body=body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def _holidays_page(
    request: web.Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    today = request.app[CLOCK].now().astimezone(request.app[SETTINGS].zone).date()
    start, end = today.replace(month=1, day=1), today.replace(year=today.year + 1, month=12, day=31)
    return render(
        request,
        "holidays.html",
        {
            "days": await deadlines.holidays_between(db_of(request), start, end),
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


@routes.get("/holidays", name="holidays")
@requires(Action.HOLIDAY_MANAGE)
async def holidays_page(request: web.Request) -> web.StreamResponse:
    return await _holidays_page(request)


@routes.post("/holidays")
@requires(Action.HOLIDAY_MANAGE)
async def holidays_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await deadlines.add_holiday(
            db_of(request),
            form_text(form, "day"),
            form_text(form, "name"),
            working=form_text(form, "working") == "1",
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _holidays_page(
            request, errors=exc.field_errors, values=form_values(form), status=400
        )
    await deadlines.refresh_all(db_of(request), request.app[SETTINGS])
    raise redirect_with_flash("/holidays", "holiday_added")
