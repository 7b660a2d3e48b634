"""The case register: list, intake form, detail, parties."""

from __future__ import annotations

import hashlib
import os

from aiohttp import web

from recordings.store import sha256_file
from sessions import (
    audit,
    cases,
    deadlines,
    delegations,
    handling,
    labels,
    minutes,
    proposals,
    sites,
    timeline,
)
from sessions.enums import (
    CaseStatus,
    CaseType,
    CompetentLevel,
    ComplaintInstance,
)
from sessions.errors import N_, Conflict, InvalidInput, NotFound
from sessions.ids import MAX_ID
from sessions.models import Case, Site
from sessions.permissions import Action
from web import casefile
from web.auth import current_user, db_of, principal_of, requires
from web.forms import FormData, form_flags, form_text, form_values
from web.keys import CLOCK, RENDERER, SETTINGS, STORE, TEMPLATES, TRANSLATIONS, VAULT
from web.paging import Page, enum_param, int_param, optional_date_param, path_id
from web.templating import redirect_with_flash, render
from web.uploads import read_upload

routes = web.RouteTableDef()
PAGE_SIZE = 25


@routes.get("/cases", name="cases")
@requires(Action.CASE_LIST)
async def case_list(request: web.Request) -> web.StreamResponse:
    q = request.query
    settings = request.app[SETTINGS]
    flt = cases.CaseFilter(
        text=q.get("q", "")[:100],
        status=enum_param(CaseStatus, q.get("status")),
        case_type=enum_param(CaseType, q.get("type")),
        flag=q.get("flag") if q.get("flag") in cases.FLAG_NAMES else None,
        commune_id=int_param(q.get("commune"), default=0, maximum=MAX_ID) or None,
        received_from=optional_date_param(q.get("from")),
        received_to=optional_date_param(q.get("to")),
        due=q.get("due") if q.get("due") in ("overdue", "due_soon") else None,
        today=request.app[CLOCK].now().astimezone(settings.zone).date(),
        due_soon_days=settings.due_soon_days,
    )
    page_number = int_param(q.get("page"), default=1, minimum=1)
    rows, total = await cases.list_cases(
        db_of(request),
        flt,
        visible=principal_of(request).case_clause(Action.CASE_LIST),
        limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "cases/list.html",
        {
            "cases": rows,
            "filter": flt,
            "page": Page(page_number, PAGE_SIZE, total),
            "statuses": list(CaseStatus),
            "types": list(CaseType),
            "flag_names": cases.FLAG_NAMES,
            "query_string": request.query_string,
        },
    )


async def _communes(request: web.Request) -> list[Site]:
    return await sites.listed(db_of(request), sites.COMMUNE_KINDS)


async def _intake_form(
    request: web.Request,
    values: dict[str, str],
    errors: dict[str, str],
    flags: frozenset[str],
    status: int,
    editing: Case | None = None,
) -> web.StreamResponse:
    return render(
        request,
        "cases/new.html",
        {
            "editing": editing,
            "revisions": await cases.revisions_of(db_of(request), editing.id) if editing else [],
            "field_labels": labels.CASE_FIELD_LABELS,
            "values": values,
            "errors": errors,
            "chosen_flags": flags,
            "types": list(CaseType),
            "instances": list(ComplaintInstance),
            "levels": list(CompetentLevel),
            "communes": await _communes(request),
            "flag_names": cases.FLAG_NAMES,
        },
        status=status,
    )


