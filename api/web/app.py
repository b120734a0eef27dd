"""The FastAPI application: built in a factory, its runtime created in the lifespan."""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import pages
from api.compose import Runtime
from api.i18n import gettext
from api.rest import audit, demands, deployment, households, notice_proofs, operations, public, sealing, views
from api.settings import Settings
from api.web import errors
from api.web.bodysize import BodySizeLimit
from api.web.deps import request_facts
from api.web.headers import SecurityHeaders
from api.web.idempotency import Stored, digest
from api.web.language import Language
from domain.request import request_record_id
from workers.embedded import start_embedded
from workers.logs import configure as configure_logs

log = structlog.get_logger("minqing.api")
REPLAYED_HEADERS = ("content-type", "location", "etag")
IN_PROGRESS_RETRY_AFTER = "1"  # seconds: most requests take milliseconds; a dead one's claim, the lease


def create_app(settings: Settings | None = None, *, embedded_workers: bool = False) -> FastAPI:
    """The HTTP API under /api/v1 (OpenAPI at /openapi.json, docs at /docs)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.open(settings)
        if embedded_workers:
            start_embedded(runtime)
        app.state.runtime = runtime
        # What exists now (modules, routes, schemas, the runtime: ~120,000 objects) lives as long as the
        # process. Unfrozen, every full collection walked it all (30-65 ms), about once in 20 histories of
        # a 1,000-event case: history p99 82-96 ms against the 50 ms target, and 101 ms at half the
        # maximum command rate on PostgreSQL against 100 ms; frozen, 19-26 ms and 16 ms (bench.http_commands,
        # docs/performance.md "HTTP API after the renovation"). Undone on shutdown, for apps started in tests.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            runtime.close()
            gc.unfreeze()

    app = FastAPI(title="民情 Minqing", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Residents' demands (诉求) and household visits (走访), event-sourced.")

    @app.get("/docs", include_in_schema=False)
    async def documentation() -> HTMLResponse:
        """The API's documentation, with Swagger UI served from our own files (FastAPI's default loads it
        from a CDN, which no machine here reaches)."""
        swagger = "/static/vendor/swagger-ui"
        return get_swagger_ui_html(openapi_url="/openapi.json", title="民情 Minqing API",
                                   swagger_js_url=f"{swagger}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{swagger}/swagger-ui.css",
                                   swagger_favicon_url=f"{swagger}/favicon-32x32.png")
    errors.install(app, pages.error_page)
    for module in (demands, households, views, audit, public, sealing, notice_proofs, operations,
                   deployment):
        app.include_router(module.router)
    pages.install(app)
    app.add_middleware(IdempotentPosts)
    app.add_middleware(BodySizeLimit, limit=(settings or Settings()).max_body_bytes)
    app.add_middleware(Language)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)  # added last, so outermost: it logs what the client got
    return app


def api_process() -> FastAPI:
    """The app of one of several API processes (`minqing api --workers N`). They are spawned afresh, so
    each sets up the JSON logs itself (without this, every process but a lone one logged in structlog's
    console format)."""
    configure_logs()
    return create_app()


class RequestLog:
    """One JSON log line per request: request id, actor, route, status, duration. No personal data.

    A pure ASGI middleware: Starlette's `BaseHTTPMiddleware` (`app.middleware("http")`) runs the
    rest of the app in another task with memory streams between them, which cost more CPU per
    request than a command's own work (docs/performance.md, "HTTP API")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id")[:64] or uuid.uuid4().hex
        started = time.perf_counter()
        facts: dict[str, Any] = {}
        reset = request_facts.set(facts)
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode("latin-1"))]}
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            request_facts.reset(reset)
            route = scope.get("route")
            log.info("request", request_id=request_id, actor=facts.get("actor"), method=scope["method"],
                     route=getattr(route, "path", scope["path"]), status=status,
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))


