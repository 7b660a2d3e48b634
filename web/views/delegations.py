"""Crowd delegations (đoàn đông người) and the working groups sent to receive them."""

from __future__ import annotations

from aiohttp import web

from sessions import delegations, labels, sites
from sessions.errors import InvalidInput
from sessions.models import CrowdDelegation
from sessions.permissions import Action
from web.auth import current_user, db_of, principal_of, requires
from web.forms import FormData, form_text, form_values
from web.keys import CLOCK, SETTINGS
from web.paging import path_id
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()


def _draft(form: FormData) -> delegations.DelegationDraft:
    return delegations.DelegationDraft(
        place=form_text(form, "place"),
        gathered_on=form_text(form, "gathered_on"),
        gathered_time=form_text(form, "gathered_time"),
        head_count=form_text(form, "head_count"),
        commune_ids=[v for v in form.getall("commune_ids", []) if isinstance(v, str)],
        case_references=form_text(form, "case_references"),
        representatives=form_text(form, "representatives"),
        group_members=form_text(form, "group_members"),
        group_authority=form_text(form, "group_authority"),
        outcome=form_text(form, "outcome") or "open",
        returned_home_on=form_text(form, "returned_home_on"),
        note=form_text(form, "note"),
    )


async def _page(
    request: web.Request,
    delegation: CrowdDelegation | None,
    *,
    values: dict[str, str] | None = None,
    chosen: list[str] | None = None,
    errors: dict[str, str] | None = None,
    params: dict[str, dict[str, object]] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    db = db_of(request)
    communes = await sites.listed(db, sites.COMMUNE_KINDS)
    if delegation is not None and values is None:
        local = delegation.gathered_at.astimezone(request.app[SETTINGS].zone)
        values = {
            "place": delegation.place,
            "gathered_on": local.date().isoformat(),
            "gathered_time": f"{local:%H:%M}",
            "head_count": str(delegation.head_count),
            "case_references": ", ".join(c.reference for c in delegation.cases),
            "representatives": delegation.representatives,
            "group_members": delegation.group_members,
            "group_authority": delegation.group_authority or "",
            "outcome": delegation.outcome,
            "returned_home_on": delegation.returned_home_on.isoformat()
            if delegation.returned_home_on
            else "",
            "note": delegation.note,
        }
        chosen = [str(i) for i in delegation.commune_ids]
    return render(
        request,
        "delegations.html",
        {
            "delegation": delegation,
            "recent": await delegations.recent(db) if delegation is None else [],
            "communes": communes,
            "names": {s.id: s.name for s in communes},
            "values": values or {},
            "chosen": chosen or [],
            "errors": errors or {},
            "error_params": params or {},
            "can_manage": principal_of(request).may(Action.DELEGATION_MANAGE),
            "place_labels": labels.DELEGATION_PLACES,
            "outcome_labels": labels.DELEGATION_OUTCOMES,
        },
        status=status,
    )


@routes.get("/delegations", name="delegations")
@requires(Action.DELEGATION_VIEW)
async def delegation_list(request: web.Request) -> web.StreamResponse:
    return await _page(request, None)


@routes.post("/delegations")
@requires(Action.DELEGATION_MANAGE)
async def delegation_record(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    try:
        delegation = await delegations.record(
            db_of(request),
            _draft(form),
            zone=settings.zone,
            today=now.astimezone(settings.zone).date(),
            at=now,
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _page(
            request,
            None,
            values=form_values(form),
            chosen=[v for v in form.getall("commune_ids", []) if isinstance(v, str)],
            errors=exc.field_errors,
            params=exc.field_params,
            status=400,
        )
    raise redirect_with_flash(f"/delegations/{delegation.id}", "delegation_saved")


@routes.get("/delegations/{delegation_id:\\d+}", name="delegation")
@requires(Action.DELEGATION_VIEW)
async def delegation_page(request: web.Request) -> web.StreamResponse:
    found = await delegations.get(db_of(request), path_id(request, "delegation_id"))
    return await _page(request, found)


@routes.post("/delegations/{delegation_id:\\d+}")
@requires(Action.DELEGATION_MANAGE)
async def delegation_update(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    found = await delegations.get(db, path_id(request, "delegation_id"))
    form = await request.post()
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    try:
        await delegations.update(
            db,
            found,
            _draft(form),
            zone=settings.zone,
            today=now.astimezone(settings.zone).date(),
            at=now,
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _page(
            request,
            found,
            values=form_values(form),
            chosen=[v for v in form.getall("commune_ids", []) if isinstance(v, str)],
            errors=exc.field_errors,
            params=exc.field_params,
            status=400,
        )
    raise redirect_with_flash(f"/delegations/{found.id}", "delegation_saved")
