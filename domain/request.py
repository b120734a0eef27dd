"""Requests that may be sent again (HTTP's Idempotency-Key): each is recorded once, with what it changed.

A command run for such a request saves a `HandledRequest`, whose id is made from the request's key,
in the same transaction as its own events (`Minqing.once`). A second save of the same record
conflicts, so a command is recorded at most once per key, however often and from however many
processes the request is retried; and whoever finds the record knows what the first run recorded.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.chain import UNSET_ID, ChainedAggregate


def request_record_id(scope: str, key: str) -> UUID:
    """The id of the record of the request sent under `key` by `scope` (whoever sent it: the digest the
    edge makes of a token, or of a client and route)."""
    return uuid5(NAMESPACE_URL, f"minqing:request:{scope}:{key}")


class HandledRequest(ChainedAggregate):
    """That a request was carried out, and what its command changed: the aggregate and its new version.

    Not part of any case: no view handles its event, and no case's history shows it."""

    def __init__(self) -> None:
        super().__init__()
        self.aggregate_id: UUID = UNSET_ID
        self.version: int = 0

    class Handled(ChainedAggregate.Created):
        aggregate_id: UUID
        version: int

        def apply(self, r: HandledRequest) -> None:
            r.aggregate_id, r.version = self.aggregate_id, self.version

    @classmethod
    def record(cls, record_id: UUID, *, aggregate_id: UUID, version: int, actor: str,
               occurred_at: datetime) -> HandledRequest:
        return cls._create(cls.Handled, id=record_id, aggregate_id=aggregate_id, version=version, actor=actor,
                           occurred_at=occurred_at)
