"""Typed dependencies: the runtime, the caller's account, its read scope, and header values."""

from __future__ import annotations

from contextvars import ContextVar
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api import auth
from api.compose import Runtime
from domain import errors
from domain.account import Account
from domain.application import Minqing
from domain.deployment import Deployment

# Per-request facts for the request log, filled in by dependencies running in other threads.
request_facts: ContextVar[dict[str, Any] | None] = ContextVar("minqing_request_facts", default=None)

# Dependencies that neither read the store nor wait are `async def`: FastAPI runs a plain `def`
# dependency in the thread pool, a hand-off to another thread and back for each one, which cost
# more than a command's own work (docs/performance.md, "HTTP API").

bearer = HTTPBearer(auto_error=False, description="A staff token from `minqing accounts issue-token`")


async def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime  # set by the app's lifespan
    return found


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def application(rt: RuntimeDep) -> Minqing:
    return rt.app


App = Annotated[Minqing, Depends(application)]


async def staff(rt: RuntimeDep,
                credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Account:
    """The signed-in member of staff; 401 without a valid token, 403 without any role."""
    if credentials is None:
        raise errors.UnknownActor("sign in with a bearer token")
    # Reads the account's latest version from the store (and the account when it moved), in a
    # thread: a token or role revoked in any process is refused from the next request on.
    account = await run_in_threadpool(partial(auth.authenticate, rt.accounts, credentials.credentials,
                                              lifetime=rt.settings.token_lifetime, now=rt.app.clock()))
    if not account.grants:
        raise errors.NotAuthorised("{user} holds no role", user=account.username)
    log_actor(account)
    return account


def log_actor(account: Account) -> None:
    """Name the caller in this request's log line."""
    facts = request_facts.get()
    if facts is not None:
        facts["actor"] = account.username


Staff = Annotated[Account, Depends(staff)]


async def read_scope(account: Staff, rt: RuntimeDep) -> list[str]:
    """Every cell the caller may read: the subtrees of all their grants, whatever the role."""
    return readable_cells(account, rt.app.deployment)


def readable_cells(account: Account, deployment: Deployment) -> list[str]:
    """The subtrees of all the account's grants, whatever the role (the API's and the pages' scope)."""
    cells: set[str] = set()
    for _, cell in account.grants:
        cells.update(deployment.subtree(cell))
    return sorted(cells)


Scope = Annotated[list[str], Depends(read_scope)]


async def if_match(
        if_match: Annotated[str | None, Header(description="The version the command expects")] = None,
) -> int | None:
    return expected_version(if_match)


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header names (`7`, `"7"` or `W/"7"`); None without the header."""
    if if_match is None:
        return None
    value = if_match.strip().strip('"').removeprefix("W/").strip('"')
    if not value.isdigit():
        raise errors.InvalidInput("If-Match is the case's version number, e.g. If-Match: 7")
    return int(value)


IfMatch = Annotated[int | None, Depends(if_match)]


async def request_record(request: Request) -> UUID | None:
    """The record of a request sent with an Idempotency-Key, under which its command is recorded at most
    once (`Runtime.command`); set by `IdempotentPosts`, None without the header."""
    record: UUID | None = getattr(request.state, "request_record", None)
    return record


RequestRecord = Annotated[UUID | None, Depends(request_record)]


def masks_personal_data(account: Account) -> bool:
    """Reviewers and admins see names and phone numbers masked; workers and supervisors do not."""
    return not any(role in ("worker", "supervisor") for role, _ in account.grants)
