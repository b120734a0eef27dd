"""Who is signed in to the pages (staff only; residents' pages need no sign-in).

Placeholder until sign-in lands (issue 11, item 1): nobody is signed in yet, so every staff page sends
the person to /login. `signed_in` is the dependency every staff page takes; it sets
`request.state.account` for the layout.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from domain.account import Account


class SignInRequired(Exception):
    """A staff page was asked for without a valid session: the person is sent to sign in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.location = f"/login?next={quote(next_path, safe='/')}"


async def signed_in(request: Request) -> Account:
    raise SignInRequired(request.url.path)


SignedIn = Annotated[Account, Depends(signed_in)]
