"""Minqing's one write path: an `Application` with one method per use case.

Every method loads what it needs, checks who may act, calls the aggregate, saves, and returns
a `Recorded` (aggregate id, new version, position in the application log) so callers can wait
for views to catch up, with the aggregate as the command left it and the event it recorded, so they can
tell what came of it without reading it again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError

from domain import audit, errors, seal
from domain.account import ROLES, Account, account_id
from domain.chain import ChainedAggregate, recording_with, replay
from domain.demand import Demand, NextAction
from domain.deployment import CHANNELS, TRACKS, Channel, Deployment
from domain.household import Household
from domain.request import HandledRequest
from domain.visit import HouseholdVisit
from domain.votes import Tally

SYSTEM = "system"        # the deadline watcher, the operator's console, the demo loader
RESIDENT = "resident"    # a resident without an account (public form, Open311)
PUBLIC_CHANNELS: tuple[Channel, ...] = ("online", "open311", "message_box")
FUTURE_TOLERANCE = timedelta(minutes=5)
RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

# Who may do what (DOMAIN.md, "Who uses it"). Scope is checked separately.
WORK = ("worker", "supervisor")
SUPERVISE = ("supervisor",)
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "raise": WORK, "triage": WORK, "assign": WORK, "reassign": SUPERVISE, "escalate": WORK,
    "note": WORK, "discuss": WORK, "vote": WORK, "publicize": WORK, "object": WORK,
    "answer_objection": SUPERVISE, "progress": WORK, "resolve": WORK, "close": WORK,
    "close_not_resolvable": SUPERVISE, "feedback": WORK, "reopen": SUPERVISE, "flag": SUPERVISE,
    "register_household": WORK, "recategorise_household": WORK, "schedule_visit": WORK,
    "conduct_visit": WORK, "miss_visit": WORK, "manage_accounts": ("admin",),
    "read_dashboards": ("supervisor", "reviewer"),   # the figures of the views, on the pages
}
RESIDENT_MAY = ("raise", "object", "feedback", "close")


def scopes_for(account: Account, action: str) -> list[str]:
    """The cells over which `account` holds a role allowed `action`: it may do it there and below."""
    return [cell for role, cell in account.grants if role in PERMISSIONS[action]]


def permission_for(action: str, demand: Demand) -> str:
    """The permission an action on a case needs: changing an existing assignee is a supervisor's call."""
    return "reassign" if action == "assign" and demand.assignee else action


def closing_permission(actor: str, outcome: str) -> str:
    """The permission closing a case as `outcome` needs: closing as not resolvable is a supervisor's call,
    and a resident may only withdraw a demand (raises for anything else)."""
    if actor == RESIDENT and outcome != "withdrawn":
        raise errors.NotAuthorised("a resident may only withdraw a demand")
    return "close_not_resolvable" if outcome == "not_resolvable" else "close"


A = TypeVar("A", bound=ChainedAggregate)
T = TypeVar("T")


@dataclass(frozen=True)
class Recorded:
    """What a command recorded: the aggregate, its new version and its position in the event log (pass
    it as ?after= to read your write); and, to tell what came of it without reading it again, the
    aggregate as the command left it (`state`, at `version`) and the last event it recorded there
    (`event`, the one at `version`)."""

    id: UUID
    version: int
    position: int
    state: ChainedAggregate = field(compare=False, repr=False)
    event: ChainedAggregate.Event = field(compare=False, repr=False)


CONFLICT_ATTEMPTS = 3
# The record of the request whose command runs now, in this thread (see `Minqing.once`); None for a
# command that is not run once per request.
_handling: ContextVar[UUID | None] = ContextVar("minqing_handling_request", default=None)


def retried(command: Callable[[], T]) -> T:
    """Run a command, loading afresh after a conflicting save: the attempt that lost saved nothing,
    so nothing is recorded twice. The last conflict goes to the caller."""
    for _ in range(CONFLICT_ATTEMPTS - 1):
        try:
            return command()
        except errors.ConcurrentUpdate:
            continue
    return command()


def _case_cells(demand: Demand) -> list[str]:
    """Where a case lies: where it was raised, and the cell now responsible for it."""
    return [demand.cell_id, demand.responsible_cell_id]


def _home_cell(found: Household | HouseholdVisit) -> list[str]:
    """Where a household, and so its visits, lies."""
    return [found.cell_id]


class AccountSource(Protocol):
    """Where the Application finds the account of a member of staff before letting them act. By default
    it loads it from the store each time; an edge that answers many requests may keep accounts and
    check each against `account_version` (`api.auth.CachedAccounts`); it is told of every change to
    one that this Application saves."""

    def get(self, username: str) -> Account: ...

    def changed(self, username: str) -> None: ...


