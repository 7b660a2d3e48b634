"""The inspector's view of who opened a denouncer's identity, and why."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from sessions.models import AuditEvent, Case, User
from sessions.permissions import Action
from web.auth import db_of, requires
from web.templating import render

routes = web.RouteTableDef()


@routes.get("/audit/vault", name="audit_vault")
@requires(Action.AUDIT_READ)
async def vault_reads(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    rows = (
        await db.execute(
            select(AuditEvent, User.full_name, Case.reference)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .outerjoin(Case, Case.id == AuditEvent.object_id.cast(Case.id.type))
            .where(AuditEvent.action == "vault.read")
            .order_by(AuditEvent.seq.desc())
            .limit(500)
        )
    ).all()
    return render(
        request,
        "audit_vault.html",
        {
            "reads": [
                {
                    "at": event.at,
                    "who": who or "—",
                    "case": reference or event.object_id,
                    "case_id": event.object_id,
                    "person": event.details.get("pseudonym") or "—",
                    "reason": event.details.get("reason", ""),
                }
                for event, who, reference in rows
            ]
        },
    )
