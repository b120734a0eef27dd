"""What a write answers: what it recorded and what came of it — the new version, where the case now stands,
and what the command produced (a vote's outcome, a notice, a receipt code, a closing and its feedback
window…).

Each answer is read from what the command itself returned (`Recorded`: the aggregate as the command left it
and the event it recorded), never from a view, which may lag; so it equals what a following GET shows, and a
request sent again under its Idempotency-Key answers the same facts (`Minqing.handled` loads them at the
version the first run recorded). One response model per kind of write, so the OpenAPI document shows each;
the names are those of the case's state (`GET /api/v1/demands/{id}`) and of its events (`…/history`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self
from uuid import UUID

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain.application import Recorded
from domain.chain import ChainedAggregate, plain
from domain.demand import Demand
from domain.household import Household
from domain.masking import masked
from domain.visit import HouseholdVisit


class Written(BaseModel):
    """What a write recorded: the aggregate, its new version and the position of the write in the event
    log (pass it as `?after=` to a list to read your write)."""

    id: UUID
    version: int
    position: int

    @classmethod
    def facts(cls, done: Recorded) -> dict[str, Any]:
        """What the write left, besides id, version and position (each kind of write its own)."""
        return {}

    @classmethod
    def of(cls, done: Recorded) -> Self:
        return cls.model_validate({"id": done.id, "version": done.version, "position": done.position}
                                  | cls.facts(done))


def answer(written: BaseModel, *, hide: bool = False, created: str | None = None) -> JSONResponse:
    """A write's answer as JSON, its times and ids written as the GETs write them (`plain`), its personal
    data masked (`hide`) as a GET masks it for the same caller; 201 and its Location when it created the
    aggregate."""
    body = plain(written.model_dump(by_alias=True))
    if hide:
        body = masked(body)
    if created is None:
        return JSONResponse(body)
    return JSONResponse(body, status_code=201, headers={"Location": created})


# ---------------------------------------------------------------- cases
def _case(done: Recorded) -> tuple[Demand, ChainedAggregate.Event]:
    assert isinstance(done.state, Demand)  # the routes of this kind of answer run a use case on a case
    return done.state, done.event


class CaseWritten(Written):
    """…and where the case stands now."""

    status: str = Field(description="raised, in_progress, deliberating, implementing or closed")
    current_step: str = Field(description="The template's step the case waits for, `implementation`, or "
                                          "its status")
    outcome: str | None = Field(description="How the case was closed (resolved, not_resolvable, withdrawn, "
                                            "rejected, merged); null while it is open")

    @classmethod
    def facts(cls, done: Recorded) -> dict[str, Any]:
        demand, event = _case(done)
        return {"status": demand.status, "current_step": demand.current_step, "outcome": demand.outcome} \
            | cls.produced(demand, event)

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        """What this kind of command produced on the case."""
        return {}


class CaseMoved(CaseWritten):
    """…the round of deliberation, and the deadlines now running."""

    round: int
    deadlines: dict[str, datetime]

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"round": demand.round, "deadlines": demand.deadlines} | cls.moved(demand, event)

    @classmethod
    def moved(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {}


class DemandRaised(CaseMoved):
    """A demand raised: its receipt code (受理回执码), by which the resident follows it."""

    receipt: str
    raised_at: datetime
    cell_id: str

    @classmethod
    def moved(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"receipt": demand.receipt, "raised_at": demand.raised_at, "cell_id": demand.cell_id}


class CaseTriaged(CaseMoved):
    """A case triaged: its category, track, process template and the cell responsible."""

    category: str
    track: str
    template: str | None
    responsible_cell_id: str

    @classmethod
    def moved(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"category": demand.category, "track": demand.track, "template": demand.template_key,
                "responsible_cell_id": demand.responsible_cell_id}


class CaseAssigned(CaseWritten):
    """A case assigned: who holds it now."""

    assignee: str

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"assignee": demand.assignee}


class Escalation(BaseModel):
    """An escalation as the case's `escalations` list it."""

    # "from" is a keyword in Python: the field is spelled otherwise, and written as "from"
    from_cell: str = Field(alias="from", description="The cell that held the case")
    to: str = Field(description="The cell it was escalated to")
    automatic: bool = Field(description="Escalated by the deadline watcher, not by a person")


class CaseEscalated(CaseWritten):
    """A case escalated (上报): from where to where, and the cell now responsible."""

    escalation: Escalation
    responsible_cell_id: str

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"escalation": demand.escalations[-1], "responsible_cell_id": demand.responsible_cell_id}


class Meeting(BaseModel):
    step: str
    round: int
    outcome: str = Field(description="endorsed, or returned for a new round")


