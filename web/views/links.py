"""Handing out join links: a printable slip per endpoint and invitee (with a QR code to open the
link on a phone or tablet), and the links by e-mail to those with an address."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

import segno
from aiohttp import web
from markupsafe import Markup

from sessions import audit, booking, meetings
from sessions.enums import MeetingStatus
from sessions.errors import N_, TransitionRefused
from sessions.models import Meeting
from sessions.permissions import Action
from web import i18n
from web.auth import current_user, db_of, principal_of, requires
from web.keys import CLOCK, SCHEDULER, SETTINGS, TRANSLATIONS
from web.paging import path_id
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
HANDED_OUT = (MeetingStatus.SCHEDULED, MeetingStatus.OPEN, MeetingStatus.LIVE)


async def _links(request: web.Request) -> tuple[Meeting, list[tuple[booking.JoinLink, str]]]:
    meeting = await meetings.get_meeting(db_of(request), path_id(request, "meeting_id"))
    principal_of(request).require(Action.MEETING_LINKS, meeting)
    if meeting.status not in HANDED_OUT:
        raise TransitionRefused(N_("The join links of a meeting that is over are not handed out."))
    settings = request.app[SETTINGS]
    links = booking.join_links(meeting, settings.session_key, settings.join_link_valid_hours)
    return meeting, [(link, settings.effective_public_url + link.path) for link in links]


def qr_svg(url: str) -> Markup:
    """The link as an inline SVG QR code (segno; medium error correction survives a creased
    printout)."""
    code = segno.make(url, error="m")
    return Markup(code.svg_inline(scale=3, border=2, omitsize=False))


@routes.get("/meetings/{meeting_id:\\d+}/links/print", name="meeting_link_slips")
@requires(Action.MEETING_LINKS)
async def link_slips(request: web.Request) -> web.StreamResponse:
    meeting, links = await _links(request)
    await audit.record(
        db_of(request),
        request.app[CLOCK].now(),
        current_user(request).id,
        "meeting.links_printed",
        "meeting",
        meeting.id,
        {"links": len(links)},
    )
    return render(
        request,
        "meetings/slips.html",
        {
            "meeting": meeting,
            "slips": [(link, url, qr_svg(url)) for link, url in links],
            "until": meeting.planned_end
            + timedelta(hours=request.app[SETTINGS].join_link_valid_hours),
        },
    )


@routes.post("/meetings/{meeting_id:\\d+}/links/email", name="meeting_link_email")
@requires(Action.MEETING_LINKS)
async def link_email(request: web.Request) -> web.StreamResponse:
    meeting, links = await _links(request)
    mailer = request.app[SCHEDULER].mailer
    if not mailer.enabled:
        raise TransitionRefused(N_("E-mail is not set up on this server (smtp_host)."))
    db = db_of(request)
    by_link = {link.path: url for link, url in links}
    addressed = await booking.link_addresses(db, [link for link, _ in links])
    settings = request.app[SETTINGS]
    translations = request.app[TRANSLATIONS][settings.default_locale]

    def say(message: str, **params: object) -> str:
        return i18n.render_message(translations, message, params)

    sent = 0
    for address, link in addressed:
        body = "\n\n".join(
            [
                say(N_("Join link for %(who)s"), who=link.label),
                say(N_("Meeting: %(title)s"), title=meeting.title),
                say(
                    N_("Time: %(start)s to %(end)s"),
                    start=i18n.show_datetime(
                        meeting.planned_start, settings.default_locale, settings.zone
                    ),
                    end=i18n.show_time(meeting.planned_end, settings.default_locale, settings.zone),
                ),
                by_link[link.path],
                say(N_("The link is personal: do not pass it on.")),
            ]
        )
        try:
            await mailer.send(address, f"[Điểm cầu] {meeting.title}", body)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("could not e-mail a join link of meeting %s: %s", meeting.id, exc)
            break
        sent += 1
    await audit.record(
        db,
        request.app[CLOCK].now(),
        current_user(request).id,
        "meeting.links_emailed",
        "meeting",
        meeting.id,
        {"sent": sent, "addressed": len(addressed)},
    )
    flash = "links_emailed" if sent == len(addressed) else "links_email_failed"
    raise redirect_with_flash(f"/meetings/{meeting.id}#links-h", flash)
