"""The lean path for case commands: `POST /api/v1/demands/{id}/{command}` without FastAPI's
per-request work, answering exactly as the command's route does."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from uuid import UUID

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import cached_staff, expected_version, log_actor
from api.routes import demands
from api.routes.demands import COMMANDS, CaseCommand
from api.schemas import Command
from domain import errors

if TYPE_CHECKING:
    from domain.account import Account
    from domain.application import Minqing

COMMAND_PATH = re.compile(r"/api/v1/demands/([0-9a-f-]{36})/([a-z-]+)")


class CommandPosts:
    """Runs a case command the common way, or hands the request, body and all, to its route.

    FastAPI matched a command against some 40 route patterns, resolved 7 dependencies and validated
    the response again: as much CPU as the command itself (docs/performance.md, "HTTP API"). This
    middleware takes the request when every part of it is plain: a JSON body the command's schema
    accepts, a valid bearer token of a cached account holding a role, and an If-Match that is absent
    or a version. It then does what the route does, with the same pieces (the command table,
    `cached_staff`, `expected_version`, the app's exception handlers). Anything else — a missing or
    unknown token, an invalid body, a malformed If-Match — goes to the route, which answers it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes = {route.path: route for route in demands.router.routes if isinstance(route, APIRoute)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (COMMAND_PATH.fullmatch(scope["path"])
                 if scope["type"] == "http" and scope["method"] == "POST" else None)
        command = COMMANDS.get(found.group(2)) if found else None
        if found is None or command is None:
            await self.app(scope, receive, send)
            return
        received = await _read(receive)
        taken = self._plain(scope, command, found.group(1), b"".join(m.get("body", b"") for m in received))
        if taken is None:
            await self.app(scope, _replay(received, receive), send)
            return
        app, demand_id, account, version, body = taken
        log_actor(account)
        scope["route"] = self.routes[f"{demands.router.prefix}/{{demand_id}}/{command.path}"]  # for the log
        try:
            done = await scope["app"].state.runtime.run_command(command, app, demand_id, account.username,
                                                                version, body)
        except Exception as error:
            handler = _handler(scope["app"].exception_handlers, error)
            if handler is None:
                raise
            response: Response = await handler(Request(scope), error)
        else:
            response = Response(done.model_dump_json(), media_type="application/json")
        await response(scope, receive, send)

    def _plain(self, scope: Scope, command: CaseCommand, demand_id: str, raw: bytes
               ) -> tuple[Minqing, UUID, Account, int | None, Command] | None:
        """What the route would pass the command, when it is sure to get that far; else None."""
        headers = _headers(scope)
        content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/json" or not _canonical_uuid(demand_id):
            return None
        app: Minqing = scope["app"].state.runtime.app
        account = cached_staff(app, headers.get("authorization"))
        if account is None:
            return None
        try:
            version = expected_version(headers.get("if-match"))
            body = command.body.model_validate(json.loads(raw))
        except (errors.InvalidInput, ValidationError, ValueError, RecursionError):  # If-Match, body
            return None
        return app, UUID(demand_id), account, version, body


def _headers(scope: Scope) -> dict[str, str]:
    """The first value of each header, as Starlette's `request.headers.get` gives it."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        found.setdefault(key.decode("latin-1"), value.decode("latin-1"))
    return found


def _canonical_uuid(value: str) -> bool:
    try:
        return str(UUID(value)) == value
    except ValueError:
        return False


async def _read(receive: Receive) -> list[Message]:
    """Every message of the request's body, as received (a disconnect included)."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _handler(handlers: dict[Any, Any], error: Exception) -> Any:
    """The app's handler for this error, found as Starlette's ExceptionMiddleware finds it (a handler
    for `Exception` is the server error middleware's, not its)."""
    for cls in type(error).__mro__:
        if cls in handlers and cls is not Exception:
            return handlers[cls]
    return None
