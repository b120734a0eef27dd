"""Sessions of the staff pages, kept in the database, so that every API process knows them and signing
out ends one for good.

A session is a random 256-bit id, given to the browser in a cookie (`api.pages.session`) and kept here
only as its SHA-256, with whom it signed in, the version of the account's password it signed in with and
the roles the account held then. It needs no signing key: nobody can guess an id, and an id is worth
nothing once its row is gone. A session ends
- when its person signs out (the row is deleted);
- after `idle` without a request, and `lifetime` after it began however much it is used;
- on its next request when the account's password was set again since (in any process: the account is
  read as stored now, `api.auth.CachedAccounts`), when a role it held was revoked, or when the account
  holds no role any more (`api.pages.session.signed_in` checks each against the row).

Activity is written at most once a minute per session, so a page costs one read, not a write.
Expired rows are deleted when someone signs in. Processes are assumed to agree on the time within a
few seconds (NTP).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    or_,
    select,
    update,
)

from api.web.idempotency import digest

TOUCH_EVERY = 60.0  # seconds: how stale a session's last activity may be before it is written again

metadata = MetaData()

sessions = Table(
    "page_sessions", metadata,
    Column("id", String(64), primary_key=True),            # SHA-256 of the cookie's id, never the id
    Column("username", String(200), nullable=False),
    Column("password_version", Integer, nullable=False),   # the account's version that set the password
    Column("grants", Text, nullable=False),                # JSON [[role, cell id], …] held at sign-in
    Column("started", Float, nullable=False),              # seconds since 1970
    Column("seen", Float, nullable=False),                 # the last request, within TOUCH_EVERY
)


@dataclass(frozen=True)
class Session:
    username: str
    password_version: int
    grants: list[list[str]]


class Sessions:
    """The sessions of every API process on the database."""

    def __init__(self, writer: Engine, reader: Engine, *, idle: timedelta, lifetime: timedelta,
                 clock: Callable[[], float] = time.time) -> None:
        self.writer, self.reader, self.clock = writer, reader, clock
        self.idle, self.lifetime = idle.total_seconds(), lifetime.total_seconds()

    def start(self, username: str, password_version: int, grants: list[list[str]]) -> str:
        """A new session; its id, for the cookie (shown nowhere else, kept nowhere)."""
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        with self.writer.begin() as conn:
            conn.execute(delete(sessions).where(self._expired(now)))
            conn.execute(sessions.insert().values(
                id=digest(session_id), username=username, password_version=password_version,
                grants=json.dumps(grants), started=now, seen=now))
        return session_id

    def find(self, session_id: str) -> Session | None:
        """The live session with this id (its activity noted), or None: unknown, ended or expired."""
        now, key = self.clock(), digest(session_id)
        with self.reader.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id == key)).first()
        if row is None:
            return None
        if now - row.seen >= self.idle or now - row.started >= self.lifetime:
            self.end(session_id)
            return None
        if now - row.seen >= TOUCH_EVERY:
            with self.writer.begin() as conn:
                conn.execute(update(sessions).where(sessions.c.id == key).values(seen=now))
        return Session(row.username, row.password_version, json.loads(row.grants))

    def keep(self, session_id: str, password_version: int) -> None:
        """Keep this session across a password its own person just set (the others end)."""
        with self.writer.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id == digest(session_id))
                         .values(password_version=password_version))

    def end(self, session_id: str) -> None:
        with self.writer.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.id == digest(session_id)))

    def _expired(self, now: float) -> ColumnElement[bool]:
        return or_(sessions.c.seen <= now - self.idle, sessions.c.started <= now - self.lifetime)
