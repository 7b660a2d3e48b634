"""The minutes of a meeting: the live editor (autosave, versions, conflicts shown, updates pushed
to every open page), read-back and signatures, finalising with the PDF/A stored and hashed,
amendments, and the documents (print view, PDF/A, DOCX)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from recordings import catalog
from sessions import audit, meetings, minutes, notices
from sessions.enums import MeetingStatus, MinutesStatus
from sessions.errors import N_, Conflict, InvalidInput, NotFound, PermissionDenied
from sessions.ids import parse_id
from sessions.models import ConclusionNotice, Meeting, Minutes, MinutesVersion
from sessions.permissions import Action
from web import documents, i18n, ui_strings
from web.auth import current_user, db_of, principal_of, requires
from web.forms import form_text
from web.keys import CLOCK, RENDERER, SETTINGS, TEMPLATES, TRANSLATIONS, WATCHERS
from web.paging import path_id
from web.templating import locale_of, redirect_with_flash, render, translations_of
from web.uploads import read_upload

routes = web.RouteTableDef()
HEARTBEAT_SECONDS = 15
MAX_BODY = 512 * 1024  # a save is JSON text; 20 pages of minutes are far below this


async def _meeting(request: web.Request, action: Action) -> Meeting:
    meeting = await meetings.get_meeting(db_of(request), path_id(request, "meeting_id"))
    principal_of(request).require(action, meeting)
    return meeting


async def _minutes(request: web.Request, meeting: Meeting) -> Minutes:
    found = await minutes.minutes_of(db_of(request), meeting.id)
    if found is None:
        raise NotFound(N_("This meeting has no minutes yet."))
    return found


def _letterhead(request: web.Request) -> documents.Letterhead:
    settings = request.app[SETTINGS]
    return documents.Letterhead(settings.issuing_body, settings.issuing_office)


def _state(
    request: web.Request, meeting: Meeting, found: Minutes, version: MinutesVersion
) -> dict[str, Any]:
    principal = principal_of(request)
    return {
        "version": version.version,
        "status": found.status.value,
        "content": version.content,
        "saved_at": version.created_at.isoformat(),
        "editable": found.status is not MinutesStatus.FINALISED
        and principal.allows(Action.MINUTES_WRITE, meeting),
    }


@routes.get("/meetings/{meeting_id:\\d+}/minutes", name="minutes")
@requires(Action.MINUTES_VIEW)
async def minutes_page(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    db = db_of(request)
    found = await minutes.minutes_of(db, meeting.id)
    version = await minutes.latest(db, found) if found else None
    principal = principal_of(request)
    return render(
        request,
        "minutes.html",
        {
            "meeting": meeting,
            "minutes": found,
            "version": version,
            "versions": found.versions if found else [],
            "state": json.dumps(
                _state(request, meeting, found, version), ensure_ascii=False
            ).replace("<", "\\u003c")
            if found and version
            else "",
            "can_write": principal.allows(Action.MINUTES_WRITE, meeting),
            "can_finalise": principal.allows(Action.MINUTES_FINALISE, meeting),
            "problems": minutes.finalising_problems(version.content) if version else {},
            "strings": ui_strings.strings_json(translations_of(request), locale_of(request)),
            "scans": await minutes.scans_of(db, found) if found else [],
            # Seconds of recording so far, for "said now" (the player's time line starts at
            # the first recorded file, or at the start of the meeting).
            "elapsed": await _elapsed(request, meeting),
            "MinutesStatus": MinutesStatus,
            "MeetingStatus": MeetingStatus,
        },
    )


async def _elapsed(request: web.Request, meeting: Meeting) -> float | None:
    if meeting.status is not MeetingStatus.LIVE:
        return None
    origin = await catalog.first_start(db_of(request), meeting.id) or meeting.started_at
    if origin is None:
        return None
    return max(0.0, (request.app[CLOCK].now() - origin).total_seconds())


@routes.post("/meetings/{meeting_id:\\d+}/minutes/start", name="minutes_start")
@requires(Action.MINUTES_WRITE)
async def minutes_start(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_WRITE)
    await minutes.start(
        db_of(request), meeting, at=request.app[CLOCK].now(), actor_id=current_user(request).id
    )
    raise web.HTTPSeeOther(f"/meetings/{meeting.id}/minutes")


@routes.get("/meetings/{meeting_id:\\d+}/minutes/state", name="minutes_state")
@requires(Action.MINUTES_VIEW)
async def minutes_state(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    found = await _minutes(request, meeting)
    version = await minutes.latest(db_of(request), found)
    return web.json_response(
        _state(request, meeting, found, version), headers={"Cache-Control": "no-store"}
    )


@routes.post("/meetings/{meeting_id:\\d+}/minutes/save", name="minutes_save")
@requires(Action.MINUTES_WRITE)
async def minutes_save(request: web.Request) -> web.StreamResponse:
    """JSON ``{base_version, content}``: 200 with the new version, 409 with the version saved
    meanwhile (nothing overwritten), 400 with the fields to correct (nothing saved)."""
    meeting = await _meeting(request, Action.MINUTES_WRITE)
    found = await _minutes(request, meeting)
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _json_error(request, 413, N_("The minutes are too long to save at once."))
    try:
        body = await request.json()
        base = int(body["base_version"])
        content = body["content"]
        if not isinstance(content, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _json_error(request, 400, N_("The minutes could not be read; reload the page."))
    db = db_of(request)
    try:
        version = await minutes.save(
            db,
            meeting,
            found,
            content,
            base_version=base,
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except minutes.EditConflict as exc:
        return web.json_response(
            {
                "conflict": True,
                "message": i18n.render_message(translations_of(request), exc.message, exc.params),
                "current": _state(request, meeting, found, exc.current),
            },
            status=409,
        )
    except InvalidInput as exc:
        return _json_field_errors(request, exc)
    await db.commit()
    request.app[WATCHERS].changed(meeting.id, version.version)
    return web.json_response(_state(request, meeting, found, version))


def _json_field_errors(request: web.Request, exc: InvalidInput) -> web.Response:
    translations = translations_of(request)
    return web.json_response(
        {
            "errors": {
                name: i18n.render_field_error(translations, message, exc.field_params.get(name))
                for name, message in exc.field_errors.items()
            }
        },
        status=400,
    )


def _minutes_html(request: web.Request, version: MinutesVersion, *, screen: bool) -> str:
    return documents.minutes_html(
        request.app[TEMPLATES],
        version,
        translations=request.app[TRANSLATIONS]["vi"],
        zone=request.app[SETTINGS].zone,
        letterhead=_letterhead(request),
        sha256=version.sha256,
        screen=screen,
    )


def _json_error(request: web.Request, status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": i18n.render_message(translations_of(request), message)}, status=status
    )


@routes.get("/meetings/{meeting_id:\\d+}/minutes/events", name="minutes_events")
@requires(Action.MINUTES_VIEW)
async def minutes_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``version`` each time someone saves (and a heartbeat)."""
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    meeting_id = meeting.id
    await db_of(request).commit()  # hold no transaction open for as long as the page stays
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    with request.app[WATCHERS].watch(meeting_id) as queue:
        await response.write(b": watching\n\n")
        while True:
            try:
                version = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": still here\n\n")
                continue
            except asyncio.CancelledError:
                break
            try:
                await response.write(f"event: version\ndata: {version}\n\n".encode())
            except (ConnectionResetError, RuntimeError):
                break
    return response


