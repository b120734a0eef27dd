"""Every error is answered here, in one place, in the request's language (`api.i18n.current`): on the API
and the other machine paths as application/problem+json (RFC 9457), on a page as an HTML error page.

A problem's `type` and each `errors[].path` are for machines and never translated; its `title` and
`detail` are. A domain error carries an English template and its parameters (domain/errors.py), turned
into words by `described`, for the API and for the pages' forms alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
import structlog
from eventsourcing import persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api import i18n
from api.eventstore import DatabaseUnavailable
from api.exports import XLSX
from api.names import Names
from domain import errors
from domain.deployment import Deployment
from projections.paging import BadQuery

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
    BadQuery: 422,
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


# Paths answered for programs (problem+json); every other path is a page, answered with an HTML error page.
MACHINE_PATHS = ("/api", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc", "/static")
ErrorPage = Callable[[Request, int, str, str], Response]  # (request, status, title, detail) -> the page


class Problem(Exception):
    """An HTTP-level problem that is not a domain rule (rate limit, idempotency, lagging views); its title
    and detail are in the request's language (`i18n.gettext` where it is raised)."""

    def __init__(self, status: int, code: str, title: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers = headers or {}


def for_machines(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in MACHINE_PATHS)


def described(error: errors.DomainError, deployment: Deployment) -> tuple[str, str]:
    """A domain error's title and detail in the current locale: the catalogs translate the class's title
    and the raise site's template; its parameters fill the template in, times in the deployment's zone
    and words of the vocabulary (a step, an outcome, a cell...) by their names (`Names.parameter`)."""
    names = Names(deployment)
    params = {name: moment(value, deployment.timezone) if isinstance(value, datetime)
              else names.parameter(name, value) for name, value in error.params.items()}
    return i18n.gettext(error.title), i18n.gettext(error.template).format(**params)


def moment(value: datetime, zone: str) -> str:
    try:
        return i18n.when(value, zone)
    except OverflowError:  # a time at the ends of the calendar (year 1, 9999) has no place in the zone
        return value.isoformat()


def problem(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    body = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail,
            "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def unavailable(path: str, error: BaseException) -> JSONResponse:
    """The answer, logged, when the database does not answer (see `UNAVAILABLE`)."""
    title, detail = unanswered(path, error)
    response = problem(503, "database-unavailable", title, detail, path)
    response.headers["Retry-After"] = RETRY_UNAVAILABLE
    return response


def unanswered(path: str, error: BaseException) -> tuple[str, str]:
    """Log that the database did not answer; the title and detail that say so."""
    log.warning("database_unavailable", path=path, error_type=type(error).__name__,
                error=str(error).splitlines()[0] if str(error) else repr(error))
    return (i18n.gettext("The database does not answer"),
            i18n.gettext("nothing was recorded; try again in a moment"))


RETRY_UNAVAILABLE = "2"  # seconds


def status_of(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return DEFAULT_RULE_STATUS


def install(app: FastAPI, error_page: ErrorPage) -> None:
    """Map every error to a problem, or on a page to `error_page`, and say so in the OpenAPI document."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build_openapi()  # built once, then kept in app.openapi_schema
        if "Problem" not in schema.get("components", {}).get("schemas", {}):
            document_problems(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document

    def answer(request: Request, status: int, code: str, title: str, detail: str,
               headers: dict[str, str] | None = None, **extra: Any) -> Response:
        """The one decision: a problem for programs, an error page for people."""
        path = request.url.path
        response = (problem(status, code, title, detail, path, **extra) if for_machines(path)
                    else error_page(request, status, title, detail))
        response.headers.update(headers or {})
        return response

    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, error: errors.DomainError) -> Response:
        status = status_of(error)
        title, detail = described(error, request.app.state.runtime.app.deployment)
        # A field is the request body's unless the error names where it is (`query.as_of`).
        named = ({"errors": [{"path": field if "." in field else f"body.{field}", "message": detail,
                              "type": error.code} for field in error.fields]} if error.fields else {})
        challenge = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return answer(request, status, error.code, title, detail, challenge, **named)

    @app.exception_handler(Problem)
    async def http_problem(request: Request, error: Problem) -> Response:
        return answer(request, error.status, error.code, error.title, error.detail, error.headers)

    async def database_unavailable(request: Request, error: Exception) -> Response:
        title, detail = unanswered(request.url.path, error)
        return answer(request, 503, "database-unavailable", title, detail, {"Retry-After": RETRY_UNAVAILABLE})

    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, database_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        # A fault of ours: logged as JSON with its traceback, answered as a problem like any other error.
        # Starlette calls this outside the middleware, so after `api.web.language` has let go of the
        # request's language: it is chosen again here.
        log.error("unexpected_error", path=request.url.path, exc_info=error)
        with i18n.speaking(i18n.negotiate(request.cookies.get(i18n.COOKIE),
                                          request.headers.get("accept-language"))):
            return answer(request, 500, "internal-error", i18n.gettext("Something went wrong on our side"),
                          i18n.gettext("the request failed; it has been logged"))

    @app.exception_handler(DataError)
    async def unsearchable(request: Request, error: DataError) -> Response:
        # Commands write through the event store; this comes from a view read with a value the database
        # cannot compare, e.g. a NUL character in a query parameter on PostgreSQL.
        return answer(request, 422, BadQuery.code, i18n.gettext(BadQuery.title),
                      i18n.gettext("a value in the request cannot be searched for"))

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> Response:
        # Each field's message stays pydantic's (English); the title and the detail are translated.
        fields = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
                  for e in error.errors()]
        detail = i18n.gettext("These values are not valid: {fields}").format(
            fields=", ".join(f["path"] for f in fields))
        return answer(request, 422, "invalid-request", i18n.gettext("The request is not valid"), detail,
                      errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        codes = {400: "unreadable-body", 401: "unauthenticated", 404: "not-found", 405: "method-not-allowed",
                 413: "body-too-large"}
        code = codes.get(error.status_code, "http-error")
        title, detail = http_words(request, error)
        headers = dict(error.headers or {})
        if error.status_code == 405:  # every method the path answers, not only those of the first route found
            headers["Allow"] = ", ".join(
                method for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
                if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                       for route in request.app.router.routes))
        return answer(request, error.status_code, code, title, detail, headers)


def http_words(request: Request, error: StarletteHTTPException) -> tuple[str, str]:
    """The title and detail of an HTTP error raised by Starlette or FastAPI, in the request's language."""
    gettext, path = i18n.gettext, request.url.path
    match error.status_code:
        case 400:
            return gettext("The request cannot be read"), gettext("the body is not UTF-8 JSON or form data")
        case 401:
            return gettext("Sign in first"), gettext("this needs a valid bearer token")
        case 404:
            return gettext("Not found"), gettext("nothing is found at {path}").format(path=path)
        case 405:
            return (gettext("Method not allowed"),
                    gettext("{path} does not answer {method}").format(path=path, method=request.method))
        case 413:  # BodyTooLarge, worded when raised
            return gettext("The request body is too large"), str(error.detail)
        case _:
            return str(error.detail), str(error.detail)


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
            statuses |= {int(code) for code in responses if code in ("404", "409")}  # a route's own
            for status in sorted(statuses):
                responses[str(status)] = {"description": PROBLEMS[status], "content": problem_content}
            if "format" in names:
                ok = next(r for code, r in responses.items() if code.startswith("2"))
                content = ok.setdefault("content", {})
                content["text/csv"] = {"schema": {"type": "string"}}
                content[XLSX] = {"schema": {"type": "string", "contentMediaType": XLSX}}
            operation["responses"] = dict(sorted(responses.items()))
