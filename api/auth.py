"""Bearer tokens for staff and API clients: their format, how their secret is kept, and the accounts
the edge keeps for a few seconds so that a request need not read the store to know who is asking.

A token is `user.name.tokenid.secret`: user names may hold dots, token ids and secrets never do. The
account's history keeps only the token's id and the SHA-256 of its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from domain import errors
from domain.account import Account
from domain.application import Minqing, Recorded

CACHE_SECONDS = 5.0  # how long another process's change to an account may go unseen here
TOKEN_LIFETIME = timedelta(days=30)  # the default; MINQING_TOKEN_DAYS sets it


def hashed(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(app: Minqing, *, actor: str, username: str, label: str = "",
                occurred_at: datetime | None = None) -> tuple[Recorded, str]:
    """Issue a bearer token for a staff account; the token is returned once and stored only as a hash."""
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(24)
    recorded = app.issue_token(actor=actor, username=username, token_id=token_id, secret_hash=hashed(secret),
                               label=label, occurred_at=occurred_at)
    return recorded, f"{username}.{token_id}.{secret}"


class CachedAccounts:
    """Staff accounts, each kept for `CACHE_SECONDS` after it was loaded. Given to the Application as its
    `accounts`, it is told of every change the Application saves, so a change made in this process
    (a revoked role or token) holds at once; one made in another process, within the cache's seconds."""

    def __init__(self, load: Callable[[str], Account], seconds: float = CACHE_SECONDS) -> None:
        self.load, self.seconds = load, seconds
        self.kept: dict[str, tuple[float, Account]] = {}
        self.lock = threading.Lock()

    def get(self, username: str) -> Account:
        account = self.cached(username)
        if account is None:
            account = self.load(username)
            with self.lock:
                self.kept[username] = (time.monotonic() + self.seconds, account)
        return account

    def cached(self, username: str) -> Account | None:
        """The account if it is kept and fresh, else None; never reads the store."""
        kept = self.kept.get(username)
        return kept[1] if kept is not None and kept[0] > time.monotonic() else None

    def changed(self, username: str) -> None:
        with self.lock:
            self.kept.pop(username, None)


def authenticate(accounts: CachedAccounts, token: str, *, cached_only: bool = False,
                 lifetime: timedelta = TOKEN_LIFETIME, now: datetime | None = None) -> Account | None:
    """The account a bearer token belongs to, while the token is younger than `lifetime`; UnknownActor
    for anything else. With `cached_only`, None when the account is not kept, so that a caller on an
    event loop can read the store in a thread."""
    rest, _, secret = token.rpartition(".")
    username, _, token_id = rest.rpartition(".")
    if not (username and token_id and secret):
        raise errors.UnknownActor("malformed token")
    account = accounts.cached(username) if cached_only else accounts.get(username)
    if account is None:
        return None
    expected = account.tokens.get(token_id)
    if expected is None or not hmac.compare_digest(expected, hashed(secret)):
        raise errors.UnknownActor("unknown or revoked token")
    issued = account.tokens_issued.get(token_id)
    if issued is not None and issued + lifetime <= (now or datetime.now(UTC)):
        raise errors.UnknownActor(f"the token expired {lifetime.days} days after it was issued; "
                                  "ask for a new one")
    return account