@dataclass(frozen=True)
class StoredAccounts:
    """Each account loaded afresh from the store."""

    load: Callable[[str], Account]

    def get(self, username: str) -> Account:
        return self.load(username)

    def changed(self, username: str) -> None:
        pass


def new_receipt() -> str:
    """A receipt code (受理回执码): 10 characters of 32 that are not mistaken for each other, about 50 bits
    of chance, so that one cannot be guessed."""
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(10))


def utc_now() -> datetime:
    return datetime.now(UTC)


def _zoned(at: datetime | None) -> datetime | None:
    """A time to read the record at, which must say its zone."""
    if at is not None and at.tzinfo is None:
        raise errors.InvalidInput("as-of time needs a time zone")
    return at


class Minqing(Application[UUID]):
    """Every use case of Minqing, one method each."""

    name = "minqing"
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        Demand: 100, Household: 100, HouseholdVisit: 100, Account: 100}

    def __init__(self, deployment: Deployment, env: Mapping[str, str] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(env)
        self.deployment = deployment
        self.clock = clock
        self.accounts: AccountSource = StoredAccounts(self.account)

    # ------------------------------------------------------------------ plumbing
    def _when(self, occurred_at: datetime | None) -> datetime:
        """When the use case's fact happened (now, if not given). Every use case asks this first, so from
        here until its `_save` its events are recorded at this application's clock."""
        recording_with(self.clock)
        now = self.clock()
        if occurred_at is None:
            return now
        if occurred_at.tzinfo is None:
            raise errors.InvalidInput("occurred_at needs a time zone")
        if occurred_at > now + FUTURE_TOLERANCE:
            raise errors.OccurredInFuture("{at} is in the future", at=occurred_at)
        return occurred_at

    def _load(self, cls: type[A], aggregate_id: UUID, expected_version: int | None = None) -> A:
        try:
            aggregate = self.repository.get(aggregate_id, projector_func=replay)
        except AggregateNotFoundError:
            raise errors.NotFound("no {kind} {id}", kind=cls.__name__, id=aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise errors.NotFound("no {kind} {id}", kind=cls.__name__, id=aggregate_id)
        if expected_version is not None and aggregate.version != expected_version:
            raise errors.StaleVersion(
                "{kind} {id} is at version {version}, not {expected}",
                kind=cls.__name__, id=aggregate_id, version=aggregate.version, expected=expected_version)
        return aggregate

    def _save(self, *aggregates: ChainedAggregate) -> Recorded:
        """Save the aggregates in one transaction, with the record of the request being handled, if any
        (`once`). Should that record have been saved meanwhile, by another run of the same request, this
        saves nothing and returns what the other run recorded: a conflict, but not one to retry."""
        first = aggregates[0]
        last = first.pending_events[-1]  # the event at the version this saves: what came of the command
        assert isinstance(last, ChainedAggregate.Event)  # every aggregate of Minqing is chained
        request = _handling.get()
        if request is not None:
            aggregates = (*aggregates, HandledRequest.record(
                request, aggregate_id=first.id, version=first.version, actor=last.actor,
                occurred_at=self.clock()))
        recording_with(None)  # every event of the use case is made: back to the library's clock
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            earlier = None if request is None else self.handled(request)
            if earlier is not None:
                return earlier
            raise errors.ConcurrentUpdate("{kind} {id} was changed by someone else; reload it and try again",
                                          kind=type(first).__name__, id=first.id) from None
        return Recorded(first.id, first.version, max(r.notification.id for r in recordings), first, last)

    def once(self, request: UUID, command: Callable[[], Recorded]) -> Recorded:
        """Run `command` for a request that may be sent again, recording it at most once: `request` is
        the id of its record (`domain.request.request_record_id`), saved with the command's events.

        If the request was recorded before, `command` is not run: what it recorded is returned (see
        `handled`). If another run of it records first while this one runs, this one's save conflicts,
        records nothing and returns the same. A use case saves once (`_save`), so one record is enough."""
        earlier = self.handled(request)
        if earlier is not None:
            return earlier
        token = _handling.set(request)
        try:
            return command()
        finally:
            _handling.reset(token)

    def handled(self, request: UUID) -> Recorded | None:
        """What the command of a request recorded (`once`), or None if nothing was: the aggregate as that
        command left it, and its last event there. The position is the head of the log now: at or after
        the command's events, so reading `?after=` it shows them."""
        record = next(self.events.get(request, limit=1), None)
        if record is None:
            return None
        assert isinstance(record, HandledRequest.Handled)  # an id made from a key: only a record has it
        state = self.repository.get(record.aggregate_id, version=record.version, projector_func=replay)
        last = next(iter(self.events.get(record.aggregate_id, gt=record.version - 1, lte=record.version)))
        assert isinstance(state, ChainedAggregate) and isinstance(last, ChainedAggregate.Event)
        return Recorded(record.aggregate_id, record.version, self.recorder.max_notification_id() or 0, state,
                        last)

    def account(self, username: str) -> Account:
        """The account of a member of staff, as stored now."""
        try:
            account = self.repository.get(account_id(username), projector_func=replay)
        except AggregateNotFoundError:
            raise errors.UnknownActor("no account {user}", user=username) from None
        assert isinstance(account, Account)     # the id is made from the user name: only an account has it
        return account

    def account_version(self, username: str) -> int | None:
        """The version the account's history has reached in the store (None if there is no such
        account): one indexed read of its latest event, to tell whether a kept account is current."""
        latest = self.recorder.select_events(account_id(username), desc=True, limit=1)
        return latest[0].originator_version if latest else None

    def authorise(self, actor: str, action: str, cells: list[str]) -> None:
        """Raise unless `actor` holds a role allowed `action` over one of `cells` (or above it)."""
        if actor == SYSTEM:
            return
        if actor == RESIDENT:
            if action in RESIDENT_MAY:
                return
            raise errors.NotAuthorised("a resident may not {action}", action=action.replace("_", " "))
        account = self.accounts.get(actor)
        scopes = scopes_for(account, action)
        if not scopes:
            held = sorted({role for role, _ in account.grants}) or ["no role"]
            raise errors.NotAuthorised(
                "{actor} ({roles}) may not {action}",
                actor=actor, roles=tuple(held), action=action.replace("_", " "))
        if not any(self.deployment.within(cell, scope) for cell in cells for scope in scopes):
            raise errors.OutsideScope("{actor} does not work over {cells}", actor=actor,
                                      cells=tuple(sorted(set(cells))))

    def _reachable(self, cls: type[A], aggregate_id: UUID, actor: str, action: str,
                   cells: Callable[[A], list[str]], expected_version: int | None = None) -> A:
        """The case, household or visit `actor` acts on, and may do `action` on; one outside the actor's
        scope answers as one that does not exist (DOMAIN.md, "Who sees what")."""
        aggregate = self._load(cls, aggregate_id, expected_version)
        try:
            self.authorise(actor, action, cells(aggregate))
        except errors.OutsideScope:
            raise errors.NotFound("no {kind} {id}", kind=cls.__name__, id=aggregate_id) from None
        return aggregate

    def _demand(self, demand_id: UUID, actor: str, action: str,
                expected_version: int | None = None) -> Demand:
        return self._reachable(Demand, demand_id, actor, action, _case_cells, expected_version)

    def _referenced(self, cls: type[A], aggregate_id: UUID, field: str, actor: str, action: str,
                    cells: Callable[[A], list[str]]) -> A:
        """What a command refers to: it must exist and lie where `actor` may do `action` (a reference
        outside the actor's scope answers as one that does not exist)."""
        try:
            referenced = self._reachable(cls, aggregate_id, actor, action, cells)
        except errors.NotFound:
            raise errors.UnknownReference(field, "{field}: no {kind} {id} within your grid cells",
                                          field=field, kind=cls.__name__, id=aggregate_id) from None
        return referenced

    def _case(self, demand_id: UUID, actor: str, action: str, expected_version: int | None,
              occurred_at: datetime | None) -> tuple[Demand, datetime]:
        """The case `actor` acts on, loaded and authorised for `action`, and when the act happened."""
        when = self._when(occurred_at)
        demand = self._demand(demand_id, actor, action, expected_version)
        if when < demand.raised_at:
            raise errors.OccurredBeforeCase("{at} is before case {case} was raised, at {raised}", at=when,
                                            case=demand_id, raised=demand.raised_at)
        return demand, when

    def _policy(self, category: str) -> dict[str, int]:
        return dict(self.deployment.category(category).deadlines.__dict__)

    # ------------------------------------------------------------------ demands
    def raise_demand(self, *, actor: str, channel: str, title: str, cell_id: str, description: str = "",
                     category: str | None = None, location: str | None = None,
                     resident_name: str | None = None, resident_phone: str | None = None,
                     visit_id: UUID | None = None, occurred_at: datetime | None = None) -> Recorded:
        """Record a resident's demand (诉求) raised through a channel, optionally from a visit."""
        when = self._when(occurred_at)
        if channel not in CHANNELS:
            raise errors.InvalidInput("channel must be one of {choices}", choices=", ".join(CHANNELS))
        if actor == RESIDENT and channel not in PUBLIC_CHANNELS:
            raise errors.NotAuthorised("residents raise demands online, not through {channel}",
                                       channel=channel)
        if cell_id not in self.deployment.cells:
            raise errors.UnknownReference("cell_id", "no grid cell {cell} in this deployment", cell=cell_id)
        if category is not None:
            self.deployment.category(category)
        self.authorise(actor, "raise", [cell_id])
        policy = self.deployment.category(category).deadlines if category else \
            next(iter(self.deployment.categories.values())).deadlines
        visit = None
        if visit_id is not None:
            visit = self._referenced(HouseholdVisit, visit_id, "visit_id", actor, "raise", _home_cell)
        receipt = new_receipt()
        demand = Demand.raise_(
            channel=channel, title=title, description=description, cell_id=cell_id,
            category_hint=category, location=location, resident_name=resident_name,
            resident_phone=resident_phone, receipt=receipt, visit_id=visit_id,
            respond_by=when + policy.first_response, actor=actor, occurred_at=when)
        if visit is None:
            return self._save(demand)
        visit.link_demand(demand_id=demand.id, actor=actor, occurred_at=when)
        return self._save(demand, visit)

    def triage(self, demand_id: UUID, *, actor: str, category: str, responsible_cell_id: str | None = None,
               track: str | None = None, expected_version: int | None = None,
               occurred_at: datetime | None = None) -> Recorded:
        """Classify and route (分类分流): category, track, responsible cell, deadlines from policy."""
        demand, when = self._case(demand_id, actor, "triage", expected_version, occurred_at)
        spec = self.deployment.category(category)
        track = track or spec.track
        if track not in TRACKS:
            raise errors.InvalidInput("track is direct or deliberation")
        # the cell now responsible keeps an escalation made before triage
        responsible = responsible_cell_id or demand.responsible_cell_id
        self.deployment.cell(responsible)
        self.authorise(actor, "triage", [responsible])
        demand.triage(category=category, track=track, template=spec.template, responsible_cell_id=responsible,
                      policy=self._policy(category), actor=actor, occurred_at=when)
        return self._save(demand)

    def assign(self, demand_id: UUID, *, actor: str, assignee: str, expected_version: int | None = None,
               occurred_at: datetime | None = None) -> Recorded:
        """Give the case to a person; changing an existing assignee is a supervisor's call."""
        demand, when = self._case(demand_id, actor, "assign", expected_version, occurred_at)
        cells = _case_cells(demand)
        self.authorise(actor, permission_for("assign", demand), cells)  # reassigning: a supervisor's
        try:  # the assignee is someone who may work on the case where it is
            self.accounts.get(assignee)
            self.authorise(assignee, "progress", cells)
        except (errors.UnknownActor, errors.NotAuthorised, errors.OutsideScope):
            raise errors.UnknownReference("assignee", "{assignee} is not a worker or supervisor over {cell}",
                                          assignee=assignee, cell=demand.cell_id) from None
        demand.assign(assignee=assignee, actor=actor, occurred_at=when)
        return self._save(demand)

    def escalate(self, demand_id: UUID, *, actor: str, to_cell_id: str, reason: str,
                 expected_version: int | None = None, occurred_at: datetime | None = None) -> Recorded:
        """Escalate (上报) to any higher level of the grid, not only the next one."""
        demand, when = self._case(demand_id, actor, "escalate", expected_version, occurred_at)
        if to_cell_id not in self.deployment.cells:
            raise errors.UnknownReference("to_cell_id", "no grid cell {cell} in this deployment",
                                          cell=to_cell_id)
        demand.escalate(to_cell_id=to_cell_id,
                        higher_cells=self.deployment.ancestors(demand.responsible_cell_id),
                        reason=reason, automatic=False, actor=actor, occurred_at=when)
        return self._save(demand)

    def add_note(self, demand_id: UUID, *, actor: str, text: str, expected_version: int | None = None,
                 occurred_at: datetime | None = None) -> Recorded:
        """Add a working note to the case file."""
        demand, when = self._case(demand_id, actor, "note", expected_version, occurred_at)
        demand.add_note(text=text, actor=actor, occurred_at=when)
        return self._save(demand)

    def discuss(self, demand_id: UUID, *, actor: str, step: str, outcome: str = "endorsed",
                attendees: list[str] | None = None, summary: str = "", expected_version: int | None = None,
                occurred_at: datetime | None = None) -> Recorded:
        """Record a deliberation meeting (提议, 商议, 审议, …): when held, who attended, its outcome."""
        demand, when = self._case(demand_id, actor, "discuss", expected_version, occurred_at)
        demand.discuss(step=step, outcome=outcome, attendees=attendees or [], summary=summary, actor=actor,
                       occurred_at=when)
        return self._save(demand)

    def vote(self, demand_id: UUID, *, actor: str, body: str, members: int, present: int, in_favour: int,
             against: int, abstained: int, households: int = 0, households_present: int = 0,
             attendees: list[str] | None = None, expected_version: int | None = None,
             occurred_at: datetime | None = None) -> Recorded:
        """Record a vote; the outcome (adopted, rejected, invalid) follows the statute, not the caller."""
        demand, when = self._case(demand_id, actor, "vote", expected_version, occurred_at)
        tally = Tally(members, present, in_favour, against, abstained, households, households_present)
        demand.vote(body=body, tally=tally, attendees=attendees or [], actor=actor, occurred_at=when)
        return self._save(demand)

    def publicize(self, demand_id: UUID, *, actor: str, kind: str, text: str,
                  channels: list[str] | None = None, period_days: int | None = None,
                  expected_version: int | None = None, occurred_at: datetime | None = None) -> Recorded:
        """Post a public notice (公开): a resolution, a draft, a rejection or an implementation result."""
        demand, when = self._case(demand_id, actor, "publicize", expected_version, occurred_at)
        days = self.deployment.notice_days if period_days is None else period_days
        if days < 1:
            raise errors.InvalidInput("a notice stays up at least one day")
        demand.publicize(kind=kind, channels=channels or ["notice_board"], text=text,
                         period=timedelta(days=days), actor=actor, occurred_at=when)
        return self._save(demand)

    def lodge_objection(self, demand_id: UUID, *, actor: str, notice_id: str, text: str,
                        phone: str | None = None, expected_version: int | None = None,
                        occurred_at: datetime | None = None) -> Recorded:
        """Lodge an objection (异议) to a notice while it is up; anyone may, residents included. A resident
        without an account leaves a contact phone. Every objection gets a receipt code, by which whoever
        objected reads the answer (`objection_lodged` gives it)."""
        demand, when = self._case(demand_id, actor, "object", expected_version, occurred_at)
        if actor == RESIDENT and not (phone or "").strip():
            raise errors.InvalidInput("a resident's objection needs a contact phone", fields=("phone",))
        demand.lodge_objection(notice_id=notice_id, text=text, phone=phone, receipt=new_receipt(),
                               actor=actor, occurred_at=when)
        return self._save(demand)

    def objection_lodged(self, recorded: Recorded) -> Demand.ObjectionLodged:
        """The objection a `lodge_objection` recorded (its receipt code, to hand to whoever objected)."""
        event = next(iter(self.events.get(recorded.id, gt=recorded.version - 1, lte=recorded.version)), None)
        if not isinstance(event, Demand.ObjectionLodged):
            raise errors.NotFound("no objection recorded at version {version} of case {case}",
                                  version=recorded.version, case=recorded.id)
        return event

    def answer_objection(self, demand_id: UUID, *, actor: str, objection_id: str, answer: str,
                         expected_version: int | None = None,
                         occurred_at: datetime | None = None) -> Recorded:
        """A supervisor answers an objection."""
        demand, when = self._case(demand_id, actor, "answer_objection", expected_version, occurred_at)
        demand.answer_objection(objection_id=objection_id, answer=answer, actor=actor, occurred_at=when)
        return self._save(demand)

    def end_notice(self, demand_id: UUID, *, notice_id: str, occurred_at: datetime | None = None) -> Recorded:
        """Take a notice down once its period is over (the deadline watcher does this)."""
        when = self._when(occurred_at)
        demand = self._load(Demand, demand_id)
        demand.end_notice(notice_id=notice_id, actor=SYSTEM, occurred_at=when)
        return self._save(demand)

    def record_progress(self, demand_id: UUID, *, actor: str, summary: str, percent: int,
                        expected_version: int | None = None, occurred_at: datetime | None = None) -> Recorded:
        """Record how far implementation has got."""
        demand, when = self._case(demand_id, actor, "progress", expected_version, occurred_at)
        demand.record_progress(summary=summary, percent=percent, actor=actor, occurred_at=when)
        return self._save(demand)

    def resolve(self, demand_id: UUID, *, actor: str, summary: str, expected_version: int | None = None,
                occurred_at: datetime | None = None) -> Recorded:
        """Mark the demand resolved; the resident is then asked for feedback."""
        demand, when = self._case(demand_id, actor, "resolve", expected_version, occurred_at)
        demand.resolve(summary=summary, feedback_period=self.deployment.feedback_period, actor=actor,
                       occurred_at=when)
        return self._save(demand)

    def close_case(self, demand_id: UUID, *, actor: str, outcome: str, explanation: str = "",
              merged_into: UUID | None = None, expected_version: int | None = None,
              occurred_at: datetime | None = None) -> Recorded:
        """Close as not resolvable, withdrawn, rejected (after the rejection is public) or merged."""
        action = closing_permission(actor, outcome)
        demand, when = self._case(demand_id, actor, action, expected_version, occurred_at)
        if merged_into is not None:
            self._referenced(Demand, merged_into, "merged_into", actor, action, _case_cells)
        demand.close(outcome=outcome, explanation=explanation, merged_into=merged_into,
                     feedback_period=self.deployment.feedback_period, actor=actor, occurred_at=when)
        return self._save(demand)

    def give_feedback(self, demand_id: UUID, *, actor: str, rating: str, comment: str = "",
                      expected_version: int | None = None, occurred_at: datetime | None = None) -> Recorded:
        """Record the resident's rating (satisfied, basically satisfied, dissatisfied)."""
        demand, when = self._case(demand_id, actor, "feedback", expected_version, occurred_at)
        demand.give_feedback(rating=rating, comment=comment, actor=actor, occurred_at=when)
        return self._save(demand)

    def expire_feedback(self, demand_id: UUID, *, occurred_at: datetime | None = None) -> Recorded:
        """Record that the feedback window passed in silence (never counted as satisfied)."""
        when = self._when(occurred_at)
        demand = self._load(Demand, demand_id)
        demand.expire_feedback(actor=SYSTEM, occurred_at=when)
        return self._save(demand)

    def reopen(self, demand_id: UUID, *, actor: str, reason: str, expected_version: int | None = None,
               occurred_at: datetime | None = None) -> Recorded:
        """Reopen a resolved case (dissatisfied feedback, or a return recheck 回访复查) with new deadlines."""
        demand, when = self._case(demand_id, actor, "reopen", expected_version, occurred_at)
        demand.reopen(reason=reason, actor=actor, occurred_at=when)
        return self._save(demand)

    def flag(self, demand_id: UUID, *, actor: str, responsible: str, finding: str,
             expected_version: int | None = None, occurred_at: datetime | None = None) -> Recorded:
        """Flag an unresolved case for accountability (问责), naming who is responsible."""
        demand, when = self._case(demand_id, actor, "flag", expected_version, occurred_at)
        demand.flag(responsible=responsible, finding=finding, actor=actor, occurred_at=when)
        return self._save(demand)

    def record_missed_deadlines(self, demand_id: UUID, *,
                                occurred_at: datetime | None = None) -> Recorded | None:
        """Record every passed deadline as missed and escalate one level up for each (the watcher's job).

        Returns None when nothing was due, so running it twice records nothing twice.
        """
        when = self._when(occurred_at)
        demand = self._load(Demand, demand_id)
        due = demand.passed_deadlines(when)
        if not due:
            return None
        for name, _ in due:
            demand.miss_deadline(deadline=name, actor=SYSTEM, occurred_at=when)
            parent = self.deployment.cell(demand.responsible_cell_id).parent
            if parent is not None:
                demand.escalate(to_cell_id=parent, higher_cells=[parent], reason=f"{name} deadline missed",
                                automatic=True, actor=SYSTEM, occurred_at=when)
        return self._save(demand)

    def demand(self, demand_id: UUID) -> Demand:
        """The current state of a case."""
        return self._load(Demand, demand_id)

    def next_actions(self, demand: Demand, actor: str) -> list[NextAction]:
        """What `actor` may do next on the case, now, with the choices that make each action succeed: the
        actions the case accepts now (`Demand.next_actions`, escalation to any cell above the one
        responsible) that `actor` is authorised for over the case; closing offers only the outcomes
        `actor` may close as (`closing_permission`)."""
        cells = _case_cells(demand)

        def permitted(action: str, outcome: str | None = None) -> bool:
            try:
                self.authorise(actor, permission_for(action, demand) if outcome is None
                               else closing_permission(actor, outcome), cells)
            except (errors.NotAuthorised, errors.OutsideScope):
                return False
            return True

        offered = []
        higher_cells = self.deployment.ancestors(demand.responsible_cell_id)
        for action in demand.next_actions(self.clock(), higher_cells):
            if action.name == "close":
                outcomes = tuple(o for o in action.choices["outcome"] if permitted("close", o))
                if outcomes:
                    offered.append(replace(action, choices={"outcome": outcomes}))
            elif permitted(action.name):
                offered.append(action)
        return offered

    def allowed_actions(self, demand: Demand, actor: str) -> list[str]:
        """The names of the actions `actor` may take next on the case (`next_actions`)."""
        return [action.name for action in self.next_actions(demand, actor)]

    # ------------------------------------------------------------------ households and visits
    def register_household(self, *, actor: str, cell_id: str, address: str, categories: list[str],
                           members: int = 1, head_name: str | None = None, phone: str | None = None,
                           occurred_at: datetime | None = None) -> Recorded:
        """Register a household in a grid cell; its categories set how often it is visited."""
        when = self._when(occurred_at)
        self.deployment.cell(cell_id)
        self.authorise(actor, "register_household", [cell_id])
        household = Household.register(cell_id=cell_id, address=address, head_name=head_name, phone=phone,
                                       members=members, categories=categories,
                                       cadence_days=self.deployment.cadence(categories), actor=actor,
                                       occurred_at=when)
        return self._save(household)

    def recategorise_household(self, household_id: UUID, *, actor: str, categories: list[str],
                               occurred_at: datetime | None = None) -> Recorded:
        """Change a household's categories (and so its visiting cadence)."""
        when = self._when(occurred_at)
        household = self._reachable(Household, household_id, actor, "recategorise_household", _home_cell)
        household.recategorise(categories=categories, cadence_days=self.deployment.cadence(categories),
                               actor=actor, occurred_at=when)
        return self._save(household)

    def schedule_visit(self, household_id: UUID, *, actor: str, visitor: str, purpose: str, due_at: datetime,
                       occurred_at: datetime | None = None) -> Recorded:
        """Schedule a visit (走访) to a household."""
        when = self._when(occurred_at)
        household = self._reachable(Household, household_id, actor, "schedule_visit", _home_cell)
        if due_at.tzinfo is None:
            raise errors.InvalidInput("due_at needs a time zone")
        household.require_registered_by(when)
        visit = HouseholdVisit.schedule(household_id=household_id, cell_id=household.cell_id, visitor=visitor,
                                        purpose=purpose, due_at=due_at, actor=actor, occurred_at=when)
        return self._save(visit)

    def conduct_visit(self, visit_id: UUID, *, actor: str, mode: str, notes: str = "",
                      needs_found: list[str] | None = None, occurred_at: datetime | None = None) -> Recorded:
        """Record that a scheduled visit took place, and the needs found."""
        when = self._when(occurred_at)
        visit = self._reachable(HouseholdVisit, visit_id, actor, "conduct_visit", _home_cell)
        visit.conduct(mode=mode, notes=notes, needs_found=needs_found or [], actor=actor, occurred_at=when)
        return self._save(visit)

    def miss_visit(self, visit_id: UUID, *, actor: str, reason: str,
                   occurred_at: datetime | None = None) -> Recorded:
        """Record that a scheduled visit did not take place."""
        when = self._when(occurred_at)
        visit = self._reachable(HouseholdVisit, visit_id, actor, "miss_visit", _home_cell)
        visit.miss(reason=reason, actor=actor, occurred_at=when)
        return self._save(visit)

    def household(self, household_id: UUID) -> Household:
        return self._load(Household, household_id)

    def visit(self, visit_id: UUID) -> HouseholdVisit:
        return self._load(HouseholdVisit, visit_id)

    # ------------------------------------------------------------------ accounts
    def open_account(self, *, actor: str, username: str, display_name: str = "",
                     occurred_at: datetime | None = None) -> Recorded:
        """Open a staff account (no role yet)."""
        when = self._when(occurred_at)
        self.authorise(actor, "manage_accounts", [self.deployment.root.id])
        account = Account.open(username=username, display_name=display_name, actor=actor, occurred_at=when)
        try:
            return self._save(account)
        except errors.ConcurrentUpdate:
            raise errors.AccountExists("account {user} already exists", user=username) from None

    def grant_role(self, *, actor: str, username: str, role: str, cell_id: str,
                   occurred_at: datetime | None = None) -> Recorded:
        """Grant a role over a grid cell and everything below it."""
        return self._change_role(actor, username, role, cell_id, occurred_at, grant=True)

    def revoke_role(self, *, actor: str, username: str, role: str, cell_id: str,
                    occurred_at: datetime | None = None) -> Recorded:
        """Revoke a role over a cell; effective at once in this process."""
        return self._change_role(actor, username, role, cell_id, occurred_at, grant=False)

    def _change_role(self, actor: str, username: str, role: str, cell_id: str, occurred_at: datetime | None,
                     *, grant: bool) -> Recorded:
        when = self._when(occurred_at)
        self.deployment.cell(cell_id)
        if role not in ROLES:
            raise errors.InvalidInput("role must be one of {choices}", choices=", ".join(ROLES))
        self.authorise(actor, "manage_accounts", [cell_id])
        account = self._load(Account, account_id(username))
        change = account.grant if grant else account.revoke
        change(role=role, cell_id=cell_id, actor=actor, occurred_at=when)
        recorded = self._save(account)
        self.accounts.changed(username)
        return recorded

    def issue_token(self, *, actor: str, username: str, token_id: str, secret_hash: str, label: str = "",
                    occurred_at: datetime | None = None) -> Recorded:
        """Record a bearer token issued to a staff account: its id and the hash of its secret (the token
        itself is made and handed over at the edge, `api.auth`, and never stored)."""
        when = self._when(occurred_at)
        self.authorise(actor, "manage_accounts", [self.deployment.root.id])
        account = self._load(Account, account_id(username))
        account.issue_token(token_id=token_id, secret_hash=secret_hash, label=label, actor=actor,
                            occurred_at=when)
        recorded = self._save(account)
        self.accounts.changed(username)
        return recorded

    def revoke_token(self, *, actor: str, username: str, token_id: str,
                     occurred_at: datetime | None = None) -> Recorded:
        """Revoke a bearer token; effective at once in this process, within seconds in others."""
        when = self._when(occurred_at)
        self.authorise(actor, "manage_accounts", [self.deployment.root.id])
        account = self._load(Account, account_id(username))
        account.revoke_token(token_id=token_id, actor=actor, occurred_at=when)
        recorded = self._save(account)
        self.accounts.changed(username)
        return recorded

    def set_password(self, *, actor: str, username: str, password_hash: str,
                     occurred_at: datetime | None = None) -> Recorded:
        """Record a new sign-in password of a staff account, as its hash (the password is checked and
        hashed at the edge, `api.auth`, and never stored). A member of staff sets their own; an admin
        anyone's. Every session signed in with the old one ends on its next request."""
        when = self._when(occurred_at)
        if actor != username:
            self.authorise(actor, "manage_accounts", [self.deployment.root.id])
        account = self._load(Account, account_id(username))
        account.set_password(password_hash=password_hash, actor=actor, occurred_at=when)
        recorded = self._save(account)
        self.accounts.changed(username)
        return recorded

    # ------------------------------------------------------------------ history and audit
    def history(self, aggregate_id: UUID, *, as_of: datetime | None = None,
                known_at: datetime | None = None) -> list[audit.HistoryEntry]:
        """Every event of a case, household, visit or account: who, recorded when, occurred when, what;
        given `as_of` and/or `known_at`, the facts that had happened by `as_of` and were recorded by
        `known_at` (see `as_of` for the answer before the first)."""
        entries = audit.history(self, aggregate_id, as_of=_zoned(as_of), known_at=_zoned(known_at))
        if not entries and (as_of is not None or known_at is not None):
            self.as_of(aggregate_id, as_of, known_at=known_at)  # says why nothing was there then
        if not entries:
            raise errors.NotFound("nothing recorded for {id}", id=aggregate_id)
        return entries

    def as_of(self, aggregate_id: UUID, at: datetime | None = None, *,
              known_at: datetime | None = None) -> audit.Then:
        """The state of an aggregate as of `at` (occurred time: every fact that had happened by then, as
        the record stands now) and/or as known at `known_at` (recorded time: what had been recorded by
        then); both: what had happened by `at` and been recorded by `known_at`. See `audit.Then` for why
        a fact recorded out of its time's order can be left out of the state. Raises NotYetExisting or
        NotYetRecorded for a time before the first fact or record of it, NotFound for an unknown id."""
        run, left_out = audit.run_until(self, aggregate_id, as_of=_zoned(at), known_at=_zoned(known_at))
        aggregate = replay(None, run)
        assert isinstance(aggregate, ChainedAggregate)
        return audit.Then(aggregate, left_out)

    def verify(self, aggregate_id: UUID | None = None, sealed: seal.SealedRecord | None = None
               ) -> audit.Verification:
        """Check the hash chain of one aggregate, or of every aggregate and snapshot in the store; with the
        sealed log, also every event against its leaf and every signed head against the leaves."""
        check = None if sealed is None else partial(seal.SealCheck, record=sealed)
        return audit.verify(self, aggregate_id, check)

    def verify_sealed(self, aggregate_id: UUID, sealed: seal.SealedRecord
                      ) -> tuple[audit.Verification, seal.CaseSeal]:
        """Check one aggregate's chain, its events against their sealed leaves, and prove each leaf's
        inclusion under the latest signed head."""
        leaves = sealed.leaves_of(str(aggregate_id))
        chain = audit.verify(self, aggregate_id)
        events = [e for e in self.events.get(aggregate_id) if isinstance(e, ChainedAggregate.Event)]
        return chain, seal.seal_of(aggregate_id, leaves, events, sealed)

    def verify_within(self, cells: Collection[str], listed: Iterable[UUID]) -> audit.Verification:
        """Check the hash chains of what lies within `cells`: the cases and households `listed` there (by
        the views, which know where each lies) and the visits scheduled there. Nothing else is read."""
        return audit.verify_each(self, dict.fromkeys([*listed, *audit.visits_within(self, cells)]))
