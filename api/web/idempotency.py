"""Idempotency-Key on POST: a retried request gets the first response back and records nothing new.

The first request with a key claims it (a row with no response yet); a concurrent retry finds the
claim and is told to wait (409); a later retry gets the stored response. A key reused with a
different request is refused. Only a response that recorded something (2xx) is kept: any other
releases the claim, so a refused or failed request leaves no trace and may be retried.

A request that dies with its process (SIGKILL, a crash) leaves its claim with no response. Once the
claim is older than a lease (`Settings.idempotency_lease_seconds`, longer than any request runs), a
retry takes it over, one retry only (a compare-and-set on the claim's time), and runs the request
again; the claim's time is the holder's token, so a request that outlived its lease can neither
complete nor release a claim that was taken from it. That the dead request's command is not recorded
twice is the Application's part (`Minqing.once`), whatever the lease.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exc,
    insert,
    select,
    update,
)

from projections.core import UTCDateTime

metadata = MetaData()

requests = Table(
    "api_idempotency", metadata,
    # hash of who asked: the token, or the client and route of a public request
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # hash of method, path and body
    Column("status", Integer),                          # null while the first request is in flight
    Column("headers", Text),
    Column("body", Text),
    Column("created_at", UTCDateTime, nullable=False),
)


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class Stored:
    """What another request holds under the key: its response, or none yet (`status` None)."""

    fingerprint: str
    status: int | None
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class Claim:
    """The key is this request's to answer, since `held_since` (the token `complete` and `release`
    need): claimed now, or taken over from a request that died (`taken_over`)."""

    held_since: datetime
    taken_over: bool


class IdempotencyStore:
    def __init__(self, engine: Engine, lease: timedelta) -> None:
        self.engine = engine
        self.lease = lease

    def claim(self, scope: str, key: str, fingerprint: str) -> Claim | Stored:
        """Claim the key, or take over a claim of the same request left with no response for longer
        than the lease; else what is stored under it."""
        now = datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(requests).values(scope=scope, key=key, fingerprint=fingerprint,
                                                     created_at=now))
            return Claim(now, taken_over=False)
        except exc.IntegrityError:
            pass
        this = and_(requests.c.scope == scope, requests.c.key == key)
        with self.engine.begin() as conn:
            # Of retries taking over at once, the first to update wins; the others then find a young claim.
            taken = conn.execute(update(requests).where(
                this, requests.c.fingerprint == fingerprint, requests.c.status.is_(None),
                requests.c.created_at < now - self.lease).values(created_at=now))
            if taken.rowcount == 1:
                return Claim(now, taken_over=True)
            row = conn.execute(select(requests).where(this)).mappings().one_or_none()
        if row is None:  # released a moment ago by a request that failed: retrying will claim it
            return Stored(fingerprint, None, {}, "")
        return Stored(row["fingerprint"], row["status"], json.loads(row["headers"] or "{}"),
                      row["body"] or "")

    def complete(self, scope: str, key: str, claim: Claim, status: int, headers: dict[str, Any],
                 body: bytes) -> None:
        """Keep the response under the key, unless the claim was taken over meanwhile."""
        with self.engine.begin() as conn:
            conn.execute(update(requests).where(self._held(scope, key, claim))
                         .values(status=status, headers=json.dumps(headers), body=body.decode()))

    def release(self, scope: str, key: str, claim: Claim) -> None:
        """Free the key for a retry, unless the claim was taken over meanwhile."""
        with self.engine.begin() as conn:
            conn.execute(delete(requests).where(self._held(scope, key, claim)))

    @staticmethod
    def _held(scope: str, key: str, claim: Claim) -> ColumnElement[bool]:
        return and_(requests.c.scope == scope, requests.c.key == key, requests.c.status.is_(None),
                    requests.c.created_at == claim.held_since)
