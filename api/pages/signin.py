"""Signing in and out, and my account (我的账户): who I am, my roles, changing my password.

A failed sign-in, or a wrong current password when changing it, counts towards the back-off
(`api.web.backoff`); while a wait runs, no password is checked and the page says how long is left. An
unknown user name and a wrong password read the same and take as long (`api.auth.password_matches`).
Passwords typed are never sent back in a page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api import auth, i18n
from api.pages import session
from api.pages.forms import Rejection, checked_form, local_path, renew_csrf_token, see_other
from api.pages.render import render
from api.pages.session import SignedIn
from domain import errors
from domain.account import Account

if TYPE_CHECKING:
    from api.compose import Runtime

router = APIRouter(include_in_schema=False)
AFTER_SIGN_IN = "/queue"


def _runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


def _address(request: Request) -> str:
    """The client's address, as the trusted-proxy setting lets the server know it."""
    return request.client.host if request.client else "unknown"


def _waiting(seconds: float) -> str:
    wait = i18n.duration(timedelta(minutes=math.ceil(seconds / 60)))
    return i18n.gettext("Too many failed attempts: try again in {wait}.").format(wait=wait)


def _retry_after(response: Response, wait: float) -> Response:
    if wait:
        response.headers["Retry-After"] = str(math.ceil(wait))
    return response


@dataclass(frozen=True)
class Attempt:
    account: Account | None = None  # the account, when the password was its own
    wait: float = 0.0               # seconds before the next attempt may be made
    checked: bool = True            # False: refused during a wait, the password left unchecked

    def refusal(self, wrong: str, *, field: str | None = None, values: dict[str, str] | None = None
                ) -> Rejection:
        """Why the attempt failed, in the page's language: the wait it ran into (429), or `wrong` (422),
        with the wait it has just earned, if any (429)."""
        if not self.checked:
            return Rejection(_waiting(self.wait), values=values or {}, status=429)
        message = wrong
        if self.wait:  # two sentences: Chinese puts no space between them
            message = i18n.gettext("{reason} {wait}").format(reason=wrong, wait=_waiting(self.wait))
        return Rejection(message, {field: wrong} if field else {}, values or {},
                         status=429 if self.wait else 422)


def _attempt(runtime: Runtime, username: str, password: str, address: str) -> Attempt:
    """Check a user name's password, unless a wait runs for the name or the address; count a failure,
    clear the name's count on success. Reads and writes the database: call it off the event loop."""
    wait = runtime.sign_ins.wait(username, address)
    if wait:
        return Attempt(wait=wait, checked=False)
    try:
        account: Account | None = runtime.accounts.get(username)
    except errors.UnknownActor:
        account = None
    if not auth.password_matches(account, password):
        return Attempt(wait=runtime.sign_ins.failed(username, address))
    runtime.sign_ins.succeeded(username)
    return Attempt(account)


@router.get("/login")
async def login_page(request: Request, next: Annotated[str, Query()] = AFTER_SIGN_IN) -> Response:
    """The sign-in form; someone signed in already goes on to `next`."""
    if await session.current(request) is not None:
        return see_other(local_path(next, AFTER_SIGN_IN))
    return render(request, "login.html", next=local_path(next, AFTER_SIGN_IN))


@router.post("/login")
async def sign_in(request: Request) -> Response:
    """Sign in with a user name and password; on to `next` (a page of this site) or the queue."""
    values = await checked_form(request)
    username, password = values.get("username", "").strip(), values.get("password", "")
    target = local_path(values.get("next", ""), AFTER_SIGN_IN)
    attempt = await run_in_threadpool(_attempt, _runtime(request), username, password, _address(request))
    account, typed = attempt.account, {"username": username}
    if account is None:
        rejection = attempt.refusal(i18n.gettext("Wrong user name or password."), values=typed)
        page = render(request, "login.html", status=rejection.status, rejection=rejection, next=target)
        return _retry_after(page, attempt.wait)
    if not account.grants:
        rejection = Rejection(i18n.gettext("This account holds no role: ask your administrator for one."),
                              values=typed, status=403)
        return render(request, "login.html", status=403, rejection=rejection, next=target)
    response = see_other(target)
    await run_in_threadpool(session.begin, request, response, account)
    renew_csrf_token(request, response)
    return response


@router.post("/logout")
async def sign_out(request: Request) -> Response:
    """Sign out: the session ends for good, here and in every API process."""
    await checked_form(request)
    response = see_other("/login")
    await run_in_threadpool(session.end, request, response)
    renew_csrf_token(request, response)
    return response


def _account_page(request: Request, *, changed: bool = False, rejection: Rejection | None = None,
                  wait: float = 0.0) -> Response:
    page = render(request, "account.html", status=rejection.status if rejection else 200, changed=changed,
                  rejection=rejection, password_length=auth.PASSWORD_LENGTH)
    return _retry_after(page, wait)


@router.get("/account")
async def account_page(request: Request, account: SignedIn,
                       changed: Annotated[bool, Query()] = False) -> Response:
    """Who I am, my roles over which cells, the change-password form and sign-out."""
    return _account_page(request, changed=changed)


@router.post("/account/password")
async def change_password(request: Request, account: SignedIn) -> Response:
    """Change my password (the current one first, the new one twice). Every other session of mine ends;
    this one goes on."""
    values = await checked_form(request)
    current, new, again = (values.get(name, "") for name in ("current_password", "new_password",
                                                            "new_password_again"))
    runtime = _runtime(request)
    attempt = await run_in_threadpool(_attempt, runtime, account.username, current, _address(request))
    if attempt.account is None:
        wrong = i18n.gettext("This is not your current password.")
        rejection = attempt.refusal(wrong, field="current_password")
        return _account_page(request, rejection=rejection, wait=attempt.wait)
    refusal, field = auth.password_refusal(new), "new_password"
    if refusal is None and new != again:
        refusal = i18n.gettext("The new password was typed differently the second time.")
        field = "new_password_again"
    if refusal is not None:
        return _account_page(request, rejection=Rejection(refusal, {field: refusal}))
    recorded = await runtime.command(partial(auth.set_password, runtime.app, actor=account.username,
                                             username=account.username, password=new), None, None)
    await run_in_threadpool(runtime.sessions.keep, request.cookies[session.COOKIE], recorded.version)
    return see_other("/account?changed=true")
