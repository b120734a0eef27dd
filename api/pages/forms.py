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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

from api import i18n
from api.compose import Runtime
from api.web.errors import status_of
from domain import errors
from domain.application import Recorded

CSRF_COOKIE = "minqing_csrf"
CSRF_FIELD = "csrf_token"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Rejection:
    """A refused form: the message for the whole form and for each field, and what was typed."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
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


async def checked_form(request: Request) -> dict[str, str]:
    """The form's fields, after its CSRF token was checked against the cookie."""
    form = await request.form()
    sent, kept = form.get(CSRF_FIELD), request.cookies.get(CSRF_COOKIE)
    if not (isinstance(sent, str) and kept and hmac.compare_digest(sent, kept)):
        raise CsrfRefused
    return {key: value for key, value in form.multi_items() if isinstance(value, str) and key != CSRF_FIELD}


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def rejection_of(error: Exception, values: dict[str, str]) -> Rejection:
    """What a person reads when the domain, or the form's model, refuses a form."""
    if isinstance(error, ValidationError):
        fields = {".".join(str(p) for p in e["loc"]): i18n.gettext("This value is not valid")
                  for e in error.errors()}
        return Rejection(i18n.gettext("Some values are not valid: see the marked fields"), fields, values)
    assert isinstance(error, errors.DomainError)
    message = error.message
    named = getattr(error, "field", None)
    return Rejection(message, {named: message} if named else {}, values, status=status_of(error))


async def submit(request: Request, model: type[M], command: Callable[[M], Recorded], *,
                 done: Callable[[Recorded], str],
                 again: Callable[[Rejection], Awaitable[Response]]) -> Response:
    """Run a form's command as the API runs one (`Runtime.command`); 303 to the page `done` names, or
    `again` with the rejection when the form's values or the domain refuse it."""
    runtime: Runtime = request.app.state.runtime
    values = await checked_form(request)
    try:
        # a control left empty is sent as "": the field was not given (its default applies)
        form = model.model_validate({key: value for key, value in values.items() if value != ""})
        recorded = await runtime.command(lambda: command(form), None, None)
    except (ValidationError, errors.DomainError) as error:
        return await again(rejection_of(error, values))
    return see_other(done(recorded))
