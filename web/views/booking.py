"""Booking meetings, their join links, tying them to cases; recurring days; the duty roster."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from sessions import booking, cases, labels, recurring, sites, urgent, users
from sessions.enums import (
    MeetingKind,
    MeetingPurpose,
    PartyRole,
    RecordingPolicy,
    Recurrence,
    Role,
)
from sessions.errors import InvalidInput
from sessions.ids import parse_id, whole_number
from sessions.models import (
    Case,
    Site,
    User,
)
from sessions.permissions import Action
from web.auth import current_user, db_of, principal_of, requires
from web.forms import FormData, form_text, form_values
from web.keys import CLOCK, SCHEDULER, SETTINGS
from web.paging import path_id
from web.templating import redirect_with_flash, render

routes = web.RouteTableDef()


async def people_with(request: web.Request, role: Role) -> list[User]:
    return await users.with_role(db_of(request), role)


async def all_sites(request: web.Request) -> list[Site]:
    return await sites.listed(db_of(request), active_only=True)


def _strings(form: FormData, name: str) -> list[str]:
    return [v for v in form.getall(name, []) if isinstance(v, str)]


async def _booking_form(
    request: web.Request,
    values: dict[str, str],
    chosen_sites: list[str],
    chosen_parties: list[str],
    errors: dict[str, str],
    error_params: dict[str, dict[str, object]],
    status: int,
) -> web.StreamResponse:
    db = db_of(request)
    case = None
    if (case_id := parse_id(values.get("case_id"))) is not None:
        case = await cases.get_case(db, case_id)
        principal_of(request).require(Action.CASE_EDIT, case)
    return render(
        request,
        "meetings/new.html",
        {
            "values": values,
            "errors": errors,
            "error_params": error_params,
            "chosen_sites": set(chosen_sites),
            "chosen_parties": set(chosen_parties),
            "case": case,
            "invitable": list(case.parties if case else []),
            "sites": await all_sites(request),
            "chairs": await people_with(request, Role.CHAIR),
            "secretaries": await people_with(request, Role.SECRETARY),
            "purposes": list(MeetingPurpose),
            "kinds": list(MeetingKind),
            "policies": list(RecordingPolicy),
            "profiles": booking.QUALITY_PROFILES,
            "quality_labels": labels.QUALITY_LABELS,
            "PartyRole": PartyRole,
        },
        status=status,
    )


@routes.get("/meetings/new", name="meeting_new")
@requires(Action.MEETING_BOOK)
async def meeting_new(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    tomorrow = request.app[CLOCK].now().astimezone(settings.zone).date() + timedelta(days=1)
    values = {
        "case_id": request.query.get("case", ""),
        "date": tomorrow.isoformat(),
        "start_time": "08:00",
        "end_time": "10:00",
        "purpose": "dialogue",
        "kind": "scheduled",
        "recording_policy": "always",
        "quality_profile": "standard",
        "waiting_room": "on",
    }
    return await _booking_form(request, values, [], [], {}, {}, 200)


@routes.post("/meetings/new")
@requires(Action.MEETING_BOOK)
async def meeting_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    settings = request.app[SETTINGS]
    sites_chosen = _strings(form, "participant_site_ids")
    parties_chosen = _strings(form, "invite_party_ids")
    draft = booking.MeetingDraft(
        title=form_text(form, "title"),
        purpose=form_text(form, "purpose"),
        kind=form_text(form, "kind"),
        date=form_text(form, "date"),
        start_time=form_text(form, "start_time"),
        end_time=form_text(form, "end_time"),
        host_site_id=form_text(form, "host_site_id"),
        participant_site_ids=sites_chosen,
        chair_id=form_text(form, "chair_id"),
        secretary_id=form_text(form, "secretary_id"),
        case_id=form_text(form, "case_id"),
        ad_hoc_reason=form_text(form, "ad_hoc_reason"),
        waiting_room=form_text(form, "waiting_room") == "on",
        recording_policy=form_text(form, "recording_policy"),
        quality_profile=form_text(form, "quality_profile"),
        legal_basis=form_text(form, "legal_basis"),
        invite_party_ids=parties_chosen,
        other_invitees=form_text(form, "other_invitees"),
    )
    db = db_of(request)
    case_id = parse_id(draft.case_id)
    if case_id is not None and (case := await db.get(Case, case_id)) is not None:
        principal_of(request).require(Action.CASE_EDIT, case)
    try:
        meeting = await booking.book(
            db,
            draft,
            now=request.app[CLOCK].now(),
            zone=settings.zone,
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _booking_form(
            request,
            form_values(form),
            sites_chosen,
            parties_chosen,
            exc.field_errors,
            exc.field_params,
            400,
        )
    await db.commit()
    request.app[SCHEDULER].plan(meeting)
    raise redirect_with_flash(f"/meetings/{meeting.id}", "meeting_booked")


# ---- recurring reception days --------------------------------------------------------------


async def _schedules_page(
    request: web.Request,
    values: dict[str, str],
    chosen_sites: list[str],
    status: int,
    errors: dict[str, str] | None = None,
    error_params: dict[str, dict[str, object]] | None = None,
) -> web.StreamResponse:
    schedules = await recurring.list_schedules(db_of(request))
    return render(
        request,
        "schedules.html",
        {
            "schedules": schedules,
            "values": values,
            "errors": errors or {},
            "error_params": error_params or {},
            "chosen_sites": set(chosen_sites),
            "sites": await all_sites(request),
            "chairs": await people_with(request, Role.CHAIR),
            "weekdays": labels.WEEKDAYS,
            "recurrences": list(Recurrence),
            "policies": list(RecordingPolicy),
        },
        status=status,
    )


@routes.get("/schedules", name="schedules")
@requires(Action.SCHEDULE_MANAGE)
async def schedules(request: web.Request) -> web.StreamResponse:
    return await _schedules_page(
        request,
        {"start_time": "08:00", "duration_minutes": "240", "recurrence": "weekly"},
        [],
        200,
    )


@routes.post("/schedules")
@requires(Action.SCHEDULE_MANAGE)
async def schedule_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    chosen = _strings(form, "participant_site_ids")
    draft = recurring.ScheduleDraft(
        title=form_text(form, "title"),
        recurrence=form_text(form, "recurrence"),
        weekday=form_text(form, "weekday"),
        day_of_month=form_text(form, "day_of_month"),
        start_time=form_text(form, "start_time"),
        duration_minutes=form_text(form, "duration_minutes"),
        chair_id=form_text(form, "chair_id"),
        host_site_id=form_text(form, "host_site_id"),
        participant_site_ids=chosen,
        waiting_room=form_text(form, "waiting_room") == "on",
        recording_policy=form_text(form, "recording_policy"),
    )
    db = db_of(request)
    try:
        await recurring.create_schedule(
            db, draft, at=request.app[CLOCK].now(), actor_id=current_user(request).id
        )
    except InvalidInput as exc:
        return await _schedules_page(
            request, form_values(form), chosen, 400, exc.field_errors, exc.field_params
        )
    await db.commit()
    await request.app[SCHEDULER].sweep()  # create its meetings now
    raise redirect_with_flash("/schedules", "schedule_created")


@routes.post("/schedules/{schedule_id:\\d+}/stop")
@requires(Action.SCHEDULE_MANAGE)
async def schedule_stop(request: web.Request) -> web.StreamResponse:
    await recurring.stop_schedule(
        db_of(request),
        path_id(request, "schedule_id"),
        at=request.app[CLOCK].now(),
        actor_id=current_user(request).id,
    )
    raise redirect_with_flash("/schedules", "schedule_stopped")


# ---- duty roster ---------------------------------------------------------------------------


@routes.get("/duty", name="duty")
@requires(Action.DUTY_MANAGE)
async def duty(request: web.Request) -> web.StreamResponse:
    ranks = await urgent.roster(db_of(request))
    return render(
        request, "duty.html", {"chairs": await people_with(request, Role.CHAIR), "ranks": ranks}
    )


@routes.post("/duty")
@requires(Action.DUTY_MANAGE)
async def duty_save(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    ranks: dict[int, int | None] = {}
    for chair in await people_with(request, Role.CHAIR):
        raw = form_text(form, f"rank_{chair.id}")
        ranks[chair.id] = whole_number(raw)
    try:
        await urgent.set_roster(
            db_of(request), ranks, at=request.app[CLOCK].now(), actor_id=current_user(request).id
        )
    except InvalidInput as exc:
        return render(
            request,
            "duty.html",
            {
                "chairs": await people_with(request, Role.CHAIR),
                "ranks": ranks,
                "errors": exc.field_errors,
            },
            status=400,
        )
    raise redirect_with_flash("/duty", "roster_saved")
