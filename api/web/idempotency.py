"""Idempotency-Key on POST: a retried request gets the first response back and records nothing new.

The first request with a key claims it (a row with no response yet); a concurrent retry finds the
claim and is told to wait (409); a later retry gets the stored response. A key reused with a
different request is refused. Only a response that recorded something (2xx) is kept: any other
releases the claim, so a refused or failed request leaves no trace and may be retried.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
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
    fingerprint: str
    status: int | None
    headers: dict[str, str]
    body: str


class IdempotencyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, scope: str, key: str, fingerprint: str) -> Stored | None:
        """Claim the key; None if claimed now, else what is stored under it."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(requests).values(scope=scope, key=key, fingerprint=fingerprint,
                                                     created_at=datetime.now(UTC)))
            return None
        except exc.IntegrityError:
            with self.engine.connect() as conn:
                row = conn.execute(select(requests).where(
                    and_(requests.c.scope == scope, requests.c.key == key))).mappings().one()
            return Stored(row["fingerprint"], row["status"], json.loads(row["headers"] or "{}"),
                          row["body"] or "")

    def complete(self, scope: str, key: str, status: int, headers: dict[str, Any], body: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(requests).where(and_(requests.c.scope == scope, requests.c.key == key))
                         .values(status=status, headers=json.dumps(headers), body=body.decode()))

    def release(self, scope: str, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(requests).where(and_(requests.c.scope == scope, requests.c.key == key)))