@routes.post("/meetings/{meeting_id:\\d+}/minutes/finalise", name="minutes_finalise")
@requires(Action.MINUTES_FINALISE)
async def minutes_finalise(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_FINALISE)
    found = await _minutes(request, meeting)
    db = db_of(request)
    version = await minutes.latest(db, found)
    problems = minutes.finalising_problems(version.content)
    if problems or meeting.status is not MeetingStatus.ENDED:
        # The reasons are listed on the page the button is on.
        if meeting.status is not MeetingStatus.ENDED:
            raise Conflict(N_("Minutes are finalised after the meeting has ended."))
        raise Conflict(N_("The minutes cannot be finalised yet: see what is missing."))
    settings = request.app[SETTINGS]
    pdf = await documents.pdf(_minutes_html(request, version, screen=False), request.app[RENDERER])
    digest = hashlib.sha256(pdf).hexdigest()
    _store_pdf(settings.data_dir, meeting, version.version, pdf)
    await minutes.finalise(
        db,
        meeting,
        found,
        pdf_sha256=digest,
        at=request.app[CLOCK].now(),
        actor_id=current_user(request).id,
    )
    raise redirect_with_flash(f"/meetings/{meeting.id}/minutes", "minutes_finalised")


def pdf_path(data_dir: Path, meeting: Meeting, version: int) -> Path:
    return data_dir / "minutes" / meeting.reference / f"bien-ban-v{version}.pdf"


