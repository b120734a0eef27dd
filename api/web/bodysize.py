"""The request body's size limit: a body larger than `Settings.max_body_bytes` is refused with 413
problem+json, unread when its Content-Length says so, and as soon as it passes the limit when it
comes in chunks without one."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import i18n
from api.web import errors


class BodyTooLarge(HTTPException):
    """Raised while the body is read: an HTTP exception, so that FastAPI's body parsing lets it through
    to the problem mapping (api/web/errors.py) instead of calling it an unreadable body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, i18n.gettext("a request body may hold at most {limit} bytes").format(
            limit=limit))


class BodySizeLimit:
    """A pure ASGI middleware (see api.web.app.RequestLog). Outside the Idempotency-Key middleware,
    which reads the body itself, so that an oversized body claims no key."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self.refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:  # read by a middleware, outside the exception handlers
            if started:
                raise
            await self.refuse(scope, receive, send)

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = errors.problem(413, "body-too-large", i18n.gettext("The request body is too large"),
                                 str(BodyTooLarge(self.limit).detail), scope["path"])
        refused.headers["Connection"] = "close"  # the rest of the body is not read
        await refused(scope, receive, send)
