"""Pages are rendered on the server from Jinja2 templates, translated through the Babel catalogs.

One environment per process (templates are compiled once); `render` gives every template the request,
the signed-in account (when there is one), the language, the CSRF token and the formatting helpers.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from api import i18n
from api.names import Names
from api.pages import forms
from domain.application import scopes_for


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("api.pages", "templates"), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"], undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(duration=i18n.duration, due=i18n.due, number=i18n.number, locales=i18n.LOCALES)
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language. `context` may hold `rejection` (a refused form: its message
    beside its field, and what was typed)."""
    runtime = request.app.state.runtime
    zone = runtime.app.deployment.timezone
    account = getattr(request.state, "account", None)
    page = environment().get_template(template).render(
        request=request, locale=i18n.current.get(), account=account,
        sees_dashboards=account is not None and bool(scopes_for(account, "read_dashboards")),
        csrf_token=forms.csrf_token(request), deployment=runtime.app.deployment,
        names=context.pop("names", None) or Names(runtime.app.deployment),
        when=lambda moment, date_only=False: i18n.when(moment, zone, date_only=date_only),
        rejection=context.pop("rejection", None), **context)
    response = HTMLResponse(page, status_code=status)
    forms.keep_csrf_cookie(request, response)
    return response
