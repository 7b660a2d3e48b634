"""Accounts, managed by an administrator: create, roles and endpoint, deactivate, reset."""

from __future__ import annotations

from aiohttp import web

from sessions import sites, users
from sessions.enums import Role
from sessions.errors import N_, Conflict, InvalidInput, NotFound
from sessions.ids import parse_id
from sessions.models import Site, User
from sessions.permissions import Action
from web.auth import current_user, db_of, requires
from web.forms import FormData, form_text, form_values
from web.keys import CLOCK
from web.paging import path_id
from web.templating import render

routes = web.RouteTableDef()


def _roles(form: FormData) -> list[Role]:
    chosen = {v for v in form.getall("roles", []) if isinstance(v, str)}
    return [r for r in Role if r.value in chosen]


async def _site(request: web.Request, raw: str) -> int | None:
    site_id = parse_id(raw)
    if site_id is None:
        return None
    if await db_of(request).get(Site, site_id) is None:
        raise InvalidInput({"site_id": N_("Choose an endpoint from the list.")})
    return site_id


async def _page(
    request: web.Request,
    *,
    issued: tuple[User, str] | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    db = db_of(request)
    people = await users.everyone(db)
    return render(
        request,
        "users.html",
        {
            "people": people,
            "roles": list(Role),
            "sites": await sites.listed(db),
            "issued": issued,
            "values": values or {},
            "errors": errors or {},
        },
        status=status,
    )


@routes.get("/users", name="users")
@requires(Action.USER_MANAGE)
async def user_list(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post("/users")
@requires(Action.USER_MANAGE)
async def user_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    db = db_of(request)
    now = request.app[CLOCK].now()
    password = users.generate_password()
    email = form_text(form, "email")
    try:
        if email and ("@" not in email or len(email) > 200):
            raise InvalidInput({"email": N_("Enter an e-mail address, or leave it empty.")})
        user = await users.create_user(
            db,
            username=form_text(form, "username"),
            full_name=form_text(form, "full_name")[:200],
            position=form_text(form, "position")[:200] or None,
            password=password,
            roles=_roles(form),
            site_id=await _site(request, form_text(form, "site_id")),
            must_change_password=True,
            at=now,
            actor_id=current_user(request).id,
        )
    except InvalidInput as exc:
        return await _page(request, values=form_values(form), errors=exc.field_errors, status=400)
    except Conflict as exc:
        return await _page(
            request, values=form_values(form), errors={"username": exc.message}, status=409
        )
    user.email = email or None
    return await _page(request, issued=(user, password))


async def _user(request: web.Request) -> User:
    user = await db_of(request).get(User, path_id(request, "user_id"))
    if user is None:
        raise NotFound(N_("There is no such account."))
    return user


@routes.post("/users/{user_id:\\d+}/roles")
@requires(Action.USER_MANAGE)
async def user_roles(request: web.Request) -> web.StreamResponse:
    user = await _user(request)
    form = await request.post()
    await users.set_roles(
        db_of(request),
        user,
        _roles(form),
        await _site(request, form_text(form, "site_id")),
        request.app[CLOCK].now(),
        actor_id=current_user(request).id,
    )
    raise web.HTTPSeeOther("/users")


@routes.post("/users/{user_id:\\d+}/active")
@requires(Action.USER_MANAGE)
async def user_active(request: web.Request) -> web.StreamResponse:
    user = await _user(request)
    form = await request.post()
    await users.set_active(
        db_of(request),
        user,
        form_text(form, "active") == "on",
        request.app[CLOCK].now(),
        actor_id=current_user(request).id,
    )
    raise web.HTTPSeeOther("/users")


@routes.post("/users/{user_id:\\d+}/password")
@requires(Action.USER_MANAGE)
async def user_password(request: web.Request) -> web.StreamResponse:
    user = await _user(request)
    password = await users.reset_password(
        db_of(request), user, request.app[CLOCK].now(), actor_id=current_user(request).id
    )
    return await _page(request, issued=(user, password))
