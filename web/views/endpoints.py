"""The endpoint board: every điểm cầu online or offline, last seen, the meeting it is in, its
browser, devices and link quality, its last readiness check; checks on one endpoint or all, a
message to a kiosk, and the readiness report for a date range (XLSX and PDF)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import select

from sessions import audit, notifications, readiness, sites
from sessions.enums import NotificationKind
from sessions.errors import N_, BadRequest, InvalidInput
from sessions.meetings import local_day_bounds
from sessions.models import EndpointPresence, Meeting, Site
from sessions.permissions import Action
from web import documents, registers
from web.auth import current_user, db_of, login_required, principal_of, requires
from web.forms import form_text
from web.i18n import show_datetime
from web.keys import CLOCK, HUB, KIOSKS, RENDERER, SETTINGS, TEMPLATES, TRANSLATIONS
from web.paging import date_param, int_param
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()

VERDICT_LABELS = {
    "pending": N_("Waiting for the endpoint"),
    "good": N_("Good"),
    "fair": N_("Fair"),
    "poor": N_("Poor"),
    "failed": N_("Failed"),
    "unreachable": N_("Did not answer (offline)"),
}
DEVICE_LABELS = {
    "on": N_("working"),
    "off": N_("switched off"),
    "missing": N_("none found"),
    "denied": N_("not allowed by the browser"),
    "": "—",
}
PROBLEM_LABELS = {
    "no-devices": N_("No camera or microphone could be opened"),
    "probe-refused": N_("The server refused the test call"),
}
MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class BoardRow:
    site: Site
    online: bool
    last_seen: datetime | None
    report: readiness.Report | EndpointPresence | None
    meeting: Meeting | None


REPORT_COLUMNS = (
    N_("Row number"),
    N_("Checked at"),
    N_("Endpoint"),
    N_("Verdict"),
    N_("Round trip (ms)"),
    N_("Packet loss"),
    N_("Bitrate (kbps)"),
    N_("Camera"),
    N_("Microphone"),
    N_("Problem"),
)
REPORT_WIDTHS = (6, 18, 30, 18, 12, 10, 12, 16, 16, 30)


def _in_rooms(request: web.Request) -> dict[int, int]:
    """Which meeting each endpoint is in now, as the live rooms of this process know it."""
    found: dict[int, int] = {}
    for meeting_id, room in request.app[HUB].rooms.items():
        for participant in room.participants.values():
            site_id = participant.claims.site_id
            if site_id is not None:
                found[site_id] = meeting_id
    return found


@routes.get("/sites", name="sites")
@requires(Action.SITE_LIST)
async def board(request: web.Request) -> web.StreamResponse:
    db = db_of(request)
    settings = request.app[SETTINGS]
    channel = request.app[KIOSKS]
    found = await sites.listed(db)
    live = channel.snapshot()
    stored = await readiness.stored_presence(db)
    rooms = _in_rooms(request)
    meetings = {
        m.id: m
        for m in await db.scalars(select(Meeting).where(Meeting.id.in_(set(rooms.values()))))
    }
    now = request.app[CLOCK].now()
    flags = await channel.flags(db, principal_of(request))
    rows = []
    for site in found:
        presence = live.get(site.id)
        last = stored.get(site.id)
        report = presence.report if presence is not None else last
        rows.append(
            BoardRow(
                site=site,
                online=presence is not None and presence.online_since is not None,
                last_seen=presence.last_seen
                if presence is not None
                else (last.last_seen_at if last is not None else None),
                report=report,
                meeting=meetings.get(rooms.get(site.id, 0)),
            )
        )
    groups = [
        (N_("Reception offices"), [r for r in rows if r.site.kind in sites.OFFICE_KINDS]),
        (N_("Communes and wards"), [r for r in rows if r.site.kind in sites.COMMUNE_KINDS]),
    ]
    return render(
        request,
        "sites.html",
        {
            "groups": groups,
            "total": len(found),
            "online_count": sum(1 for r in rows if r.online),
            "checks": await readiness.latest_checks(db),
            "flags": flags,
            "verdict_labels": VERDICT_LABELS,
            "device_labels": DEVICE_LABELS,
            "timeout": int(channel.timeout),
            "today": now.astimezone(settings.zone).date(),
        },
    )


@routes.post("/presence", name="presence")
@login_required
async def operator_presence(request: web.Request) -> web.StreamResponse:
    """An endpoint operator's heartbeat (``web/static/js/page.js``): its endpoint is staffed."""
    user = current_user(request)
    if user.site_id is None:
        return web.json_response({"error": "no_endpoint"}, status=400)
    try:
        raw = await request.json()
    except ValueError:
        raw = None
    try:
        report = readiness.Report.parse(raw)
    except InvalidInput as exc:
        return web.json_response({"error": "bad_report", "fields": exc.field_errors}, status=400)
    request.app[KIOSKS].operator_beat(user.site_id, report)
    return web.json_response({"ok": True, "heartbeat": request.app[SETTINGS].heartbeat_seconds})


