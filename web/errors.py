"""The error middleware: domain errors and HTTP errors become pages a person can act on."""

from __future__ import annotations

import logging

from aiohttp import web

from sessions.errors import N_, Conflict, DomainError, NotFound, PermissionDenied, TransitionRefused
from web.auth import CsrfFailure, Handler
from web.templating import render, translate

log = logging.getLogger(__name__)

_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    PermissionDenied: 403,
    Conflict: 409,
    TransitionRefused: 409,
}
_HTTP_TEXT = {
    404: N_("This page does not exist. Check the address, or go back to the dashboard."),
    403: N_("Your role does not allow this page."),
    405: N_("This address does not accept that kind of request."),
    413: N_("What you sent is too large."),
}
_TITLES = {
    400: N_("The request could not be used"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("Not possible now"),
    413: N_("Too large"),
    500: N_("Something went wrong"),
}


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


def error_response(
    request: web.Request, status: int, error_id: str, message: str
) -> web.StreamResponse:
    if wants_json(request):
        return web.json_response({"error": error_id, "message": message}, status=status)
    title = translate(request, _TITLES.get(status, _TITLES[400]))
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message, "error_id": error_id},
        status=status,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        status = _STATUS.get(type(exc), 400)
        return error_response(
            request, status, exc.error_id, translate(request, exc.message, exc.params)
        )
    except CsrfFailure:
        return error_response(
            request,
            400,
            "csrf",
            translate(
                request,
                N_(
                    "This form has expired or did not come from this site. "
                    "Go back, reload the page and send it again."
                ),
            ),
        )
    except web.HTTPException as exc:
        if exc.status in _HTTP_TEXT:
            return error_response(
                request,
                exc.status,
                f"http_{exc.status}",
                translate(request, _HTTP_TEXT[exc.status]),
            )
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            request,
            500,
            "internal",
            translate(
                request,
                N_(
                    "The server could not complete this request. Nothing you entered was saved. "
                    "Try again; if it happens again, tell the administrator the time it happened."
                ),
            ),
        )
