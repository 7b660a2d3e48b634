"""Recordings of a meeting: the synchronised player, downloads (with HTTP Range), the combined
file made in the background, and the legal hold. Every list, play and download is audited."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from datetime import datetime
from typing import BinaryIO

from aiohttp import web
from sqlalchemy import select, update

from recordings import catalog
from recordings.combine import Input, combine
from recordings.store import UnsafePath
from sessions import audit, meetings
from sessions.enums import RecordingKind, RecordingStatus
from sessions.errors import N_, NotFound
from sessions.models import AuditEvent, Case, Meeting, Recording
from sessions.permissions import Action
from web.auth import current_user, db_of, principal_of, requires
from web.keys import CLOCK, COMBINES, DB, STORE
from web.paging import path_id
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
MARKERS = {
    "meeting.join": N_("joined"),
    "meeting.left": N_("left"),
    "meeting.dropped": N_("connection lost"),
    "meeting.removed": N_("removed by the chair"),
    "meeting.interruption": N_("interruption"),
    "meeting.resume": N_("reconnected"),
    "meeting.chair.mute": N_("muted by the chair"),
    "meeting.chair.give_floor": N_("given the floor"),
    "meeting.chair.admit": N_("admitted"),
    "meeting.chair.send_back": N_("sent back to the waiting room"),
    "meeting.chair.remove": N_("removed by the chair"),
    "recording.start": N_("recording started"),
    "recording.pause": N_("recording paused"),
    "recording.resume": N_("recording resumed"),
    "recording.failure": N_("recording interrupted (storage)"),
    "meeting.end": N_("meeting ended"),
}


def _playable(rows: list[Recording]) -> list[Recording]:
    """Participants' complete files (recovered ones included): what plays and what combines."""
    return [
        r
        for r in rows
        if r.status is RecordingStatus.COMPLETE
        and r.kind in (RecordingKind.PARTICIPANT, RecordingKind.RECOVERED)
    ]


async def _meeting(request: web.Request, action: Action) -> Meeting:
    """The meeting of the URL, if the principal may ``action`` its recordings."""
    meeting = await meetings.get_meeting(db_of(request), path_id(request, "meeting_id"))
    principal_of(request).require(action, meeting)
    return meeting


async def _audit(request: web.Request, action: str, meeting_id: int, **details: object) -> None:
    await audit.record(
        db_of(request),
        request.app[CLOCK].now(),
        current_user(request).id,
        action,
        "meeting",
        meeting_id,
        details,
    )


@routes.get("/meetings/{meeting_id:\\d+}/recordings", name="recordings")
@requires(Action.RECORDING_VIEW)
async def recordings_page(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    meeting = await _meeting(request, Action.RECORDING_VIEW)
    rows = await catalog.rows_for(db, meeting.id)
    playable = _playable(rows)
    origin: datetime | None = min((r.started_at for r in playable), default=None)
    events = list(
        await db.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "meeting",
                AuditEvent.object_id == str(meeting.id),
                AuditEvent.action.in_(list(MARKERS)),
            )
            .order_by(AuditEvent.seq)
        )
    )
    markers = [
        {
            "at": e.at,
            "offset": max(0.0, (e.at - origin).total_seconds()) if origin else 0.0,
            "what": MARKERS[e.action],
            "detail": str(
                e.details.get("subject") or e.details.get("by") or e.details.get("target") or ""
            ),
        }
        for e in events
    ]
    await _audit(request, "recording.list", meeting.id, files=len(rows))
    return render(
        request,
        "recordings.html",
        {
            "meeting": meeting,
            "rows": rows,
            "playable": playable,
            "offsets": {
                r.id: (r.started_at - origin).total_seconds() if origin else 0.0 for r in playable
            },
            "markers": markers,
            "combined": [r for r in rows if r.kind is RecordingKind.COMBINED],
            "RecordingStatus": RecordingStatus,
        },
    )


