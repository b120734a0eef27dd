"""A household visit (走访): scheduled, then conducted or missed; needs found become demands."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

from domain import errors
from domain.chain import UNSET_ID, UNSET_TIME, ChainedAggregate

VisitPurpose = Literal["routine", "welfare_call", "mediation", "follow_up"]
PURPOSES: tuple[VisitPurpose, ...] = get_args(VisitPurpose)
VisitMode = Literal["in_home", "phone", "reception"]
MODES: tuple[VisitMode, ...] = get_args(VisitMode)
SCHEDULED, CONDUCTED, MISSED = "scheduled", "conducted", "missed"


class HouseholdVisit(ChainedAggregate):
    """One visit to one household."""

    # Version 2 keeps when the visit was scheduled: a snapshot taken before has no such time, so the
    # visit's record is not held to one.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["scheduled_at"] = UNSET_TIME

    def __init__(self) -> None:
        super().__init__()
        self.household_id: UUID = UNSET_ID
        self.cell_id: str = ""
        self.visitor: str = ""
        self.purpose: str = ""
        self.due_at: datetime = UNSET_TIME
        self.scheduled_at: datetime = UNSET_TIME
        self.status: str = SCHEDULED
        self.demand_ids: list[UUID] = []
        self.conducted_at: datetime | None = None

    class Scheduled(ChainedAggregate.Created):
        household_id: UUID
        cell_id: str
        visitor: str
        purpose: str
        due_at: datetime

        def apply(self, v: HouseholdVisit) -> None:
            v.household_id, v.cell_id, v.visitor = self.household_id, self.cell_id, self.visitor
            v.purpose, v.due_at, v.scheduled_at = self.purpose, self.due_at, self.occurred_at

    class Conducted(ChainedAggregate.Event):
        household_id: UUID
        mode: str
        notes: str
        needs_found: list[str]

        def apply(self, v: HouseholdVisit) -> None:
            v.status, v.conducted_at = CONDUCTED, self.occurred_at

    class Missed(ChainedAggregate.Event):
        household_id: UUID
        reason: str

        def apply(self, v: HouseholdVisit) -> None:
            v.status = MISSED

    class NeedRaised(ChainedAggregate.Event):
        demand_id: UUID

        def apply(self, v: HouseholdVisit) -> None:
            v.demand_ids.append(self.demand_id)

    @classmethod
    def schedule(cls, *, household_id: UUID, cell_id: str, visitor: str, purpose: str,
                 due_at: datetime, actor: str, occurred_at: datetime) -> HouseholdVisit:
        if purpose not in PURPOSES:
            raise errors.InvalidInput("visit purpose must be one of {choices}", choices=", ".join(PURPOSES))
        if not visitor.strip():
            raise errors.InvalidInput("a visit needs a visitor")
        return cls._create(cls.Scheduled, household_id=household_id, cell_id=cell_id, visitor=visitor,
                           purpose=purpose, due_at=due_at, actor=actor, occurred_at=occurred_at)

    def _require_scheduled(self, at: datetime) -> None:
        if self.status != SCHEDULED:
            raise errors.VisitNotScheduled(
                "visit {visit} was already {status}",
                visit=self.id, status=self.status)
        if at < self.scheduled_at:
            raise errors.OccurredOutOfOrder("{at} is before visit {visit} was scheduled, at {scheduled}",
                                            at=at, visit=self.id, scheduled=self.scheduled_at)

    def conduct(self, *, mode: str, notes: str, needs_found: list[str], actor: str,
                occurred_at: datetime) -> None:
        self._require_scheduled(occurred_at)
        if mode not in MODES:
            raise errors.InvalidInput("visit mode must be one of {choices}", choices=", ".join(MODES))
        self.trigger_event(self.Conducted, household_id=self.household_id, mode=mode, notes=notes,
                           needs_found=list(needs_found),
                           actor=actor, occurred_at=occurred_at)

    def miss(self, *, reason: str, actor: str, occurred_at: datetime) -> None:
        self._require_scheduled(occurred_at)
        self.trigger_event(self.Missed, household_id=self.household_id, reason=reason, actor=actor,
                           occurred_at=occurred_at)

    def link_demand(self, *, demand_id: UUID, actor: str, occurred_at: datetime) -> None:
        if self.status != CONDUCTED:
            raise errors.VisitNotScheduled("a demand is raised from a visit once it has been conducted")
        assert self.conducted_at is not None    # conducting sets it
        if occurred_at < self.conducted_at:
            raise errors.OccurredOutOfOrder("{at} is before visit {visit} took place, at {conducted}",
                                            at=occurred_at, visit=self.id, conducted=self.conducted_at)
        self.trigger_event(self.NeedRaised, demand_id=demand_id, actor=actor, occurred_at=occurred_at)
