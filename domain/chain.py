"""Hash-chained aggregates: every event carries the digest of its content and its predecessor's.

`chain = sha256(previous chain + canonical JSON of (topic, aggregate id, version, recorded
timestamp, payload))`. Changing, deleting, inserting or reordering a stored event breaks the
chain at that point, which `domain.audit.verify` detects from the stored rows alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Self, cast
from uuid import UUID

from eventsourcing.domain import (
    Aggregate,
    CanCreateTimestamp,
    CanInitAggregate,
    CanMutateAggregate,
    DomainEvent,
    TAggregate,
)
from eventsourcing.utils import get_topic

GENESIS = ""
# What an aggregate's `__init__` gives a time or id that its created event always sets.
UNSET_TIME = datetime.min.replace(tzinfo=UTC)
UNSET_ID = UUID(int=0)
# The clock that says when an event is recorded (its `timestamp`): the application running a use case sets
# its own (`recording_with`), so that a deployment's recording time and its "now" are one clock (a test's
# or the demo's settable clock included); outside a use case, the library's wall clock.
_recording_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("minqing_recording_clock",
                                                                         default=None)
# Fields that are the event's envelope or the chain itself, not its payload.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "chain"})


def plain(value: Any) -> Any:
    """`value` in JSON's types: datetimes as ISO text, UUIDs and Decimals as text, dict keys as text,
    tuples as lists; anything else as it is. The hash chain is computed over this form, so its
    output must never change."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def digest(previous: str, topic: str, originator_id: UUID, version: int, timestamp: datetime,
           payload: dict[str, Any]) -> str:
    body = json.dumps(
        [topic, str(originator_id), version, timestamp.isoformat(), plain(payload)],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256((previous + body).encode()).hexdigest()


def chained(event_class: type, values: dict[str, Any]) -> dict[str, Any]:
    """The part of an event's values that its chain covers: all but the envelope, and of the fields
    its class added in a later version (`added_fields`), those that hold a value. An event stored
    before a field was added is upcast with the field empty: it then hashes as it was recorded."""
    added: frozenset[str] = getattr(event_class, "added_fields", frozenset())
    return {k: v for k, v in values.items() if k not in ENVELOPE and not (k in added and v is None)}


def payload_of(event: DomainEvent) -> dict[str, Any]:
    """The part of a stored event that the chain covers, besides its envelope."""
    return chained(type(event), vars(event))


def chain_of(previous: str, event: DomainEvent) -> str:
    """Recompute an event's chain value from its predecessor's, as `verify` does."""
    return digest(previous, get_topic(type(event)), event.originator_id, event.originator_version,
                  event.timestamp, payload_of(event))


def recording_with(clock: Callable[[], datetime] | None) -> None:
    """Record the events triggered from now on in this context (thread) at `clock`'s time; None: at the
    library's wall clock."""
    _recording_clock.set(clock)


def recording_time(event_class: type[CanCreateTimestamp]) -> datetime:
    """When an event triggered now is recorded: the recording clock's time, or the library's."""
    clock = _recording_clock.get()
    return event_class.create_timestamp() if clock is None else clock()


class ChainedAggregate(Aggregate):
    """An aggregate whose events form a hash chain and say who recorded them and when they happened.

    Subclasses define events with an `apply` method and trigger them with `trigger_event`; the
    chain value of the last event is kept in `chain_head` (and so in snapshots).
    """

    class Event(Aggregate.Event):
        chain: str
        actor: str
        occurred_at: datetime
        # Fields added to the event class after its first version (each with an upcaster that leaves
        # them None in events stored before): hashed only when set (`chained`).
        added_fields: ClassVar[frozenset[str]] = frozenset()

        def mutate(self, aggregate: TAggregate | None) -> TAggregate | None:
            mutated = super().mutate(aggregate)
            # A chained event only ever mutates a chained aggregate (a cast, not an isinstance
            # check: this runs for every event of every load).
            cast(ChainedAggregate, mutated).chain_head = self.chain
            return mutated

    class Created(Event, Aggregate.Created):
        pass

    def __init__(self) -> None:
        # The created event's `apply` sets the real state; each event's `mutate` sets the chain head.
        self.chain_head: str = GENESIS

    @classmethod
    def _create(cls, event_class: type[CanInitAggregate[UUID]], *, id: UUID | None = None,
                **kwargs: Any) -> Self:
        originator_id = id if id is not None else cls.create_id()
        timestamp = recording_time(event_class)
        payload = chained(event_class, kwargs)
        chain = digest(GENESIS, get_topic(event_class), originator_id, cls.INITIAL_VERSION,
                       timestamp, payload)
        return super()._create(event_class, id=originator_id, timestamp=timestamp, chain=chain, **kwargs)

    def trigger_event(self, event_class: type[CanMutateAggregate[UUID]], **kwargs: Any) -> None:
        timestamp = recording_time(event_class)
        payload = chained(event_class, kwargs)
        chain = digest(self.chain_head, get_topic(event_class), self.id, self.version + 1,
                       timestamp, payload)
        super().trigger_event(event_class, timestamp=timestamp, chain=chain, **kwargs)


def replay(aggregate: ChainedAggregate | None,
           events: Iterable[ChainedAggregate.Event]) -> ChainedAggregate | None:
    """Apply stored events in order: the library's `project_aggregate` without its per-event
    `assert isinstance(event, CanMutateProtocol)`, a runtime Protocol check that costs ≈27 µs
    per event on Python 3.11 — more than decoding and applying the event together
    (docs/performance.md). Every Minqing event has `mutate`, so the result is the same."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate
