"""One search box over the cases and minutes a person may read."""

from __future__ import annotations

from aiohttp import web

from sessions import search
from sessions.permissions import Action
from web.auth import db_of, principal_of, requires
from web.templating import render

routes = web.RouteTableDef()
MAX_QUERY = 200


@routes.get("/search", name="search")
@requires(Action.CASE_LIST)
async def search_page(request: web.Request) -> web.StreamResponse:
    query = request.query.get("q", "")[:MAX_QUERY].strip()
    principal = principal_of(request)
    hits = (
        await search.search(
            db_of(request),
            query,
            cases_visible=principal.case_clause(Action.CASE_VIEW),
            meetings_visible=principal.meeting_clause(Action.MINUTES_VIEW),
        )
        if query
        else []
    )
    return render(request, "search.html", {"query": query, "hits": hits})