@routes.post("/sites/check", name="sites_check")
@requires(Action.SITE_CHECK)
async def run_checks(request: web.Request) -> web.StreamResponse:
    """A readiness check on one endpoint (``site``) or on all of them (``site=all``)."""
    form = await request.post()
    db = db_of(request)
    choice = form_text(form, "site")[:20]
    if choice == "all":
        targets = {s.id for s in await sites.listed(db, active_only=True)}
    else:
        site_id = int_param(choice, default=0, maximum=2**31 - 1)
        site = await db.get(Site, site_id) if site_id else None
        if site is None:
            raise InvalidInput({"site": N_("Choose an endpoint.")})
        targets = {site.id}
    await db.commit()  # the channel writes the checks in its own transaction
    await request.app[KIOSKS].request_checks(targets, actor_id=current_user(request).id)
    raise redirect_with_flash("/sites#checks", "checks_requested")


@routes.post("/sites/{site_id:\\d+}/message", name="site_message")
@requires(Action.SITE_CHECK)
async def send_message(request: web.Request) -> web.StreamResponse:
    """A message from staff to an endpoint's kiosk: shown on its screen at once."""
    db = db_of(request)
    site = await db.get(Site, int(request.match_info["site_id"]))
    if site is None:
        raise web.HTTPNotFound
    text = form_text(await request.post(), "text")
    if not text or len(text) > MESSAGE_LIMIT:
        raise InvalidInput(
            {"text": N_("Write a message of at most %(max)s characters.")},
            {"text": {"max": MESSAGE_LIMIT}},
        )
    now = request.app[CLOCK].now()
    user = current_user(request)
    await notifications.notify(
        db,
        key=f"staff-message:{site.id}:{now.timestamp()}:{user.id}",
        kind=NotificationKind.TASK,
        message=N_("From %(who)s: %(text)s"),
        params={"who": user.full_name, "text": text},
        at=now,
        site_id=site.id,
    )
    await audit.record(db, now, user.id, "site.message", "site", site.id, {"code": site.code})
    raise redirect_with_flash("/sites", "message_sent")


@routes.get("/sites/readiness", name="sites_readiness")
@requires(Action.SITE_CHECK)
async def readiness_report(request: web.Request) -> web.StreamResponse:
    """The readiness history for a date range: a page, or ``format=xlsx`` / ``format=pdf``."""
    settings = request.app[SETTINGS]
    zone = settings.zone
    today = request.app[CLOCK].now().astimezone(zone).date()
    start = date_param(request.query.get("from"), default=today - timedelta(days=6))
    end = date_param(request.query.get("to"), default=today)
    if end < start:
        raise BadRequest(N_("The end of the range comes before its start."))
    db = db_of(request)
    history = await readiness.history(
        db, local_day_bounds(start, zone)[0], local_day_bounds(end, zone)[1]
    )
    kind = request.query.get("format", "")
    if kind not in ("xlsx", "pdf"):
        return render(
            request,
            "readiness.html",
            {
                "history": history,
                "start": start,
                "end": end,
                "verdict_labels": VERDICT_LABELS,
                "device_labels": DEVICE_LABELS,
                "problem_labels": PROBLEM_LABELS,
            },
        )
    vi = request.app[TRANSLATIONS]["vi"]
    rows = [
        [
            number,
            show_datetime(check.requested_at, "vi", zone),
            site.name,
            vi.gettext(VERDICT_LABELS[check.verdict]),
            _figure(check.rtt_ms),
            _figure(check.loss_percent, 1, " %"),
            _figure(check.kbps),
            vi.gettext(DEVICE_LABELS.get(check.camera, "—")),
            vi.gettext(DEVICE_LABELS.get(check.microphone, "—")),
            vi.gettext(PROBLEM_LABELS.get(check.problem, check.problem)),
        ]
        for number, (check, site) in enumerate(history, start=1)
    ]
    letterhead = documents.Letterhead(settings.issuing_body, settings.issuing_office)
    title = N_("ENDPOINT READINESS REPORT")
    if kind == "pdf":
        html = registers.table_html(
            request.app[TEMPLATES],
            rows,
            vi,
            title=title,
            columns=REPORT_COLUMNS,
            start=start,
            end=end,
            letterhead=letterhead,
        )
        body = await documents.pdf(html, request.app[RENDERER])
        content_type = "application/pdf"
    else:
        body = registers.table_xlsx(
            rows,
            vi,
            title=title,
            sheet_name=N_("Readiness"),
            columns=REPORT_COLUMNS,
            widths=REPORT_WIDTHS,
            start=start,
            end=end,
            issuing_office=settings.issuing_office,
        )
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = f"san-sang-diem-cau_{start:%Y%m%d}-{end:%Y%m%d}.{kind}"
    return web.Response(
        body=body,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _figure(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "" if value is None else f"{value:.{digits}f}{unit}"