@routes.get("/recordings/{recording_id:\\d+}/file", name="recording_file")
@requires(Action.RECORDING_VIEW)
async def recording_file(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    row = await db.get(Recording, path_id(request, "recording_id"))
    if row is not None:
        meeting = await meetings.get_meeting(db, row.meeting_id)
        principal_of(request).require(Action.RECORDING_VIEW, meeting)
    if row is None or row.status in (
        RecordingStatus.DELETED,
        RecordingStatus.RECORDING,
        RecordingStatus.PROCESSING,
    ):
        raise NotFound(N_("There is no such recording (it may have been deleted)."))
    try:
        path = request.app[STORE].resolve(row.relative_path)
    except UnsafePath as exc:
        raise web.HTTPNotFound from exc
    if not path.exists():
        raise NotFound(N_("The recording file is missing; tell the administrator."))
    download = request.query.get("download") == "1"
    # A player fetches a file in many range requests: one audit row per play, not per range.
    if download or request.headers.get("Range", "bytes=0-").startswith("bytes=0-"):
        await _audit(
            request,
            "recording.download" if download else "recording.play",
            row.meeting_id,
            recording=row.id,
        )
        await db.commit()
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return web.FileResponse(path, headers=headers)


@routes.post("/meetings/{meeting_id:\\d+}/recordings/combine", name="recordings_combine")
@requires(Action.RECORDING_COMBINE)
async def start_combine(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    meeting = await _meeting(request, Action.RECORDING_COMBINE)
    rows = await catalog.rows_for(db, meeting.id)
    sources = _playable(rows)
    if not sources:
        raise NotFound(N_("There is nothing to combine yet."))
    store = request.app[STORE]
    origin = min(r.started_at for r in sources)
    inputs = [
        Input(
            str(store.resolve(r.relative_path)),
            (r.started_at - origin).total_seconds(),
            r.participant_label,
        )
        for r in sources
    ]
    directory = store.meeting_dir(
        meeting.case.reference if meeting.case else None, meeting.reference
    )
    relative, handle = store.create(directory, "tong-hop", ".webm")
    row_id = await catalog.add_row(
        db,
        meeting_id=meeting.id,
        relative_path=relative,
        label="Tệp tổng hợp",
        subject=None,
        at=origin,
        kind=RecordingKind.COMBINED,
        status=RecordingStatus.PROCESSING,
    )
    await _audit(request, "recording.combine", meeting.id, recording=row_id)
    await db.commit()
    task = asyncio.create_task(_combine(request.app, meeting.id, row_id, relative, inputs, handle))
    request.app[COMBINES].add(task)
    task.add_done_callback(request.app[COMBINES].discard)
    raise redirect_with_flash(f"/meetings/{meeting.id}/recordings", "combine_started")


async def _combine(
    app: web.Application,
    meeting_id: int,
    row_id: int,
    relative: str,
    inputs: list[Input],
    handle: BinaryIO,
) -> None:
    loop = asyncio.get_running_loop()
    db_factory = app[DB]
    pending: list[concurrent.futures.Future[None]] = []

    async def set_progress(value: int) -> None:
        # Each report is its own transaction and they may commit out of order: never go back.
        async with db_factory() as db, db.begin():
            await db.execute(
                update(Recording)
                .where(Recording.id == row_id, Recording.progress < value)
                .values(progress=value)
            )

    def progress(value: int) -> None:
        pending.append(asyncio.run_coroutine_threadsafe(set_progress(value), loop))

    store = app[STORE]
    try:
        video, audio_frames, seconds = await asyncio.to_thread(combine, inputs, handle, progress)
        digest, size = await asyncio.to_thread(store.hash, relative)
        status, note = RecordingStatus.COMPLETE, None
    except Exception as exc:
        log.exception("combined file %s failed", relative)
        video = audio_frames = 0
        seconds = 0.0
        digest, size = "", 0
        status, note = RecordingStatus.FAILED, str(exc)[:300]
    await asyncio.gather(*[asyncio.wrap_future(f) for f in pending], return_exceptions=True)
    async with db_factory() as db, db.begin():
        await catalog.finish_row(
            db,
            row_id,
            status=status,
            sha256=digest,
            size=size,
            at=app[CLOCK].now(),
            video_frames=video,
            audio_frames=audio_frames,
            duration_ms=int(seconds * 1000),
            note=note,
        )
    if status is RecordingStatus.COMPLETE:
        # The new file joins the meeting's signed record like the others.
        try:
            await catalog.write_manifest(
                db_factory, store, meeting_id, at=app[CLOCK].now(), reason="combined file added"
            )
        except OSError:
            log.exception("could not write the manifest for the combined file %s", relative)


@routes.get("/meetings/{meeting_id:\\d+}/recordings/status", name="recordings_status")
@requires(Action.RECORDING_VIEW)
async def recordings_status(request: web.Request) -> web.StreamResponse:
    meeting = await _meeting(request, Action.RECORDING_VIEW)
    rows = await catalog.rows_for(db_of(request), meeting.id)
    return web.json_response(
        {
            "recordings": [
                {"id": r.id, "kind": r.kind.value, "status": r.status.value, "progress": r.progress}
                for r in rows
            ]
        },
        headers={"Cache-Control": "no-store"},
    )


@routes.post("/cases/{case_id:\\d+}/hold", name="case_hold")
@requires(Action.CASE_HOLD)
async def case_hold(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    case = await db.get(Case, path_id(request, "case_id"))
    if case is None:
        raise web.HTTPNotFound
    principal_of(request).require(Action.CASE_HOLD, case)
    case.legal_hold = not case.legal_hold
    await audit.record(
        db,
        request.app[CLOCK].now(),
        current_user(request).id,
        "case.legal_hold",
        "case",
        case.id,
        {"hold": case.legal_hold},
    )
    raise redirect_with_flash(f"/cases/{case.id}#recordings", "hold_changed")
