"""The inspector's view of who opened a denouncer's identity, and why."""

from __future__ import annotations

from aiohttp import web

from sessions import audit
from sessions.permissions import Action
from web.auth import db_of, requires
from web.templating import render

routes = web.RouteTableDef()


@routes.get("/audit/vault", name="audit_vault")
@requires(Action.AUDIT_READ)
async def vault_reads(request: web.Request) -> web.StreamResponse:
    reads = await audit.vault_reads(db_of(request))
    return render(
        request,
        "audit_vault.html",
        {
            "reads": [
                {
                    "at": read.at,
                    "who": read.who or "—",
                    "case": read.case_reference or read.case_id,
                    "case_id": read.case_id,
                    "person": read.details.get("pseudonym") or "—",
                    "reason": read.details.get("reason", ""),
                }
                for read in reads
            ]
        },
    )
