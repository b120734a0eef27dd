"""The web pages (server-rendered, Chinese first): staff pages behind sign-in, the residents' pages (no
sign-in: `public`), and the language switch.

Every page module adds its routes to `router`; `install` adds the router, the static files and the
page-only error answers to the app. A page that fails otherwise (not found, outside the actor's scope,
refused by the case's state, the database not answering, a fault of ours) is answered by `error_page`,
which api/web/errors.py calls for every path that is not the API's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.staticfiles import StaticFiles

from api import i18n
from api.pages import (
    cases,
    dashboards,
    households,
    notice_proofs,
    public,
    queue,
    raise_demand,
    session,
    signin,
    trace,
)
from api.pages.forms import CsrfRefused, local_path, see_other
from api.pages.render import render
from api.pages.session import SignInRequired

STATIC = Path(__file__).parent / "static"
LANGUAGE_COOKIE_DAYS = 365
PUBLIC_PATHS = ("/notices", "/report", "/track")  # the residents' pages: their errors lead back to them

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    """A signed-in member of staff goes to their queue; anyone else to the sign-in page."""
    return see_other("/queue" if await session.current(request) else "/login")


@router.get("/lang/{locale}")
async def choose_language(locale: str, next: Annotated[str, Query()] = "/") -> Response:
    """The language switch: remembered in a cookie for a year."""
    response = see_other(local_path(next))
    if locale in i18n.LOCALES:
        response.set_cookie(i18n.COOKIE, locale, max_age=LANGUAGE_COOKIE_DAYS * 24 * 3600, samesite="lax",
                            path="/")
    return response


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    """A page that failed, in the page's language: what happened, what to do, and the way back."""
    return render(request, "error.html", status=status, title=title, detail=detail, status_code=status,
                  public=request.url.path.startswith(PUBLIC_PATHS))


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(signin.router)
    app.include_router(queue.router)
    app.include_router(raise_demand.router)  # before the case page, whose /cases/{id} would take /cases/new
    app.include_router(cases.router)
    app.include_router(households.router)
    app.include_router(public.router)
    app.include_router(notice_proofs.router)
    app.include_router(dashboards.router)
    app.include_router(trace.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, error: SignInRequired) -> Response:
        return see_other(error.location)

    @app.exception_handler(CsrfRefused)
    async def forged(request: Request, error: CsrfRefused) -> Response:
        await session.current(request)  # the menu of whoever is signed in, as on every page
        return render(request, "refused.html", status=403,
                      message=i18n.gettext("This form has expired or did not come from this site. "
                                           "Go back, reload the page and send it again."))
