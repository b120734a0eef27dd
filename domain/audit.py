"""History and audit over the event store: full histories, state as of a time, chain verification.

`verify` reads the stored rows themselves (through the application's mapper, so encryption and
compression are undone) and recomputes each event's chain value from its predecessor's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.chain import GENESIS, chain_of, payload_of

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent

    from domain.application import Minqing

PAGE = 1000


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    type: str
    actor: str
    recorded_at: datetime
    occurred_at: datetime
    data: dict[str, Any]
    chain: str


@dataclass(frozen=True)
class Break:
    aggregate_id: UUID
    version: int
    problem: str


@dataclass
class Verification:
    aggregates: int = 0
    events: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks


def history(app: Minqing, aggregate_id: UUID) -> list[HistoryEntry]:
    entries = []
    for event in app.events.get(aggregate_id):
        data = {k: v for k, v in payload_of(event).items() if k not in ("actor", "occurred_at")}
        entries.append(HistoryEntry(event.originator_version, type(event).__name__, event.actor,
                                    event.timestamp, event.occurred_at, data, event.chain))
    return entries


def as_of(app: Minqing, aggregate_id: UUID, at: datetime) -> Any:
    version = None
    for event in app.events.get(aggregate_id):
        if event.timestamp > at:
            break
        version = event.originator_version
    return None if version is None else app.repository.get(aggregate_id, version=version)


class _Chains:
    """Follows each aggregate's chain through a stream of stored events."""

    def __init__(self, app: Minqing, result: Verification) -> None:
        self.app, self.result = app, result
        self.heads: dict[UUID, tuple[int, str]] = {}
        self.broken: set[UUID] = set()

    def check(self, stored: StoredEvent) -> None:
        self.result.events += 1
        originator_id = stored.originator_id
        if originator_id not in self.heads and originator_id not in self.broken:
            self.result.aggregates += 1
        if originator_id in self.broken:
            return
        version, previous = self.heads.get(originator_id, (0, GENESIS))
        problem = self._problem(stored, version + 1, previous)
        if problem is not None:
            self.broken.add(originator_id)
            self.result.breaks.append(Break(originator_id, stored.originator_version, problem))
            return
        self.heads[originator_id] = (stored.originator_version, chain_of(previous, self._event))

    def _problem(self, stored: StoredEvent, expected_version: int, previous: str) -> str | None:
        if stored.originator_version != expected_version:
            return (f"found version {stored.originator_version} where version {expected_version} "
                    "should be: an event was deleted, inserted or reordered")
        try:
            self._event = self.app.mapper.to_domain_event(stored)
        except Exception as error:  # noqa: BLE001 — any decoding failure is a break, whatever its kind
            return f"stored event cannot be read: {type(error).__name__}"
        if getattr(self._event, "chain", None) != chain_of(previous, self._event):
            return "stored content does not match its chain: changed, inserted or reordered"
        return None


def _notifications(app: Minqing) -> Iterator[StoredEvent]:
    start = 1
    while True:
        page = app.recorder.select_notifications(start, PAGE)
        if not page:
            return
        yield from page
        start = page[-1].id + 1


def verify(app: Minqing, aggregate_id: UUID | None = None) -> Verification:
    result = Verification()
    chains = _Chains(app, result)
    rows: Iterable[StoredEvent] = (
        _notifications(app) if aggregate_id is None else app.recorder.select_events(aggregate_id)
    )
    for stored in rows:
        chains.check(stored)
    return result
