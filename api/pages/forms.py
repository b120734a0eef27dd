"""Forms on the pages: CSRF protection, and the one way a form is submitted.

CSRF: a random token in a cookie (SameSite=Strict, HttpOnly) that every form repeats in a hidden field
(`csrf_token`); a POST whose field does not match its cookie is refused. A cross-site page can neither
read the cookie nor make the browser send it, so it cannot forge the field.

`submit` parses a form into the same pydantic model the API uses, runs the command, and answers either
303 to the page that shows the result (Post/Redirect/Get) or the form's page again with the error beside
the field that caused it, in the page's language, keeping what was typed.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

from api import i18n
from api.compose import Runtime
from api.web.errors import Problem, described, status_of
from domain import errors
from domain.application import Recorded
from domain.deployment import Deployment

CSRF_COOKIE = "minqing_csrf"
CSRF_FIELD = "csrf_token"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Rejection:
    """A refused form: the message for the whole form and for each field, and what was typed."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)
    values: Mapping[str, str | list[str]] = field(default_factory=dict)
    status: int = 422


class CsrfRefused(Exception):
    """A form came without the token of the page it was sent from (or from another site)."""


def csrf_token(request: Request) -> str:
    """This browser's token (made on its first page and kept in `request.state` until set as a cookie)."""
    token: str | None = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
    request.state.csrf_token = token
    return token


def keep_csrf_cookie(request: Request, response: Response) -> None:
    token = getattr(request.state, "csrf_token", None)
    if token and request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")


def renew_csrf_token(request: Request, response: Response) -> None:
    """A new token at sign-in and sign-out: a token planted in the browser before (by a page of a
    neighbouring site, say) stops counting, as the session it was meant for changes."""
    request.state.csrf_token = secrets.token_urlsafe(32)
    keep_csrf_cookie(request, response)


async def checked_form(request: Request) -> dict[str, str]:
    """The form's fields (the last value sent under each name), after its CSRF token was checked."""
    return {key: values[-1] for key, values in (await checked_fields(request)).items()}


async def checked_fields(request: Request) -> dict[str, list[str]]:
    """Every value sent under each of the form's names (a group of checkboxes sends several), after its
    CSRF token was checked against the cookie."""
    form = await request.form()
    sent, kept = form.get(CSRF_FIELD), request.cookies.get(CSRF_COOKIE)
    if not (isinstance(sent, str) and kept and hmac.compare_digest(sent, kept)):
        raise CsrfRefused
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key != CSRF_FIELD:
            fields.setdefault(key, []).append(value)
    return fields


def _takes_list(model: type[BaseModel], name: str) -> bool:
    found = model.model_fields.get(name)
    kinds = () if found is None else (found.annotation, *get_args(found.annotation))
    return any(kind is list or get_origin(kind) is list for kind in kinds)


def form_values(model: type[BaseModel], fields: dict[str, list[str]]) -> dict[str, str | list[str]]:
    """A form's fields as `model` takes them: every value of a field the model takes as a list, the
    last of any other. A field left empty is not sent on, so the model's default applies (an empty
    optional name is None, not a name of no letters) or, for a required field, "required"."""
    values: dict[str, str | list[str]] = {}
    for name, sent in fields.items():
        if _takes_list(model, name):  # ticked boxes, or a text area with one item per line
            values[name] = [line.strip() for value in sent for line in value.splitlines() if line.strip()]
        elif sent[-1].strip():
            values[name] = sent[-1]
    return values


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def local_path(path: str, otherwise: str = "/") -> str:
    """`path` when it is a page of this site, else `otherwise`: a link may say where to go next, never to
    another site (`//host`, `/\\host` and `/<tab>/host` are other sites to a browser)."""
    target = urlsplit(path)
    if (target.scheme or target.netloc or not path.startswith("/") or path.startswith(("//", "/\\"))
            or any(c < " " for c in path)):
        return otherwise
    return path


def rejection_of(error: Exception, values: Mapping[str, str | list[str]],
                 deployment: Deployment) -> Rejection:
    """What a person reads when the domain, the form's model or a limit (a `Problem`) refuses a form: in the
    page's language, a domain error worded as the API words it (`described`)."""
    if isinstance(error, ValidationError):
        # A list's item is marked on the list's field ("needs_found", not "needs_found.2").
        fields = {str(e["loc"][0]) if e["loc"] else "": i18n.gettext("This value is not valid")
                  for e in error.errors()}
        return Rejection(i18n.gettext("Some values are not valid: see the marked fields"), fields, values)
    if isinstance(error, Problem):  # too many requests: said above the form, which keeps what was typed
        return Rejection(error.detail, {}, values, status=error.status)
    assert isinstance(error, errors.DomainError)
    if isinstance(error, errors.StaleVersion):
        message = i18n.gettext("Someone changed this since you opened the page: reload it and try again")
        return Rejection(message, {}, values, status=status_of(error))
    _title, message = described(error, deployment)
    return Rejection(message, dict.fromkeys(error.fields, message), values, status=status_of(error))


async def submit(request: Request, model: type[M], command: Callable[[M], Recorded], *,
                 done: Callable[[Recorded], str],
                 again: Callable[[Rejection], Awaitable[Response]]) -> Response:
    """Run a form's command as the API runs one (`Runtime.command`); 303 to the page `done` names, or
    `again` with the rejection when the form's values or the domain refuse it."""
    runtime: Runtime = request.app.state.runtime
    values = form_values(model, await checked_fields(request))
    try:
        form = model.model_validate(values, strict=False)  # numbers arrive as text
        recorded = await runtime.command(lambda: command(form), None, None)
    except (ValidationError, errors.DomainError, Problem) as error:
        return await again(rejection_of(error, values, runtime.app.deployment))
    return see_other(done(recorded))


def in_zone(moment: datetime | None, zone: str) -> datetime | None:
    """A time typed into a date-and-time field (it has no zone) as a moment in the deployment's zone."""
    return moment.replace(tzinfo=ZoneInfo(zone)) if moment is not None else None
