"""The Chairman's view of the register: counts by commune, type and flag, overdue and due soon,
crowd delegations, for an election period and a commune; every number opens its cases."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from sessions import cases, labels, register, sites
from sessions.errors import N_
from sessions.ids import MAX_ID
from sessions.permissions import Action
from web.auth import db_of, principal_of, requires
from web.keys import CLOCK, SETTINGS
from web.paging import int_param
from web.templating import render

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
