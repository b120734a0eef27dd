"""History and audit over the event store: full histories, state as of a time, chain verification.

`verify` reads the stored rows themselves (through the application's mapper, so encryption and
compression are undone) and recomputes each event's chain value from its predecessor's; over the whole
store it also compares each stored snapshot with its aggregate replayed, and lets a `LogCheck` (the seal,
domain/seal.py) see every stored event in log order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.utils import get_topic

from domain import errors
from domain.chain import ENVELOPE, GENESIS, ChainedAggregate, chain_of, replay
from domain.demand import IN_PROGRESS, RAISED, step_after
from domain.templates import TEMPLATES
from domain.visit import HouseholdVisit
from domain.votes import INVALID, REJECTED

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification, StoredEvent

    from domain.application import Minqing

PAGE = 1000
# Reading one aggregate's events by id costs about what decoding 4 (SQLite) to 8 (PostgreSQL) events
# of a pass over the log does (docs/reliability.md): past that, a scoped verify reads the log once.
SCAN_RATIO = 4
# The hashes an account keeps to check its secrets (a bearer token's, the password's): a history says
# that a token was issued or a password set, by whom and when, never the hash, which could be attacked
# offline (a password's above all).
SECRET_HASHES = frozenset({"secret_hash", "password_hash"})
NOT_DATA = ENVELOPE | {"actor", "occurred_at"} | SECRET_HASHES  # an event's data in its history


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
    aggregate_id: UUID | str        # as the recorder gives it (a UUID for every Minqing aggregate)
    version: int
    problem: str


@dataclass
class Verification:
    aggregates: int = 0
    events: int = 0
    breaks: list[Break] = field(default_factory=list)
    snapshots: int = 0
    sealed: int = 0             # events found under the latest signed head (set by the seal's check)
    unsealed: int = 0           # events recorded since: not yet sealed, which is not a break
    tree_size: int | None = None  # the latest signed head's, when the log is sealed
    head_keys: dict[str, int] = field(default_factory=dict)  # signed heads in the database, by key id

    @property
    def intact(self) -> bool:
        return not self.breaks


class LogCheck(Protocol):
    """Sees every stored event of the log in order as `verify` reads it (decoded when its chain is intact),
    then reports what it found into the same `Verification`."""

    def event(self, stored: Notification, decoded: ChainedAggregate.Event | None) -> None: ...

    def finish(self) -> None: ...


def entry_of(event: ChainedAggregate.Event) -> HistoryEntry:
    data = {k: v for k, v in vars(event).items() if k not in NOT_DATA}  # payload_of, less NOT_DATA
    return HistoryEntry(event.originator_version, type(event).__name__, event.actor, event.timestamp,
                        event.occurred_at, data, event.chain)


def _recorded_by(app: Minqing, aggregate_id: UUID,
                 known_at: datetime | None) -> Iterator[ChainedAggregate.Event]:
    """An aggregate's events in version order, those recorded by `known_at` (all, if None): its events
    are recorded in the order of their versions, so none after the first recorded later was known."""
    for event in app.events.get(aggregate_id):
        assert isinstance(event, ChainedAggregate.Event)    # every aggregate of Minqing is chained
        if known_at is not None and event.timestamp > known_at:
            return
        yield event


def _happened_by(event: ChainedAggregate.Event, as_of: datetime | None) -> bool:
    return as_of is None or event.occurred_at <= as_of


def history(app: Minqing, aggregate_id: UUID, *, as_of: datetime | None = None,
            known_at: datetime | None = None) -> list[HistoryEntry]:
    """Every event of an aggregate, or, given `as_of` and/or `known_at`, those that had happened by
    `as_of` (occurred time) and were recorded by `known_at` (recorded time)."""
    return [entry_of(event) for event in _recorded_by(app, aggregate_id, known_at)
            if _happened_by(event, as_of)]


@dataclass(frozen=True)
class Then:
    """An aggregate as it stood at a time: `as_of` (occurred time: every fact that had happened by then,
    as the record stands now) and/or `known_at` (recorded time: what had been recorded by then).

    The state is the aggregate replayed from the longest run of its events, in version order, that had
    all happened by `as_of` (and been recorded by `known_at`): a state the aggregate really passed
    through, so every rule its events obey holds of it (the library refuses to apply an event out of its
    version's turn, and a rule may rest on an earlier event). A fact that had happened by `as_of` but
    was recorded after one that had not (a note entered late, say) is not in that state: it is listed in
    `left_out`, never silently dropped."""

    aggregate: ChainedAggregate
    left_out: list[HistoryEntry]


def run_until(app: Minqing, aggregate_id: UUID, *, as_of: datetime | None,
              known_at: datetime | None) -> tuple[list[ChainedAggregate.Event], list[HistoryEntry]]:
    """The events `Then` replays, and the facts it leaves out. Raises NotFound for an id with nothing
    stored, and, for one stored later than asked, NotYetRecorded (`known_at` before its first event was
    recorded) or NotYetExisting (`as_of` before its first event happened)."""
    events = _recorded_by(app, aggregate_id, known_at)
    run: list[ChainedAggregate.Event] = []
    for event in events:
        if not _happened_by(event, as_of):
            break
        run.append(event)
    left_out = [entry_of(event) for event in events if _happened_by(event, as_of)]  # those after the cut
    if run:
        return run, left_out
    first = next(app.events.get(aggregate_id, limit=1), None)
    if first is None:
        raise errors.NotFound("nothing recorded for {id}", id=aggregate_id)
    assert isinstance(first, ChainedAggregate.Event)
    if known_at is not None and first.timestamp > known_at:
        raise errors.NotYetRecorded("nothing about {id} had been recorded yet at {at}: its first record "
                                    "is of {first}", id=aggregate_id, at=known_at, first=first.timestamp)
    assert as_of is not None
    raise errors.NotYetExisting("nothing about {id} had happened yet at {at}: its first fact is of {first}",
                                id=aggregate_id, at=as_of, first=first.occurred_at)


class _Chains:
    """Follows each aggregate's chain through a stream of stored events."""

    _event: ChainedAggregate.Event      # the last event `_problem` read and found intact

    def __init__(self, app: Minqing, result: Verification) -> None:
        self.app, self.result = app, result
        self.heads: dict[UUID | str, tuple[int, str]] = {}
        self.broken: set[UUID | str] = set()

    def check(self, stored: StoredEvent) -> ChainedAggregate.Event | None:
        """Check the next stored event of its aggregate; the event decoded, if its chain is intact."""
        self.result.events += 1
        originator_id = stored.originator_id
        if originator_id not in self.heads and originator_id not in self.broken:
            self.result.aggregates += 1
        if originator_id in self.broken:
            return None
        version, previous = self.heads.get(originator_id, (0, GENESIS))
        problem = self._problem(stored, version + 1, previous)
        if problem is not None:
            self.broken.add(originator_id)
            self.result.breaks.append(Break(originator_id, stored.originator_version, problem))
            return None
        self.heads[originator_id] = (stored.originator_version, chain_of(previous, self._event))
        return self._event

    def _problem(self, stored: StoredEvent, expected_version: int, previous: str) -> str | None:
        if stored.originator_version != expected_version:
            return (f"found version {stored.originator_version} where version {expected_version} "
                    "should be: an event was deleted, inserted or reordered")
        try:
            event = self.app.mapper.to_domain_event(stored)
        except Exception as error:  # noqa: BLE001 — any decoding failure is a break, whatever its kind
            return f"stored event cannot be read: {type(error).__name__}"
        if not isinstance(event, ChainedAggregate.Event) or event.chain != chain_of(previous, event):
            return "stored content does not match its chain: changed, inserted or reordered"
        self._event = event
        return None


def _notifications(app: Minqing, topics: Collection[str] = ()) -> Iterator[Notification]:
    start = 1
    while True:
        page = app.recorder.select_notifications(start, PAGE, topics=list(topics))
        if not page:
            return
        yield from page
        start = page[-1].id + 1


def verify(app: Minqing, aggregate_id: UUID | None = None,
           log: Callable[[Verification], LogCheck] | None = None) -> Verification:
    """Check one aggregate's chain, or every chain and every snapshot in the store; `log` makes the check
    that sees the whole log in order as it is read (only over the whole store)."""
    result = Verification()
    chains = _Chains(app, result)
    if aggregate_id is not None:
        for stored in app.recorder.select_events(aggregate_id):
            chains.check(stored)
        return result
    seen = None if log is None else log(result)
    for stored in _notifications(app):
        decoded = chains.check(stored)
        if seen is not None:
            seen.event(stored, decoded)
    if seen is not None:
        seen.finish()
    _check_snapshots(app, chains, result)
    return result


def _same_state(app: Minqing, replayed: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether a replayed aggregate's state is the stored snapshot's, once it went through the same
    transcoding (a tuple is stored as a list, for one)."""
    transcoder = app.mapper.transcoder
    return bool(transcoder.decode(transcoder.encode(replayed)) == stored)


def _check_snapshots(app: Minqing, chains: _Chains, result: Verification) -> None:
    """Each stored snapshot of an intact aggregate must be its events replayed to the snapshot's version: a
    snapshot is what loading starts from, so a replaced one would change the state every reader sees."""
    if app.snapshots is None:
        return
    for aggregate_id, (last, _) in chains.heads.items():
        if not isinstance(aggregate_id, UUID):
            continue                            # (every Minqing aggregate has a UUID)
        for snapshot in app.snapshots.get(aggregate_id):
            if not isinstance(snapshot, Snapshot):
                continue
            result.snapshots += 1
            version = snapshot.originator_version
            if version > last:
                problem = f"a snapshot at version {version} is beyond the last event, version {last}"
            else:
                events = app.events.get(aggregate_id, lte=version)
                replayed = replay(None, (e for e in events if isinstance(e, ChainedAggregate.Event)))
                taken = None if replayed is None else type(snapshot).take(replayed)
                if taken is None or not _same_state(app, taken.state, snapshot.state):
                    problem = f"the snapshot at version {version} differs from its events replayed: replaced"
                else:
                    continue
            result.breaks.append(Break(aggregate_id, version, problem))


def verify_each(app: Minqing, aggregate_ids: Iterable[UUID | str]) -> Verification:
    """Check the chains of these aggregates only; one with nothing stored at all was deleted whole.

    Few aggregates against the log are read one by one; many are checked in one pass over the log
    that decodes only their events, which is then cheaper than a query each."""
    wanted = dict.fromkeys(aggregate_ids)
    result = Verification()
    chains = _Chains(app, result)
    if len(wanted) * SCAN_RATIO < (app.recorder.max_notification_id() or 0):
        for aggregate_id in wanted:
            for stored in app.recorder.select_events(aggregate_id):
                chains.check(stored)
    else:
        for stored in _notifications(app):
            if stored.originator_id in wanted:
                chains.check(stored)
    for aggregate_id in wanted.keys() - chains.heads.keys() - chains.broken:
        result.aggregates += 1
        result.breaks.append(Break(aggregate_id, 1, "nothing is stored for it: its events were deleted"))
    return result


def visits_within(app: Minqing, cells: Collection[str]) -> list[UUID | str]:
    """The visits scheduled in `cells`. No view lists visits, so the log is read by topic: only the
    visits' first events, decoded to learn their cell (one that cannot be decoded is kept, so that
    verifying it reports the break)."""
    found: list[UUID | str] = []
    for stored in _notifications(app, topics=[get_topic(HouseholdVisit.Scheduled)]):
        try:
            scheduled = app.mapper.to_domain_event(stored)
        except Exception:  # noqa: BLE001 — an unreadable event is a break for verify to report
            found.append(stored.originator_id)
            continue
        if isinstance(scheduled, HouseholdVisit.Scheduled) and scheduled.cell_id in cells:
            found.append(scheduled.originator_id)
    return found


@dataclass(frozen=True)
class Period:
    """Who or which cell held a case, or which step it was at, from when to when: within the case's open
    life (a period ends when the case closes; the same holders start anew when it is reopened)."""

    kind: str            # "assignee" | "responsible_cell" | "step"
    holder: str          # a user name, a cell id, or the case's step as the case names it (`current_step`)
    start: datetime
    end: datetime | None  # None: held still

    def hours(self, now: datetime) -> float:
        return round(((self.end or now) - self.start).total_seconds() / 3600, 2)

    def duration(self, now: datetime) -> dict[str, int]:
        """The time held as whole days and hours (to the nearest hour)."""
        days, hours = divmod(round(((self.end or now) - self.start).total_seconds() / 3600), 24)
        return {"days": days, "hours": hours}


def trace(entries: list[HistoryEntry], now: datetime) -> dict[str, Any]:
    """The accountability trace (问责追溯) of a case from its history: who held it, which cell was
    responsible and at which step it was, for how long, within its open life (closing ends every period,
    reopening starts the same holders anew); which deadlines passed, escalations and flags. A step is
    named as the case names it (raised, in_progress, a template step, implementation); a vote without a
    quorum leaves the case at its step."""
    periods: list[Period] = []
    open_: dict[str, tuple[str, datetime]] = {}
    holders: dict[str, str] = {}    # who holds each kind now, kept through a closure
    closed = False
    template: str | None = None

    def end(kind: str, at: datetime) -> None:
        if kind in open_:
            holder, since = open_.pop(kind)
            periods.append(Period(kind, holder, since, at))

    def hold(kind: str, holder: str, at: datetime) -> None:
        holders[kind] = holder
        if closed or (kind in open_ and open_[kind][0] == holder):
            return  # closed, or still the same holder: one unbroken period
        end(kind, at)
        open_[kind] = (holder, at)

    missed, escalations, flags = [], [], []
    for e in entries:
        d, at = e.data, e.occurred_at
        if e.type == "Raised":
            hold("responsible_cell", d["cell_id"], at)
            hold("step", RAISED, at)
        elif e.type == "Triaged":
            template = d["template"]
            hold("responsible_cell", d["responsible_cell_id"], at)
            hold("step", IN_PROGRESS if template is None else TEMPLATES[template].steps[0].key, at)
        elif e.type == "Assigned":
            hold("assignee", d["assignee"], at)
        elif e.type == "Escalated":
            hold("responsible_cell", d["to_cell_id"], at)
            escalations.append({"at": at, "from": d["from_cell_id"], "to": d["to_cell_id"], "by": e.actor,
                                "automatic": d["automatic"], "reason": d["reason"]})
        elif e.type in ("Discussed", "Voted", "Publicized") and d.get("step") and d.get("outcome") != INVALID:
            advanced = d.get("outcome") not in ("returned", REJECTED)
            hold("step", step_after(template, d["step"], advanced=advanced), at)
        elif e.type in ("Resolved", "Closed"):
            for kind in list(open_):
                end(kind, at)
            closed = True
        elif e.type == "Reopened":
            closed = False
            for kind, holder in holders.items():
                open_[kind] = (holder, at)
        elif e.type == "DeadlineMissed":
            missed.append({"deadline": d["deadline"], "due_at": d["due_at"], "recorded_at": at,
                           "late_hours": round((at - d["due_at"]).total_seconds() / 3600, 2)})
        elif e.type == "AccountabilityFlagged":
            flags.append({"at": at, "by": e.actor, "responsible": d["responsible"], "finding": d["finding"]})
    for kind, (holder, since) in open_.items():
        periods.append(Period(kind, holder, since, None))
    periods.sort(key=lambda p: (p.start, p.kind))
    return {
        "periods": [{"kind": p.kind, "holder": p.holder, "from": p.start, "to": p.end, "hours": p.hours(now),
                     "duration": p.duration(now)} for p in periods],
        "deadlines_missed": missed, "escalations": escalations, "accountability_flags": flags,
    }