class IdempotentPosts:
    """Idempotency-Key: a retried POST returns the first response and records nothing new.

    A pure ASGI middleware (see `RequestLog`); requests without the header pass straight through.

    While the first request with a key runs, a retry answers 409 request-in-progress with Retry-After.
    A request that died (its process killed) leaves its claim with no response; once the claim is older
    than `Settings.idempotency_lease_seconds` a retry takes it over (`IdempotencyStore.claim`) and runs
    the request again. Its command is recorded under the key's record (`Minqing.once`), so if the dead
    request had recorded it, it is not run again: the route answers from what was recorded (its usual
    status and shape, the aggregate's id and version; the position is the log's head at that moment,
    at or after the recorded events, so `?after=` shows them), marked Idempotent-Replayed, and that
    answer is kept for later retries. The same holds, without the mark, for a request whose claim was
    taken over while it was still running: whichever run saves second records nothing and answers
    from the first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = _header_or_none(scope, b"idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not key.strip() or len(key) > 200:
            refused = errors.problem(422, "invalid-idempotency-key",
                                     gettext("Idempotency-Key is 1 to 200 characters"),
                                     gettext("send a unique key of 1 to 200 characters"), request.url.path)
            await refused(scope, receive, send)
            return
        store = scope["app"].state.runtime.idempotency
        client = request.client.host if request.client else "unknown"
        # Without a token the client's address may be shared (NAT), so the route narrows the scope too.
        who = digest(request.headers.get("authorization") or f"public:{client}:{request.url.path}")
        body = await request.body()
        fingerprint = digest(request.method, request.url.path, body)
        try:
            stored = await run_in_threadpool(store.claim, who, key, fingerprint)
        except errors.UNAVAILABLE as error:  # outside the app's error mapping, so answered here
            await errors.unavailable(request.url.path, error)(scope, receive, send)
            return
        if isinstance(stored, Stored):
            answer: Response
            if stored.fingerprint != fingerprint:
                answer = errors.problem(422, "idempotency-key-reused",
                                        gettext("Idempotency-Key was used for another request"),
                                        gettext("use a new key for a different request"), request.url.path)
            elif stored.status is None:
                answer = errors.problem(409, "request-in-progress",
                                        gettext("The first request with this key is still running"),
                                        gettext("retry in a moment"), request.url.path)
                answer.headers["Retry-After"] = IN_PROGRESS_RETRY_AFTER
            else:
                answer = Response(stored.body, status_code=stored.status,
                                  headers={**stored.headers, "Idempotent-Replayed": "true"})
            await answer(scope, receive, send)
            return
        claim = stored
        record = request_record_id(who, key)
        scope.setdefault("state", {})["request_record"] = record  # read by the routes (`deps.RequestRecord`)

        sent_body = False

        async def replay_body() -> Message:  # the app reads the body this middleware has already read
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            application = scope["app"].state.runtime.app
            replayed = claim.taken_over and await run_in_threadpool(application.handled, record) is not None
        except errors.UNAVAILABLE as error:  # outside the app's error mapping, as the claim above
            await self._settle(store.release, who, key, claim)
            await errors.unavailable(request.url.path, error)(scope, receive, send)
            return
        try:
            await self.app(scope, replay_body, keep)
        except BaseException:
            await self._settle(store.release, who, key, claim)
            raise
        answered = b"".join(chunks)
        status = start["status"]
        if not 200 <= status < 300:  # nothing was recorded: the request may be retried under its key
            await self._settle(store.release, who, key, claim)
        else:
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            kept = {k: v for k, v in headers.items() if k in REPLAYED_HEADERS}
            await self._settle(store.complete, who, key, claim, status, kept, answered)
            if replayed:
                headers["Idempotent-Replayed"] = "true"
                start = {**start, "headers": headers.raw}
        await send(start)
        await send({"type": "http.response.body", "body": answered, "more_body": False})

    @staticmethod
    async def _settle(step: Callable[..., None], *args: Any) -> None:
        """Complete or release a claim. The client still gets the app's answer if the database stopped
        answering meanwhile: it is true (a 2xx was recorded, anything else was not). The claim then stays
        until a retry takes it over (issue 10, item 2: a claim whose request died, after its lease)."""
        try:
            await run_in_threadpool(step, *args)
        except errors.UNAVAILABLE as error:
            log.warning("idempotency_key_unsettled", step=step.__name__, error_type=type(error).__name__)


def _header_or_none(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _header(scope: Scope, name: bytes) -> str:
    return _header_or_none(scope, name) or ""
