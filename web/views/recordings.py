"""Recordings of a meeting: the synchronised player, downloads (with HTTP Range), the combined
file made in the background, and the legal hold. Every list, play and download is audited."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from aiohttp import web

from recordings import catalog, combined
from recordings.moments import moments_of
from recordings.store import UnsafePath, slug
from sessions import audit, cases, meetings, minutes
from sessions.enums import RecordingKind, RecordingStatus
from sessions.errors import N_, NotFound
from sessions.models import Meeting, Recording
from sessions.permissions import Action
from web.auth import current_user, db_of, principal_of, requires
from web.keys import CLOCK, COMBINES, DB, STORE
from web.paging import path_id
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()


def _tiles(playable: Sequence[Recording]) -> list[tuple[str, list[Recording]]]:
    """One tile per participant, with its files in order (a pause or a drop starts a new file),
    in the order participants first appear."""
    tiles: dict[str, tuple[str, list[Recording]]] = {}
    for row in sorted(playable, key=lambda r: r.started_at):
        key = row.participant_subject or row.participant_label
        tiles.setdefault(key, (row.participant_label, []))[1].append(row)
    return list(tiles.values())


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
    playable = catalog.playable(rows)
    origin: datetime | None = min((r.started_at for r in playable), default=None)
    markers = await moments_of(db, meeting.id, origin)
    # The opinions the minutes tie to a moment of the recording, to jump to beside the video.
    opinions: list[dict[str, object]] = []
    if principal_of(request).allows(Action.MINUTES_VIEW, meeting):
        written = await minutes.minutes_of(db, meeting.id)
        if written is not None:
            content = (await minutes.latest(db, written)).content
            opinions = [o for o in content.get("opinions", []) if o.get("at") is not None]
    await _audit(request, "recording.list", meeting.id, files=len(rows))
    return render(
        request,
        "recordings.html",
        {
            "meeting": meeting,
            "rows": rows,
            "playable": playable,
            "tiles": _tiles(playable),
            "offsets": {
                r.id: (r.started_at - origin).total_seconds() if origin else 0.0 for r in playable
            },
            "markers": markers,
            "opinions": opinions,
            "combined": [r for r in rows if r.kind is RecordingKind.COMBINED],
            "RecordingStatus": RecordingStatus,
        },
    )


@routes.get("/recordings/{recording_id:\\d+}/file", name="recording_file")
@requires(Action.RECORDING_VIEW)
async def recording_file(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    row = await db.get(Recording, path_id(request, "recording_id"))
    if row is None:
        raise NotFound(N_("There is no such recording (it may have been deleted)."))
    meeting = await meetings.get_meeting(db, row.meeting_id)
    principal_of(request).require(Action.RECORDING_VIEW, meeting)
    if row.status in (
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
        name = download_name(meeting, path.name)
        headers["Content-Disposition"] = (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
        )
    return web.FileResponse(path, headers=headers)


_SAFE = re.compile(r"^[A-Za-z0-9-]+$")


def download_name(meeting: Meeting, file_name: str) -> str:
    """A downloaded file says whose it is: case reference, meeting reference, participant file
    ("VV-2026-0001_PH-20260310-0001_dong-kinh-01.webm")."""
    refs = [meeting.case.reference if meeting.case else "chua-gan-vu-viec", meeting.reference]
    return "_".join([*(r if _SAFE.match(r) else slug(r) for r in refs), file_name])


@routes.post("/meetings/{meeting_id:\\d+}/recordings/combine", name="recordings_combine")
@requires(Action.RECORDING_COMBINE)
async def start_combine(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    meeting = await _meeting(request, Action.RECORDING_COMBINE)
    job = await combined.prepare(db, request.app[STORE], meeting)
    await _audit(request, "recording.combine", meeting.id, recording=job.row_id)
    await db.commit()
    app = request.app
    task = asyncio.create_task(combined.run(job, app[DB], app[STORE], app[CLOCK]))
    app[COMBINES].add(task)
    task.add_done_callback(app[COMBINES].discard)
    raise redirect_with_flash(f"/meetings/{meeting.id}/recordings", "combine_started")


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
    case = await cases.get_case(db, path_id(request, "case_id"))
    principal_of(request).require(Action.CASE_HOLD, case)
    await cases.set_legal_hold(
        db,
        case,
        not case.legal_hold,
        at=request.app[CLOCK].now(),
        actor_id=current_user(request).id,
    )
    raise redirect_with_flash(f"/cases/{case.id}#recordings", "hold_changed")
