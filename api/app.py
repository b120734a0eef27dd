"""The FastAPI application: built in a factory, its runtime created in the lifespan."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from api import errors
from api.deps import request_facts
from api.idempotency import digest
from api.routes import audit, demands, households, public, views
from api.runtime import Runtime
from api.settings import Settings

log = structlog.get_logger("minqing.api")
REPLAYED_HEADERS = ("content-type", "location", "etag")


def create_app(settings: Settings | None = None, *, embedded_workers: bool = False) -> FastAPI:
    """The HTTP API under /api/v1 (OpenAPI at /openapi.json, docs at /docs)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.start(settings or Settings(), embedded_workers=embedded_workers)
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="民情 Minqing", version="1", lifespan=lifespan,
                  description="Residents' demands (诉求) and household visits (走访), event-sourced.")
    errors.install(app)
    for module in (demands, households, views, audit, public):
        app.include_router(module.router)

    @app.get("/api/v1/health", tags=["operations"])
    def health(request: Request) -> dict[str, Any]:
        """Liveness, and how far the views have got."""
        runtime: Runtime = request.app.state.runtime
        return {"status": "ok", "head": runtime.app.recorder.max_notification_id() or 0,
                "views": runtime.positions()}

    app.middleware("http")(idempotent_posts)
    app.middleware("http")(request_log)
    return app


async def request_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """One JSON log line per request: request id, actor, route, status, duration. No personal data."""
    request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    started = time.perf_counter()
    facts: dict[str, Any] = {}
    request_facts.set(facts)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await call_next(request)
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    route = request.scope.get("route")
    log.info("request", request_id=request_id, actor=facts.get("actor"),
             method=request.method, route=getattr(route, "path", request.url.path), status=response.status_code,
             duration_ms=round((time.perf_counter() - started) * 1000, 2))
    response.headers["X-Request-ID"] = request_id
    return response


async def idempotent_posts(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Idempotency-Key: a retried POST returns the first response and records nothing new."""
    key = request.headers.get("idempotency-key")
    if request.method != "POST" or key is None:
        return await call_next(request)
    if not key.strip() or len(key) > 200:
        return errors.problem(422, "invalid-idempotency-key", "Idempotency-Key is 1 to 200 characters",
                              "send a unique key of 1 to 200 characters", request.url.path)
    store = request.app.state.runtime.idempotency
    client = request.client.host if request.client else "unknown"
    scope = digest(request.headers.get("authorization") or f"public:{client}")
    fingerprint = digest(request.method, request.url.path, await request.body())
    stored = await run_in_threadpool(store.claim, scope, key, fingerprint)
    if stored is not None:
        if stored.fingerprint != fingerprint:
            return errors.problem(422, "idempotency-key-reused", "Idempotency-Key was used for another request",
                                  "use a new key for a different request", request.url.path)
        if stored.status is None:
            return errors.problem(409, "request-in-progress", "The first request with this key is still running",
                                  "retry in a moment", request.url.path, )
        return Response(stored.body, status_code=stored.status,
                        headers={**stored.headers, "Idempotent-Replayed": "true"})
    try:
        response = await call_next(request)
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
    except BaseException:
        await run_in_threadpool(store.release, scope, key)
        raise
    if response.status_code >= 500:
        await run_in_threadpool(store.release, scope, key)
    else:
        kept = {k: v for k, v in response.headers.items() if k in REPLAYED_HEADERS}
        await run_in_threadpool(store.complete, scope, key, response.status_code, kept, body)
    return Response(body, status_code=response.status_code, headers=dict(response.headers))
