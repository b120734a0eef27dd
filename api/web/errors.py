"""Every error leaves the API as application/problem+json (RFC 9457), mapped in one place."""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from eventsourcing import persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.eventstore import DatabaseUnavailable
from domain import errors
from projections.queries import BadQuery

PROBLEM = "application/problem+json"
log = structlog.get_logger("minqing.api")

STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.UnknownActor: 401,
    errors.NotAuthorised: 403,
    errors.OutsideScope: 403,
    errors.ConcurrentUpdate: 409,
    errors.StaleVersion: 409,
    errors.InvalidInput: 422,
    errors.UnknownReference: 422,
    errors.ImpossibleVoteCounts: 422,
    errors.VoteBodyNotAllowed: 422,
    errors.OccurredInFuture: 422,
    errors.OccurredBeforeCase: 422,
    errors.OccurredOutOfOrder: 422,
    errors.AccountExists: 409,
}
DEFAULT_RULE_STATUS = 409  # the case's state does not allow the command

# What a database that does not answer raises (down, restarting, unreachable, or busy beyond a timeout), from
# the event store and from the views' and the API's tables: nothing was recorded, and the same request may be
# sent again shortly. psycopg's own errors (and psycopg_pool's PoolTimeout, one of them) should arrive wrapped
# by the library or SQLAlchemy; they are listed so that one that does not is still a 503.
UNAVAILABLE: tuple[type[Exception], ...] = (
    DatabaseUnavailable, persistence.OperationalError, persistence.InterfaceError,
    exc.OperationalError, exc.InterfaceError, exc.TimeoutError,
    psycopg.OperationalError, psycopg.InterfaceError,
)


class Problem(Exception):
    """An HTTP-level problem that is not a domain rule (rate limit, idempotency, lagging views)."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def problem(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    body = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail,
            "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def unavailable(path: str, error: BaseException) -> JSONResponse:
    """The answer, logged, when the database does not answer (see `UNAVAILABLE`)."""
    log.warning("database_unavailable", path=path, error_type=type(error).__name__,
                error=str(error).splitlines()[0] if str(error) else repr(error))
    response = problem(503, "database-unavailable", "The database does not answer",
                       "nothing was recorded; try again in a moment", path)
    response.headers["Retry-After"] = "2"
    return response


def status_of(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return DEFAULT_RULE_STATUS


def install(app: FastAPI) -> None:
    """Map every error to a problem, and say so in the OpenAPI document."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build_openapi()  # built once, then kept in app.openapi_schema
        if "Problem" not in schema.get("components", {}).get("schemas", {}):
            document_problems(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document

    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, error: errors.DomainError) -> JSONResponse:
        status = status_of(error)
        named = ({"errors": [{"path": f"body.{error.field}", "message": error.message,
                             "type": error.code}]}
                 if isinstance(error, errors.UnknownReference) else {})
        response = problem(status, error.code, (type(error).__doc__ or error.code).strip(), error.message,
                           request.url.path, **named)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(Problem)
    async def http_problem(request: Request, error: Problem) -> JSONResponse:
        response = problem(error.status, error.code, error.code.replace("-", " "), error.detail,
                           request.url.path)
        response.headers.update(error.headers)
        return response

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        return unavailable(request.url.path, error)

    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, database_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # A fault of ours: logged as JSON with its traceback, answered as a problem like any other error.
        log.error("unexpected_error", path=request.url.path, exc_info=error)
        return problem(500, "internal-error", "Internal Server Error",
                       "the request failed; it has been logged", request.url.path)

    @app.exception_handler(DataError)
    async def unsearchable(request: Request, error: DataError) -> JSONResponse:
        # Commands write through the event store; this comes from a view read with a value the database
        # cannot compare, e.g. a NUL character in a query parameter on PostgreSQL.
        return problem(422, "bad-query", "The query is not one this view answers",
                       "a value in the request cannot be searched for", request.url.path)

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, error: BadQuery) -> JSONResponse:
        return problem(422, "bad-query", "The query is not one this view answers", str(error),
                       request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
                  for e in error.errors()]
        return problem(422, "invalid-request", "The request is not valid",
                       "; ".join(f"{f['path']}: {f['message']}" for f in fields), request.url.path,
                       errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        codes = {400: "unreadable-body", 401: "unauthenticated", 404: "not-found", 405: "method-not-allowed",
                 413: "body-too-large"}
        code = codes.get(error.status_code, "http-error")
        response = problem(error.status_code, code, str(error.detail), str(error.detail), request.url.path)
        response.headers.update(error.headers or {})
        if error.status_code == 405:  # every method the path answers, not only those of the first route found
            response.headers["Allow"] = ", ".join(
                method for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
                if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                       for route in request.app.router.routes))
        return response


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem",
    "description": "An error (RFC 9457): `type` is /problems/<the rule broken>, e.g. /problems/not-triaged",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "description": "Each invalid field of the request, by its path",
                   "items": {"type": "object", "required": ["path", "message", "type"],
                             "properties": {"path": {"type": "string", "examples": ["body.title"]},
                                            "message": {"type": "string"}, "type": {"type": "string"}}}},
    },
    "required": ["type", "title", "status", "detail", "instance"],
}
PROBLEMS = {
    400: "The body cannot be read (not UTF-8 JSON)", 401: "No valid bearer token",
    403: "The role or the grid cells do not allow it", 404: "No such case, household, visit or receipt",
    409: "The case's state, or its version, does not allow it",
    413: "The request body is larger than MINQING_MAX_BODY_BYTES",
    422: "The request is not valid", 429: "Too many public requests: retry after Retry-After seconds",
    503: "The database does not answer (on /readyz: or the views lag; on /api/v1/audit/verify: or another "
         "verify runs): retry after Retry-After seconds",
    504: "The views did not reach ?after= in time: retry",
}
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "A retried POST with the same key gets the first response back; nothing is recorded "
                   "twice. While the first request runs: 409 request-in-progress, retry after Retry-After; "
                   "a key whose request died is taken over after a lease (MINQING_IDEMPOTENCY_LEASE_SECONDS)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def document_problems(schema: dict[str, Any]) -> None:
    """State in the OpenAPI document what each operation can answer: problems as application/problem+json
    (in place of FastAPI's default 422 body), CSV where ?format=csv is offered, Idempotency-Key on POSTs."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["Problem"] = PROBLEM_SCHEMA
    problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = operation.setdefault("parameters", [])
            names = {p["name"] for p in parameters}
            statuses = set()
            if parameters or "requestBody" in operation or method == "post":
                statuses.add(422)
            if "requestBody" in operation:
                statuses |= {400, 413}
            if operation.get("security"):
                statuses |= {401, 403}
            if "{" in path:
                statuses.add(404)
            if method == "post":
                statuses.add(409)
                parameters.append(IDEMPOTENCY_KEY)
            if "public" in operation.get("tags", []):
                statuses.add(429)
            if "after" in names or "{receipt}" in path:
                statuses.add(504)
            if path != "/healthz":  # everything else reads or writes the database
                statuses.add(503)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses[str(status)] = {"description": PROBLEMS[status], "content": problem_content}
            if "format" in names:
                ok = next(r for code, r in responses.items() if code.startswith("2"))
                ok.setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}
            operation["responses"] = dict(sorted(responses.items()))
