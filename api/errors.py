"""Every error leaves the API as application/problem+json (RFC 9457), mapped in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import errors
from projections.queries import BadQuery

PROBLEM = "application/problem+json"

STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.UnknownActor: 401,
    errors.NotAuthorised: 403,
    errors.OutsideScope: 403,
    errors.ConcurrentUpdate: 409,
    errors.StaleVersion: 409,
    errors.InvalidInput: 422,
    errors.ImpossibleVoteCounts: 422,
    errors.VoteBodyNotAllowed: 422,
    errors.OccurredInFuture: 422,
    errors.AccountExists: 409,
}
DEFAULT_RULE_STATUS = 409  # the case's state does not allow the command


class Problem(Exception):
    """An HTTP-level problem that is not a domain rule (rate limit, idempotency, lagging views)."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def problem(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    body = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail,
            "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def status_of(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return DEFAULT_RULE_STATUS


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, error: errors.DomainError) -> JSONResponse:
        status = status_of(error)
        response = problem(status, error.code, (type(error).__doc__ or error.code).strip(), error.message,
                           request.url.path)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(Problem)
    async def http_problem(request: Request, error: Problem) -> JSONResponse:
        response = problem(error.status, error.code, error.code.replace("-", " "), error.detail, request.url.path)
        response.headers.update(error.headers)
        return response

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, error: BadQuery) -> JSONResponse:
        return problem(422, "bad-query", "The query is not one this view answers", str(error), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
                  for e in error.errors()]
        return problem(422, "invalid-request", "The request is not valid",
                       "; ".join(f"{f['path']}: {f['message']}" for f in fields), request.url.path, errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed", 401: "unauthenticated"}.get(error.status_code,
                                                                                      "http-error")
        response = problem(error.status_code, code, str(error.detail), str(error.detail), request.url.path)
        response.headers.update(error.headers or {})
        return response
