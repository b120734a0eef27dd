"""The language of each request (`api.i18n.current`): the page's remembered choice or Accept-Language."""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from api import i18n


class Language:
    """A pure ASGI middleware (see `api.web.app.RequestLog` for why not `BaseHTTPMiddleware`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie, accept = None, None
        for name, value in scope["headers"]:
            if name == b"cookie":
                morsel = SimpleCookie(value.decode("latin-1")).get(i18n.COOKIE)
                cookie = morsel.value if morsel else None
            elif name == b"accept-language":
                accept = value.decode("latin-1")
        token = i18n.current.set(i18n.negotiate(cookie, accept))
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.current.reset(token)
