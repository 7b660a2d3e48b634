"""Jinja2 rendering with the request's locale, user, CSRF token and flash message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from gettext import NullTranslations
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from sessions import labels
from sessions.errors import N_
from sessions.models import Case, Meeting, Notification
from sessions.permissions import Action, Principal, nobody
from web import i18n
from web.keys import REQUEST_CSRF, REQUEST_USER, SETTINGS, TEMPLATES, TRANSLATIONS

FLASH_COOKIE = "diemcau_flash"
# Flash messages travel as a key in a cookie, never as text a client could choose.
FLASH_MESSAGES = {
    "checks_requested": N_(
        "The readiness check was sent; each endpoint's result appears below as it comes in."
    ),
    "message_sent": N_("The message is shown on the endpoint's screen."),
    "case_created": N_("The case was registered."),
    "party_added": N_("The person was added to the case."),
    "case_status_changed": N_("The step was recorded on the case's timeline."),
    "document_added": N_("The document was filed with the case."),
    "case_edited": N_("The case's details were corrected; the earlier ones are kept."),
    "proposal_saved": N_("The proposal was saved."),
    "delegation_saved": N_("The crowd delegation was saved."),
    "proposal_submitted": N_("The proposal was sent to the Chairman."),
    "proposal_decided": N_("The decision on the proposal was recorded."),
    "party_changed": N_("The person's details were corrected."),
    "party_removed": N_("The person was removed from the case."),
    "meeting_cancelled": N_("The meeting was cancelled."),
    "meeting_ended": N_("The meeting was ended."),
    "links_emailed": N_("The join links were sent by e-mail to everyone with an address."),
    "links_email_failed": N_(
        "Not every join link could be sent: the mail server did not answer. Try again later."
    ),
    "urgent_no_roster": N_(
        "Nobody is on the duty roster: every leader and the head of the reception board "
        "were alerted. Call the provincial office if no leader joins within minutes."
    ),
    "password_changed": N_("Your password was changed."),
    "signed_out": N_("You have signed out."),
    "meeting_booked": N_("The meeting was booked. Send each endpoint and invitee its join link."),
    "case_linked": N_("The meeting was tied to the case."),
    "schedule_created": N_("The reception day was created; its meetings are in the calendar."),
    "schedule_stopped": N_("The reception day was stopped; meetings already created remain."),
    "roster_saved": N_("The duty roster was saved."),
    "holiday_added": N_("The day was added and every open case's deadline counted again."),
    "combine_started": N_("The combined file is being made; this page shows its progress."),
    "hold_changed": N_("The legal hold of the case was changed."),
    "scan_added": N_("The scanned copy was filed with the minutes."),
    "notice_saved": N_("The conclusion notice was saved."),
    "notice_signed": N_("The conclusion notice is signed and filed on the case."),
    "minutes_finalised": N_(
        "The minutes are finalised: locked, hashed and filed as PDF/A. Corrections are amendments."
    ),
}


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    translations: NullTranslations = context["translations"]
    return translations.gettext(message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    translations: NullTranslations = context["translations"]
    return translations.ngettext(singular, plural, n)


def create_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    return env


def locale_of(request: web.Request) -> str:
    return i18n.choose_locale(
        request.cookies.get(i18n.LOCALE_COOKIE), request.app[SETTINGS].default_locale
    )


def translations_of(request: web.Request) -> NullTranslations:
    return request.app[TRANSLATIONS][locale_of(request)]


def translate(
    request: web.Request, message: str, params: Mapping[str, object] | None = None
) -> str:
    """Translate a message; enum parameters are shown by their translated labels."""
    return i18n.render_message(translations_of(request), message, params)


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    settings = request.app[SETTINGS]
    locale = locale_of(request)
    zone = settings.zone
    translations = request.app[TRANSLATIONS][locale]
    flash_key = request.cookies.get(FLASH_COOKIE, "")

    def label(value: StrEnum | None) -> str:
        return "" if value is None else translations.gettext(labels.label(value))

    def flag_label(name: str) -> str:
        return translations.gettext(labels.FLAG_LABELS[name])

    def when(value: datetime | None) -> str:
        return i18n.show_datetime(value, locale, zone)

    def at_time(value: datetime | None) -> str:
        return i18n.show_time(value, locale, zone)

    def day(value: date | None) -> str:
        return i18n.show_date(value, locale)

    def error_text(message: str | None, params: Mapping[str, object] | None = None) -> str:
        return i18n.render_field_error(translations, message, params) if message else ""

    def message(text: str, params: Mapping[str, object] | None = None) -> str:
        return i18n.render_message(translations, text, params)

    def notice(notification: Notification) -> str:
        return i18n.render_message(translations, notification.message, notification.params)

    user = request.get(REQUEST_USER)
    principal = Principal.of(user) if user is not None else nobody()

    def can(action: str, target: Case | Meeting | None = None) -> bool:
        """The permissions table, for a page's links and buttons."""
        return principal.allows(Action(action), target)

    full: dict[str, Any] = {
        "request": request,
        "can": can,
        "translations": translations,
        "locale": locale,
        "user": user,
        "csrf_token": request.get(REQUEST_CSRF, ""),
        "flash": translations.gettext(FLASH_MESSAGES[flash_key])
        if flash_key in FLASH_MESSAGES
        else "",
        "label": label,
        "flag_label": flag_label,
        "when": when,
        "at_time": at_time,
        "day": day,
        "error_text": error_text,
        "notice": notice,
        "message": message,
        "heartbeat_seconds": settings.heartbeat_seconds,
        "errors": {},
        "error_params": {},
        "values": {},
    }
    full.update(context or {})
    html = request.app[TEMPLATES].get_template(template).render(full)
    response = web.Response(text=html, content_type="text/html", status=status)
    if flash_key:
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


def redirect_with_flash(location: str, flash: str) -> web.HTTPSeeOther:
    assert flash in FLASH_MESSAGES
    exc = web.HTTPSeeOther(location)
    exc.set_cookie(FLASH_COOKIE, flash, path="/", httponly=True, samesite="Lax", max_age=60)
    return exc


def safe(text: str) -> Markup:
    return Markup(text)
