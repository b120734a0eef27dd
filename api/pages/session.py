"""Who is signed in to the pages (staff only; residents' pages need no sign-in).

The browser holds a session's random id in a cookie: HttpOnly (no script reads it), SameSite=Lax (sent
when a link from elsewhere opens a page, never with another site's form or script), Secure when the
request came over HTTPS (as the connection says, or a trusted proxy's X-Forwarded-Proto), and with no
expiry of its own, so it goes when the browser closes. The session itself is kept in the database
(`api.web.sessions`: why there, and when it ends); bearer tokens for API clients are untouched.

`signed_in` is the dependency every staff page takes: it finds the session, loads the account as
stored now through the runtime's kept accounts, ends the session when the account's password was set
since, a role it held then was revoked or it holds no role, and sets `request.state.account` for the
layout. Without a live session the person is sent to /login, and back to the page afterwards.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from api.web.deps import log_actor
from domain import errors
from domain.account import Account

if TYPE_CHECKING:
    from api.compose import Runtime

COOKIE = "minqing_session"


class SignInRequired(Exception):
    """A staff page was asked for without a valid session: the person is sent to sign in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.location = f"/login?next={quote(next_path, safe='/')}"


def _account_of(runtime: Runtime, session_id: str) -> Account | None:
    """The account of a live session as stored now, or None (and the session ended) when it is not
    live or no longer holds. Reads the store: call it off the event loop."""
    session = runtime.sessions.find(session_id)
    if session is None:
        return None
    try:
        account = runtime.accounts.get(session.username)
    except errors.UnknownActor:
        account = None
    if (account is None or not account.grants or account.password_version != session.password_version
            or any(grant not in account.grants for grant in session.grants)):
        runtime.sessions.end(session_id)
        return None
    return account


async def current(request: Request) -> Account | None:
    """The signed-in member of staff, if there is one (set as `request.state.account`)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    account = await run_in_threadpool(partial(_account_of, request.app.state.runtime, session_id))
    if account is not None:
        request.state.account = account
        log_actor(account)
    return account


async def signed_in(request: Request) -> Account:
    account = await current(request)
    if account is None:
        # back to the page after sign-in; a form sent without a session cannot be sent again from there
        page = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(page if request.method == "GET" else "/queue")
    return account


SignedIn = Annotated[Account, Depends(signed_in)]


def begin(request: Request, response: Response, account: Account) -> None:
    """Start a session for `account` (which has a password and a role) and give its cookie to the browser.
    Writes to the database: call it off the event loop."""
    runtime: Runtime = request.app.state.runtime
    assert account.password_version is not None
    session_id = runtime.sessions.start(account.username, account.password_version, account.grants)
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


def end(request: Request, response: Response) -> None:
    """End this browser's session, if any, and take its cookie back. Writes to the database: call it off
    the event loop."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        runtime: Runtime = request.app.state.runtime
        runtime.sessions.end(session_id)
    response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                           path="/")