class MeetingHeld(CaseMoved):
    """A deliberation meeting recorded: its step and outcome."""

    meeting: Meeting

    @classmethod
    def moved(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        assert isinstance(event, Demand.Discussed)
        return {"meeting": {"step": event.step, "round": event.round, "outcome": event.outcome}}


class VoteResult(BaseModel):
    step: str
    round: int
    body: str
    outcome: str = Field(description="As the statute decides it: adopted, rejected, or invalid (no quorum)")
    members: int
    present: int
    in_favour: int
    against: int
    abstained: int
    households: int
    households_present: int


class VoteRecorded(CaseMoved):
    """A vote recorded: the outcome the statute gives its counts."""

    vote: VoteResult

    COUNTED: ClassVar[tuple[str, ...]] = tuple(VoteResult.model_fields)

    @classmethod
    def moved(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        assert isinstance(event, Demand.Voted)
        return {"vote": {name: getattr(event, name) for name in cls.COUNTED}}


class PostedNotice(BaseModel):
    notice_id: str
    kind: str
    round: int
    channels: list[str]
    posted_at: datetime
    ends_at: datetime = Field(description="When its period is over (objections are taken until then)")
    ended: bool


class NoticePosted(CaseMoved):
    """A notice posted (公开): its id, by which it is objected to, and when its period ends."""

    notice: PostedNotice

    @classmethod
    def moved(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        assert isinstance(event, Demand.Publicized)
        return {"notice": {"notice_id": event.notice_id, "channels": event.channels,
                           **demand.notices[event.notice_id]}}


class LodgedObjection(BaseModel):
    objection_id: str
    notice_id: str
    lodged_at: datetime
    answered: bool


class ObjectionWithReceipt(LodgedObjection):
    receipt: str | None = Field(description="The receipt code by which whoever objected reads the answer")


class ObjectionLodged(CaseWritten):
    """An objection lodged: its id and receipt code."""

    objection: ObjectionWithReceipt

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        assert isinstance(event, Demand.ObjectionLodged)
        return {"objection": {"objection_id": event.objection_id, "receipt": event.receipt,
                              **demand.objections[event.objection_id]}}


class ObjectionAnswered(CaseWritten):
    """An objection answered."""

    objection: LodgedObjection

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        assert isinstance(event, Demand.ObjectionAnswered)
        return {"objection": {"objection_id": event.objection_id, **demand.objections[event.objection_id]}}


class ProgressRecorded(CaseWritten):
    """Implementation progress recorded."""

    percent: int

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"percent": demand.progress_log[-1]}


class FeedbackWindow(CaseWritten):
    """…and the resident's feedback: asked (until `feedback_due`), given, expired, or none asked."""

    feedback_state: str | None
    feedback_due: datetime | None
    rating: str | None

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"feedback_state": demand.feedback_state, "feedback_due": demand.feedback_due,
                "rating": demand.rating} | cls.closing(demand)

    @classmethod
    def closing(cls, demand: Demand) -> dict[str, Any]:
        return {}


class CaseClosed(FeedbackWindow):
    """A case resolved or closed: its outcome (`outcome`), and the feedback window it opened, if any."""

    merged_into: UUID | None

    @classmethod
    def closing(cls, demand: Demand) -> dict[str, Any]:
        return {"merged_into": demand.merged_into}


class CaseReopened(CaseMoved):
    """A case reopened: how often now, and its fresh deadlines."""

    reopen_count: int

    @classmethod
    def moved(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"reopen_count": demand.reopen_count}


class FlagRecorded(BaseModel):
    responsible: str
    finding: str


class CaseFlagged(CaseWritten):
    """An accountability flag (问责) recorded."""

    flag: FlagRecorded

    @classmethod
    def produced(cls, demand: Demand, event: ChainedAggregate.Event) -> dict[str, Any]:
        return {"flag": demand.flags[-1]}


# ---------------------------------------------------------------- households and visits
class HouseholdWritten(Written):
    """A household registered or recategorised: its categories and how often it is visited."""

    cell_id: str
    categories: list[str]
    cadence_days: int | None = Field(description="Days between visits; null: not visited on a cadence")

    @classmethod
    def facts(cls, done: Recorded) -> dict[str, Any]:
        assert isinstance(done.state, Household)
        household = done.state
        return {"cell_id": household.cell_id, "categories": household.categories,
                "cadence_days": household.cadence_days}


class VisitWritten(Written):
    """A visit scheduled, conducted or missed: where it stands now."""

    household_id: UUID
    visitor: str
    purpose: str
    due_at: datetime
    status: str = Field(description="scheduled, conducted or missed")

    @classmethod
    def facts(cls, done: Recorded) -> dict[str, Any]:
        assert isinstance(done.state, HouseholdVisit)
        visit = done.state
        return {"household_id": visit.household_id, "visitor": visit.visitor, "purpose": visit.purpose,
                "due_at": visit.due_at, "status": visit.status}


# ---------------------------------------------------------------- residents (no account)
class Receipt(BaseModel):
    """A demand raised online: its receipt code, to follow it and to give feedback by, and where it stands
    (as following it by the code shows)."""

    receipt: str
    position: int
    status: str
    current_step: str
    raised_at: datetime

    @classmethod
    def of(cls, done: Recorded) -> Self:
        demand, _ = _case(done)
        return cls(receipt=demand.receipt, position=done.position, status=demand.status,
                   current_step=demand.current_step, raised_at=demand.raised_at)


class ObjectionReceipt(BaseModel):
    """The receipt code of an objection, by which whoever lodged it reads the answer; the notice it was
    lodged to, and until when that notice is up."""

    receipt: str
    position: int
    notice_id: str
    notice_ends_at: datetime
    lodged_at: datetime

    @classmethod
    def of(cls, done: Recorded) -> Self:
        demand, event = _case(done)
        assert isinstance(event, Demand.ObjectionLodged) and event.receipt is not None  # a resident's has one
        return cls(receipt=event.receipt, position=done.position, notice_id=event.notice_id,
                   notice_ends_at=demand.notices[event.notice_id]["ends_at"], lodged_at=event.occurred_at)