def _store_pdf(data_dir: Path, meeting: Meeting, version: int, pdf: bytes) -> None:
    """The PDF/A as finalised, written once (0600), never replaced."""
    path = pdf_path(data_dir, meeting, version)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pdf)


@routes.post("/meetings/{meeting_id:\\d+}/minutes/amend", name="minutes_amend")
@requires(Action.MINUTES_FINALISE)
async def minutes_amend(request: web.Request) -> web.StreamResponse:
    """JSON ``{content, reason}``: a correction of finalised minutes, as a new version."""
    meeting = await _meeting(request, Action.MINUTES_FINALISE)
    found = await _minutes(request, meeting)
    try:
        body = await request.json()
        content, reason = body["content"], str(body.get("reason", ""))
        if not isinstance(content, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _json_error(request, 400, N_("The minutes could not be read; reload the page."))
    db = db_of(request)
    try:
        version = await minutes.amend(
            db,
            meeting,
            found,
            content,
            reason=reason,
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return _json_field_errors(request, exc)
    await db.commit()
    request.app[WATCHERS].changed(meeting.id, version.version)
    return web.json_response(_state(request, meeting, found, version))


async def _version(request: web.Request, meeting: Meeting) -> tuple[Minutes, MinutesVersion]:
    found = await _minutes(request, meeting)
    wanted = request.query.get("version")
    if wanted is None:
        return found, await minutes.latest(db_of(request), found)
    number = int(wanted) if wanted.isdigit() else -1
    version = next((v for v in found.versions if v.version == number), None)
    if version is None:
        raise NotFound(N_("There is no such version of the minutes."))
    return found, version


@routes.get("/meetings/{meeting_id:\\d+}/minutes/print", name="minutes_print")
@requires(Action.MINUTES_VIEW)
async def minutes_print(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    _, version = await _version(request, meeting)
    return web.Response(text=_minutes_html(request, version, screen=True), content_type="text/html")


@routes.get("/meetings/{meeting_id:\\d+}/minutes.pdf", name="minutes_pdf")
@requires(Action.MINUTES_VIEW)
async def minutes_pdf(request: web.Request) -> web.StreamResponse:
    """The finalised PDF/A as it was stored when locked; a draft or an amendment is rendered
    now (marked with its version)."""
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    _, version = await _version(request, meeting)
    settings = request.app[SETTINGS]
    stored = pdf_path(settings.data_dir, meeting, version.version)
    if version.kind == "final" and stored.exists():
        body = stored.read_bytes()
    else:
        body = await documents.pdf(
            _minutes_html(request, version, screen=False), request.app[RENDERER]
        )
    await _audit_download(request, meeting, "pdf", version.version)
    return _download(body, "application/pdf", _file_name(meeting, version, "pdf"))


@routes.get("/meetings/{meeting_id:\\d+}/minutes.docx", name="minutes_docx")
@requires(Action.MINUTES_VIEW)
async def minutes_docx(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    _, version = await _version(request, meeting)
    body = await documents.docx(
        version,
        request.app[TRANSLATIONS]["vi"],
        request.app[SETTINGS].zone,
        _letterhead(request),
    )
    await _audit_download(request, meeting, "docx", version.version)
    return _download(
        body,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _file_name(meeting, version, "docx"),
    )


def _file_name(meeting: Meeting, version: MinutesVersion, extension: str) -> str:
    case = meeting.case.reference if meeting.case else "chua-gan-vu-viec"
    return f"{case}_{meeting.reference}_bien-ban-v{version.version}.{extension}"


def _download(body: bytes, content_type: str, name: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def _audit_download(request: web.Request, meeting: Meeting, kind: str, version: int) -> None:
    await audit.record(
        db_of(request),
        request.app[CLOCK].now(),
        current_user(request).id,
        "minutes.download",
        "meeting",
        meeting.id,
        {"format": kind, "version": version},
    )
    await db_of(request).commit()


# ---- scanned signed copies -------------------------------------------------------------


@routes.post("/meetings/{meeting_id:\\d+}/minutes/scans", name="minutes_scan_upload")
@requires(Action.MINUTES_WRITE)
async def scan_upload(request: web.Request) -> web.StreamResponse:
    """A scanned signed copy from one endpoint: checked by its content (PDF, PNG or JPEG),
    at most 20 MB, hashed, stored once; read as a stream (it may exceed the form limit)."""
    meeting = await _meeting(request, Action.MINUTES_WRITE)
    found = await _minutes(request, meeting)
    fields, data = await read_upload(request, "scan", minutes.MAX_SCAN_BYTES)
    site_raw = fields.get("site_id", "")[:20]
    settings = request.app[SETTINGS]
    try:
        content_type, extension = minutes.scan_kind(data)
        site_id = parse_id(site_raw) if site_raw else None
        digest = hashlib.sha256(data).hexdigest()[:12]
        relative = f"{meeting.reference}/scans/{site_id or 'chung'}-{digest}{extension}"
        await minutes.record_scan(
            db_of(request),
            meeting,
            found,
            site_id=site_id,
            relative_path=relative,
            content_type=content_type,
            data=data,
            at=request.app[CLOCK].now(),
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        message = next(iter(exc.field_errors.values()))
        params = next(iter(exc.field_params.values()), {})
        raise Conflict(message, params) from exc
    target = settings.data_dir / "minutes" / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):  # the same scan twice: one file
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    raise redirect_with_flash(f"/meetings/{meeting.id}/minutes#scans-h", "scan_added")


@routes.get("/meetings/{meeting_id:\\d+}/minutes/scans/{scan_id:\\d+}", name="minutes_scan")
@requires(Action.MINUTES_VIEW)
async def scan_file(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    found = await _minutes(request, meeting)
    scan_id = path_id(request, "scan_id")
    scan = next((s for s in await minutes.scans_of(db_of(request), found) if s.id == scan_id), None)
    if scan is None:
        raise NotFound(N_("There is no such scan."))
    path = request.app[SETTINGS].data_dir / "minutes" / scan.relative_path
    if not path.exists():
        raise NotFound(N_("The scanned file is missing; tell the administrator."))
    await _audit_download(request, meeting, "scan", scan.id)
    return _download(path.read_bytes(), scan.content_type, Path(scan.relative_path).name)


# ---- the conclusion notice ----------------------------------------------------------------


async def _notice_page(
    request: web.Request,
    meeting: Meeting,
    *,
    errors: dict[str, str] | None = None,
    params: dict[str, dict[str, object]] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    notice = await notices.notice_of(db_of(request), meeting.id)
    user = current_user(request)
    return render(
        request,
        "notice.html",
        {
            "meeting": meeting,
            "notice": notice,
            "can_write": principal_of(request).allows(Action.MINUTES_WRITE, meeting),
            "can_sign": meeting.chair_id == user.id,
            "problems": notices.signing_problems(notice) if notice else {},
            "errors": errors or {},
            "error_params": params or {},
        },
        status=status,
    )


@routes.get("/meetings/{meeting_id:\\d+}/notice", name="notice")
@requires(Action.MINUTES_VIEW)
async def notice_page(request: web.Request) -> web.StreamResponse:
    return await _notice_page(request, await _meeting(request, Action.MINUTES_VIEW))


@routes.post("/meetings/{meeting_id:\\d+}/notice", name="notice_save")
@requires(Action.MINUTES_WRITE)
async def notice_save(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_WRITE)
    db = db_of(request)
    notice = await notices.draft(
        db, meeting, at=request.app[CLOCK].now(), actor_id=current_user(request).id
    )
    form = await request.post()
    if form_text(form, "draft_only") != "1":
        try:
            await notices.update(
                db, notice, {name: form_text(form, name) for name in notices.LIMITS}
            )
        except InvalidInput as exc:
            return await _notice_page(
                request, meeting, errors=exc.field_errors, params=exc.field_params, status=400
            )
    raise redirect_with_flash(f"/meetings/{meeting.id}/notice", "notice_saved")


def _notice_html(
    request: web.Request,
    meeting: Meeting,
    notice: ConclusionNotice,
    facts: dict[str, Any],
    *,
    screen: bool,
) -> str:
    settings = request.app[SETTINGS]
    return documents.notice_html(
        request.app[TEMPLATES],
        notice,
        facts,
        translations=request.app[TRANSLATIONS]["vi"],
        zone=settings.zone,
        letterhead=_letterhead(request),
        place=settings.document_place,
        screen=screen,
    )


@routes.post("/meetings/{meeting_id:\\d+}/notice/sign", name="notice_sign")
@requires(Action.MINUTES_FINALISE)
async def notice_sign(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.MINUTES_FINALISE)
    db = db_of(request)
    notice = await notices.require(db, meeting.id)
    if meeting.chair_id != current_user(request).id:
        raise PermissionDenied(N_("Only the leader who chaired the session signs its notice."))
    problems = notices.signing_problems(notice)
    if problems:
        raise Conflict(next(iter(problems.values())))
    now = request.app[CLOCK].now()
    notice.signed_at = now  # shown as signed in the document being stored
    facts = await minutes.facts_of(db, meeting)
    pdf = await documents.pdf(
        _notice_html(request, meeting, notice, facts, screen=False), request.app[RENDERER]
    )
    notice.signed_at = None
    digest = hashlib.sha256(pdf).hexdigest()
    path = notice_path(request.app[SETTINGS].data_dir, meeting)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pdf)
    await notices.sign(
        db, meeting, notice, pdf_sha256=digest, at=now, actor_id=current_user(request).id
    )
    raise redirect_with_flash(f"/meetings/{meeting.id}/notice", "notice_signed")


def notice_path(data_dir: Path, meeting: Meeting) -> Path:
    return data_dir / "minutes" / meeting.reference / "thong-bao-ket-luan.pdf"


@routes.get("/meetings/{meeting_id:\\d+}/notice.pdf", name="notice_pdf")
@requires(Action.MINUTES_VIEW)
async def notice_pdf(request: web.Request) -> web.StreamResponse:
    """The signed notice as stored; a draft rendered now."""
    meeting = await _meeting(request, Action.MINUTES_VIEW)
    db = db_of(request)
    notice = await notices.require(db, meeting.id)
    stored = notice_path(request.app[SETTINGS].data_dir, meeting)
    if notice.signed_at is not None and stored.exists():
        body = stored.read_bytes()
    else:
        facts = await minutes.facts_of(db, meeting)
        body = await documents.pdf(
            _notice_html(request, meeting, notice, facts, screen=False), request.app[RENDERER]
        )
    await _audit_download(request, meeting, "notice", 0)
    case = meeting.case.reference if meeting.case else "chua-gan-vu-viec"
    return _download(body, "application/pdf", f"{case}_{meeting.reference}_thong-bao-ket-luan.pdf")