@routes.get("/cases/new", name="case_new")
@requires(Action.CASE_CREATE)
async def case_new(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    today = request.app[CLOCK].now().astimezone(settings.zone).date()
    return await _intake_form(request, {"received_on": today.isoformat()}, {}, frozenset(), 200)


@routes.post("/cases/new")
@requires(Action.CASE_CREATE)
async def case_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    flags = form_flags(form, "flags")
    draft = cases.CaseDraft(
        title=form_text(form, "title"),
        summary=form_text(form, "summary"),
        case_type=form_text(form, "case_type"),
        complaint_instance=form_text(form, "complaint_instance"),
        received_on=form_text(form, "received_on"),
        competent_level=form_text(form, "competent_level"),
        origin_site_id=form_text(form, "origin_site_id"),
        crowd_size=form_text(form, "crowd_size"),
        flags=flags,
        handled_before=form_text(form, "handled_before"),
    )
    try:
        case = await cases.create_case(
            db_of(request),
            draft,
            at=now,
            today=now.astimezone(settings.zone).date(),
            actor_id=current_user(request).id,
            crowd_threshold=settings.crowd_threshold,
            unit_site_id=current_user(request).site_id,
            calendar=await deadlines.load_calendar(db_of(request)),
            rules=deadlines.rules_of(settings),
        )
    except InvalidInput as exc:
        return await _intake_form(request, form_values(form), exc.field_errors, flags, 400)
    raise redirect_with_flash(f"/cases/{case.id}", "case_created")


async def _detail(
    request: web.Request,
    case_id: int,
    *,
    party_values: dict[str, str] | None = None,
    party_errors: dict[str, str] | None = None,
    party_params: dict[str, dict[str, object]] | None = None,
    party_problem: tuple[str, dict[str, object]] | None = None,
    handling_values: dict[str, str] | None = None,
    handling_errors: dict[str, str] | None = None,
    handling_params: dict[str, dict[str, object]] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    case = await cases.get_case(db_of(request), case_id)
    principal_of(request).require(Action.CASE_VIEW, case)
    return render(
        request,
        "cases/detail.html",
        {
            "case": case,
            "party_roles": cases.roles_for(case),
            "party_problem": party_problem,
            "minutes_of": await minutes.for_meetings(db_of(request), [m.id for m in case.meetings]),
            "timeline": await timeline.timeline_of(
                db_of(request), case, request.app[SETTINGS].zone
            ),
            "proposals": await proposals.of_case(db_of(request), case.id),
            "delegations": await delegations.of_case(db_of(request), case.id),
            "documents": await cases.documents_of(db_of(request), case.id),
            "may_propose": proposals.eligible(case),
            "proposal_labels": labels.PROPOSAL_LABELS,
            "deadline_labels": labels.DEADLINE_LABELS,
            "next_steps": handling.allowed_from(case.status),
            "due_state": deadlines.state_of(
                case.due_on,
                request.app[CLOCK].now().astimezone(request.app[SETTINGS].zone).date(),
                deadlines.rules_of(request.app[SETTINGS]),
            ),
            "can_extend": case.case_type is CaseType.DENUNCIATION
            and case.accepted_on is not None
            and case.extensions < deadlines.MAX_DENUNCIATION_EXTENSIONS
            and case.status not in deadlines.CLOSED,
            "handling_values": handling_values or {},
            "handling_errors": handling_errors or {},
            "handling_params": handling_params or {},
            "values": party_values or {},
            "errors": party_errors or {},
            "error_params": party_params or {},
        },
        status=status,
    )


@routes.get("/cases/{case_id:\\d+}", name="case")
@requires(Action.CASE_VIEW)
async def case_detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request, path_id(request, "case_id"))


@routes.post("/cases/{case_id:\\d+}/parties")
@requires(Action.CASE_EDIT)
async def party_add(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_EDIT)
    case_id = case.id
    form = await request.post()
    try:
        await cases.add_party(
            db_of(request),
            case,
            _party_draft(form),
            vault=request.app[VAULT],
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _detail(
            request,
            case_id,
            party_values=form_values(form),
            party_errors=exc.field_errors,
            party_params=exc.field_params,
            status=400,
        )
    raise redirect_with_flash(f"/cases/{case_id}#parties", "party_added")


async def _case_for(request: web.Request, action: Action) -> Case:
    """The case of the URL, if the principal may ``action`` it."""
    case = await cases.get_case(db_of(request), path_id(request, "case_id"))
    principal_of(request).require(action, case)
    return case


def _case_draft(form: FormData) -> cases.CaseDraft:
    return cases.CaseDraft(
        title=form_text(form, "title"),
        summary=form_text(form, "summary"),
        case_type=form_text(form, "case_type"),
        complaint_instance=form_text(form, "complaint_instance"),
        received_on=form_text(form, "received_on"),
        competent_level=form_text(form, "competent_level"),
        origin_site_id=form_text(form, "origin_site_id"),
        crowd_size=form_text(form, "crowd_size"),
        flags=form_flags(form, "flags"),
        handled_before=form_text(form, "handled_before"),
    )


@routes.get("/cases/{case_id:\\d+}/edit", name="case_edit")
@requires(Action.CASE_EDIT)
async def case_edit_form(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_EDIT)
    values = {
        "title": case.title,
        "summary": case.summary,
        "case_type": case.case_type.value,
        "complaint_instance": case.complaint_instance.value if case.complaint_instance else "",
        "received_on": case.received_on.isoformat(),
        "competent_level": case.competent_level.value,
        "origin_site_id": str(case.origin_site_id or ""),
        "crowd_size": str(case.crowd_size or ""),
        "handled_before": case.handled_before or "",
    }
    return await _intake_form(request, values, {}, frozenset(case.flags), 200, editing=case)


@routes.post("/cases/{case_id:\\d+}/edit")
@requires(Action.CASE_EDIT)
async def case_edit(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_EDIT)
    form = await request.post()
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    db = db_of(request)
    try:
        await cases.edit_case(
            db,
            case,
            _case_draft(form),
            at=now,
            today=now.astimezone(settings.zone).date(),
            actor_id=current_user(request).id,
            crowd_threshold=settings.crowd_threshold,
            calendar=await deadlines.load_calendar(db),
            rules=deadlines.rules_of(settings),
        )
    except InvalidInput as exc:
        return await _intake_form(
            request, form_values(form), exc.field_errors, form_flags(form, "flags"), 400, case
        )
    raise redirect_with_flash(f"/cases/{case.id}", "case_edited")


def _party_draft(form: FormData) -> cases.PartyDraft:
    return cases.PartyDraft(
        role=form_text(form, "role"),
        full_name=form_text(form, "full_name"),
        address=form_text(form, "address"),
        id_number=form_text(form, "id_number"),
        phone=form_text(form, "phone"),
        represents_id=form_text(form, "represents_id"),
        appointment_document=form_text(form, "appointment_document"),
    )


async def _party_page(
    request: web.Request,
    case_id: int,
    party_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    params: dict[str, dict[str, object]] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    case = await cases.get_case(db_of(request), case_id)
    principal_of(request).require(Action.CASE_EDIT, case)
    party = cases.party_of(case, party_id)
    shown = values or {
        "role": party.role.value,
        "full_name": party.full_name or "",  # a denouncer's identity is never prefilled
        "address": party.address or "",
        "id_number": party.id_number or "",
        "phone": party.phone or "",
        "represents_id": str(party.represents_id or ""),
        "appointment_document": party.appointment_document or "",
    }
    return render(
        request,
        "cases/party.html",
        {
            "case": case,
            "party": party,
            "party_roles": cases.roles_for(case),
            "values": shown,
            "errors": errors or {},
            "error_params": params or {},
        },
        status=status,
    )


@routes.get("/cases/{case_id:\\d+}/parties/{party_id:\\d+}", name="case_party")
@requires(Action.CASE_EDIT)
async def party_page(request: web.Request) -> web.StreamResponse:
    return await _party_page(request, path_id(request, "case_id"), path_id(request, "party_id"))


@routes.post("/cases/{case_id:\\d+}/parties/{party_id:\\d+}")
@requires(Action.CASE_EDIT)
async def party_edit(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_EDIT)
    case_id, party_id = case.id, path_id(request, "party_id")
    party = cases.party_of(case, party_id)
    form = await request.post()
    try:
        await cases.edit_party(
            db_of(request),
            case,
            party,
            _party_draft(form),
            vault=request.app[VAULT],
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _party_page(
            request,
            case_id,
            party_id,
            values=form_values(form),
            errors=exc.field_errors,
            params=exc.field_params,
            status=400,
        )
    raise redirect_with_flash(f"/cases/{case_id}#parties", "party_changed")


@routes.post("/cases/{case_id:\\d+}/parties/{party_id:\\d+}/remove")
@requires(Action.CASE_EDIT)
async def party_remove(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_EDIT)
    case_id = case.id
    party = cases.party_of(case, path_id(request, "party_id"))
    try:
        await cases.remove_party(
            db_of(request),
            case,
            party,
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except Conflict as exc:
        return await _detail(
            request, case_id, party_problem=(exc.message, dict(exc.params)), status=409
        )
    raise redirect_with_flash(f"/cases/{case_id}#parties", "party_removed")


async def _identity_page(
    request: web.Request,
    case_id: int,
    party_id: int,
    *,
    identity: object = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    db = db_of(request)
    case = await cases.get_case(db, case_id)
    principal_of(request).require(Action.VAULT_READ, case)
    party = next((p for p in case.parties if p.id == party_id and p.is_protected), None)
    if party is None:
        raise NotFound(N_("This case has no protected person with that number."))
    return render(
        request,
        "cases/identity.html",
        {
            "case": case,
            "party": party,
            "identity": identity,
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


@routes.get("/cases/{case_id:\\d+}/parties/{party_id:\\d+}/identity", name="case_identity")
@requires(Action.VAULT_READ)
async def identity_form(request: web.Request) -> web.StreamResponse:
    return await _identity_page(request, path_id(request, "case_id"), path_id(request, "party_id"))


@routes.post("/cases/{case_id:\\d+}/parties/{party_id:\\d+}/identity")
@requires(Action.VAULT_READ)
async def identity_open(request: web.Request) -> web.StreamResponse:
    case_id, party_id = path_id(request, "case_id"), path_id(request, "party_id")
    db = db_of(request)
    case = await cases.get_case(db, case_id)
    principal_of(request).require(Action.VAULT_READ, case)
    form = await request.post()
    try:
        identity = await cases.open_identity(
            db,
            request.app[VAULT],
            case,
            party_id,
            form_text(form, "reason"),
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _identity_page(
            request,
            case_id,
            party_id,
            errors=exc.field_errors,
            values=form_values(form),
            status=400,
        )
    return await _identity_page(request, case_id, party_id, identity=identity)


@routes.get("/cases/{case_id:\\d+}/file", name="case_file")
@requires(Action.CASE_EXPORT)
async def case_file(request: web.Request) -> web.StreamResponse:
    """The case file as one archive with a signed index (``?media=0``: recordings replaced by
    their signed manifests, for a light copy)."""
    case = await _case_for(request, Action.CASE_EXPORT)
    settings = request.app[SETTINGS]
    with_media = request.query.get("media", "1") != "0"
    now = request.app[CLOCK].now()
    folder = settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"ho-so-{case.reference}-{now:%Y%m%d-%H%M%S}.zip"
    target = folder / name
    files = await casefile.export(
        db_of(request),
        case,
        target,
        store=request.app[STORE],
        settings=settings,
        env=request.app[TEMPLATES],
        translations=request.app[TRANSLATIONS]["vi"],
        with_media=with_media,
        renderer=request.app[RENDERER],
        at=now,
    )
    await audit.record(
        db_of(request),
        now,
        current_user(request).id,
        "case.export",
        "case",
        case.id,
        {"files": files, "media": with_media, "sha256": sha256_file(target)[0]},
    )
    await db_of(request).commit()
    response = web.FileResponse(
        target,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Type": "application/zip",
            "Cache-Control": "no-store",
        },
    )
    try:
        await response.prepare(request)  # sends the whole file
    finally:
        target.unlink(missing_ok=True)  # the archive is made for this download only
    return response


@routes.post("/cases/{case_id:\\d+}/status", name="case_status")
@requires(Action.CASE_EDIT)
async def case_status(request: web.Request) -> web.StreamResponse:
    """The next step of the case's handling, with its date, document and decider."""
    case = await _case_for(request, Action.CASE_EDIT)
    form = await request.post()
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    db = db_of(request)
    try:
        if form_text(form, "extend") == "1":
            await handling.extend(
                db,
                case,
                on_raw=form_text(form, "on"),
                document_number=form_text(form, "document_number"),
                today=now.astimezone(settings.zone).date(),
                at=now,
                actor_id=current_user(request).id,
                calendar=await deadlines.load_calendar(db),
                rules=deadlines.rules_of(settings),
            )
        else:
            await handling.change_status(
                db,
                case,
                form_text(form, "status"),
                on_raw=form_text(form, "on"),
                document_number=form_text(form, "document_number"),
                decided_by=form_text(form, "decided_by"),
                note=form_text(form, "note"),
                today=now.astimezone(settings.zone).date(),
                at=now,
                actor_id=current_user(request).id,
                calendar=await deadlines.load_calendar(db),
                rules=deadlines.rules_of(settings),
            )
    except InvalidInput as exc:
        return await _detail(
            request,
            case.id,
            handling_values=form_values(form),
            handling_errors=exc.field_errors,
            handling_params=exc.field_params,
            status=400,
        )
    raise redirect_with_flash(f"/cases/{case.id}#handling", "case_status_changed")


@routes.post("/cases/{case_id:\\d+}/proposals", name="case_proposal_draft")
@requires(Action.CASE_EDIT)
async def proposal_draft(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_EDIT)
    form = await request.post()
    db = db_of(request)
    try:
        proposal = await proposals.draft(
            db,
            case,
            form_text(form, "text"),
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
        if form_text(form, "submit") == "1":
            await proposals.submit(
                db, case, proposal, at=request.app[CLOCK].now(), actor_id=current_user(request).id
            )
    except InvalidInput as exc:
        message = next(iter(exc.field_errors.values()))
        raise Conflict(message, next(iter(exc.field_params.values()), {})) from exc
    raise redirect_with_flash(f"/cases/{case.id}#proposals", "proposal_saved")


@routes.post(
    "/cases/{case_id:\\d+}/proposals/{proposal_id:\\d+}/submit", name="case_proposal_submit"
)
@requires(Action.CASE_EDIT)
async def proposal_submit(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_EDIT)
    db = db_of(request)
    proposal = await proposals.get(db, case, path_id(request, "proposal_id"))
    await proposals.submit(
        db, case, proposal, at=request.app[CLOCK].now(), actor_id=current_user(request).id
    )
    raise redirect_with_flash(f"/cases/{case.id}#proposals", "proposal_submitted")


@routes.post(
    "/cases/{case_id:\\d+}/proposals/{proposal_id:\\d+}/decide", name="case_proposal_decide"
)
@requires(Action.PROPOSAL_DECIDE)
async def proposal_decide(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.PROPOSAL_DECIDE)
    db = db_of(request)
    proposal = await proposals.get(db, case, path_id(request, "proposal_id"))
    form = await request.post()
    try:
        await proposals.decide(
            db,
            case,
            proposal,
            approve=form_text(form, "decision") == "approve",
            instructions=form_text(form, "instructions"),
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        raise Conflict(next(iter(exc.field_errors.values()))) from exc
    raise redirect_with_flash(f"/cases/{case.id}#proposals", "proposal_decided")


@routes.post("/cases/{case_id:\\d+}/documents", name="case_document_upload")
@requires(Action.CASE_EDIT)
async def document_upload(request: web.Request) -> web.StreamResponse:
    """A document filed with the case: PDF, PNG or JPEG told by its content, at most 20 MB."""
    case = await _case_for(request, Action.CASE_EDIT)
    fields, data = await read_upload(request, "document", minutes.MAX_SCAN_BYTES)
    try:
        content_type, extension = minutes.scan_kind(data)
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{case.reference}/{digest[:16]}{extension}"
        await cases.add_document(
            db_of(request),
            case,
            title=fields.get("title", ""),
            relative_path=relative,
            content_type=content_type,
            data=data,
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        raise Conflict(
            next(iter(exc.field_errors.values())), next(iter(exc.field_params.values()), {})
        ) from exc
    target = request.app[SETTINGS].data_dir / "cases" / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not target.exists():
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    raise redirect_with_flash(f"/cases/{case.id}#documents", "document_added")


@routes.get("/cases/{case_id:\\d+}/documents/{document_id:\\d+}", name="case_document")
@requires(Action.CASE_VIEW)
async def document_file(request: web.Request) -> web.StreamResponse:
    case = await _case_for(request, Action.CASE_VIEW)
    document_id = path_id(request, "document_id")
    found = next(
        (d for d in await cases.documents_of(db_of(request), case.id) if d.id == document_id), None
    )
    if found is None:
        raise NotFound(N_("This case has no such document."))
    path = request.app[SETTINGS].data_dir / "cases" / found.relative_path
    if not path.exists():
        raise NotFound(N_("The document's file is missing; tell the administrator."))
    await audit.record(
        db_of(request),
        request.app[CLOCK].now(),
        current_user(request).id,
        "case.document_read",
        "case",
        case.id,
        {"document": found.id},
    )
    return web.Response(
        body=path.read_bytes(),
        content_type=found.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{case.reference}_{path.name}"',
            "Cache-Control": "no-store",
        },
    )
