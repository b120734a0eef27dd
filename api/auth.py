"""Staff secrets and the accounts the edge keeps: bearer tokens for API clients, sign-in passwords for
the pages, and the accounts kept in memory, so that a request reads only an account's latest version to
know who is asking.

A token is `user.name.tokenid.secret`: user names may hold dots, token ids and secrets never do. The
account's history keeps only the token's id and the SHA-256 of its secret (the secret is random, so a
fast hash is enough).

A password is chosen by a person, so it is kept as an Argon2id hash (argon2-cffi's defaults, RFC 9106's
low-memory profile), salted afresh each time it is set: `PasswordSet` holds only that hash, and history
never shows it (`domain.audit.SECRET_HASHES`). Checking a password for a user name that has none, or no
account at all, verifies against a hash of nothing, so that it takes as long as a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api import i18n
from domain import errors
from domain.account import Account
from domain.application import Minqing, Recorded

TOKEN_LIFETIME = timedelta(days=30)  # the default; MINQING_TOKEN_DAYS sets it
PASSWORD_LENGTH = 10                 # characters, at least (NIST SP 800-63B asks for 8 or more)
PASSWORDS = PasswordHasher()


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
    """Staff accounts kept in memory, each checked on every use against the version its history has
    reached in the store (one indexed read of the latest event) and loaded again when it moved, so a
    change made in any process (a revoked role or token) holds from the next request on. Given to the
    Application as its `accounts`, it is also told of every change the Application saves."""

    def __init__(self, load: Callable[[str], Account], version: Callable[[str], int | None]) -> None:
        self.load, self.version = load, version
        self.kept: dict[str, Account] = {}  # one per member of staff who signed in: bounded by the staff

    def get(self, username: str) -> Account:
        """The account as stored now (reads the store)."""
        account = self.kept.get(username)
        if account is None or account.version != self.version(username):
            account = self.kept[username] = self.load(username)
        return account

    def changed(self, username: str) -> None:
        self.kept.pop(username, None)


def authenticate(accounts: CachedAccounts, token: str, *, lifetime: timedelta = TOKEN_LIFETIME,
                 now: datetime | None = None) -> Account:
    """The account a bearer token belongs to, as stored now, while the token is younger than
    `lifetime`; UnknownActor for anything else. Reads the store: call it off the event loop."""
    rest, _, secret = token.rpartition(".")
    username, _, token_id = rest.rpartition(".")
    if not (username and token_id and secret):
        raise errors.UnknownActor("malformed token")
    account = accounts.get(username)
    expected = account.tokens.get(token_id)
    if expected is None or not hmac.compare_digest(expected, hashed(secret)):
        raise errors.UnknownActor("unknown or revoked token")
    issued = account.tokens_issued.get(token_id)
    if issued is not None and issued + lifetime <= (now or datetime.now(UTC)):
        raise errors.UnknownActor("the token expired {days} days after it was issued; ask for a new one",
                                  days=lifetime.days)
    return account


def password_refusal(password: str) -> str | None:
    """Why a new password is refused, in the current language; None when it is acceptable."""
    if len(password) < PASSWORD_LENGTH:
        return i18n.gettext("A password has at least {n} characters.").format(n=PASSWORD_LENGTH)
    return None


def password_hash(password: str) -> str:
    """The Argon2id hash of a password, salted afresh (takes a good fraction of a second: call it off
    the event loop)."""
    return PASSWORDS.hash(password)


def set_password(app: Minqing, *, actor: str, username: str, password: str,
                 occurred_at: datetime | None = None) -> Recorded:
    """Record a new sign-in password for a staff account, as its hash; InvalidInput (with the reason in
    the current language) when the password is refused."""
    if len(password) < PASSWORD_LENGTH:
        raise errors.InvalidInput("A password has at least {n} characters.", n=PASSWORD_LENGTH)
    return app.set_password(actor=actor, username=username, password_hash=password_hash(password),
                            occurred_at=occurred_at)


@cache
def _nothing_hashed() -> str:
    return PASSWORDS.hash("")


def password_matches(account: Account | None, password: str) -> bool:
    """Is `password` the account's? False for no account, or one without a password, after the same
    work as a wrong password takes."""
    kept = account.password_hash if account is not None and account.password_hash else None
    try:
        return PASSWORDS.verify(kept or _nothing_hashed(), password) and kept is not None
    except (VerificationError, InvalidHashError):
        return False
