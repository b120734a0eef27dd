"""Request and response bodies. Free text is bounded; times must carry a zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Text = Annotated[str, StringConstraints(max_length=5000)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2999, 12, 31, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    # Times far outside this range cannot even be converted to UTC (year 1 at +14:00), which the views do.
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"a time from {EARLIEST:%Y} to {LATEST:%Y} is expected")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]
Channel = Literal["visit", "reception_day", "phone", "online", "open311", "delegate", "message_box", "grid_patrol"]


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(map(_holds_nul, value))


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: an event carrying one would stop every view that copies it.
        if _holds_nul(value):
            raise ValueError("text may not contain the NUL character (\\u0000)")
        return value


class Command(Body):
    occurred_at: Moment | None = Field(None, description="When it happened (a meeting's date); default now")


class PublicDemand(Body):
    """What a resident says about a demand (the public form and Open311 take the same)."""

    title: Line
    cell_id: Name
    description: Text = ""
    category: Name | None = None
    location: Line | None = None
    resident_name: Name | None = None
    resident_phone: Annotated[str, StringConstraints(max_length=30)] | None = None


class RaiseDemand(PublicDemand, Command):
    channel: Channel
    visit_id: UUID | None = None


class Triage(Command):
    category: Name
    responsible_cell_id: Name | None = None
    track: Literal["direct", "deliberation"] | None = None


class Assign(Command):
    assignee: Name


class Escalate(Command):
    to_cell_id: Name
    reason: Text = ""


class Discuss(Command):
    step: Name
    outcome: Literal["endorsed", "returned"] = "endorsed"
    attendees: list[Name] = Field(default_factory=list, max_length=1000)
    summary: Text = ""


class Vote(Command):
    body: Literal["representatives", "assembly", "residents_representatives"]
    members: Count
    present: Count
    in_favour: Count
    against: Count
    abstained: Count
    households: Count = 0
    households_present: Count = 0
    attendees: list[Name] = Field(default_factory=list, max_length=1000)


class Publicize(Command):
    kind: Literal["resolution", "result", "draft", "rejection"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    channels: list[Literal["notice_board", "loudspeaker", "online", "sms", "wechat_group"]] = \
        Field(default_factory=lambda: ["notice_board"], min_length=1, max_length=5)
    period_days: Annotated[int, Field(ge=1, le=365)] | None = None


class Objection(Command):
    notice_id: Name
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class AnswerObjection(Command):
    objection_id: Name
    answer: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class Progress(Command):
    summary: Text = ""
    percent: Annotated[int, Field(ge=0, le=100)]


class Resolve(Command):
    summary: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class Close(Command):
    outcome: Literal["not_resolvable", "withdrawn", "rejected", "merged"]
    explanation: Text = ""
    merged_into: UUID | None = None


class Feedback(Command):
    rating: Literal["satisfied", "basically_satisfied", "dissatisfied"]
    comment: Text = ""


class Reopen(Command):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class Flag(Command):
    responsible: Line
    finding: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class Note(Command):
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class RegisterHousehold(Command):
    cell_id: Name
    address: Line
    categories: list[Literal["ordinary", "minimum_living_allowance", "hardship", "elderly_alone", "disabled",
                             "hospitalised", "unemployed"]] = Field(min_length=1, max_length=7)
    members: Annotated[int, Field(ge=1, le=100)] = 1
    head_name: Name | None = None
    phone: Annotated[str, StringConstraints(max_length=30)] | None = None


class ScheduleVisit(Command):
    visitor: Name
    purpose: Literal["routine", "welfare_call", "mediation", "follow_up"]
    due_at: Moment


class ConductVisit(Command):
    mode: Literal["in_home", "phone", "reception"]
    notes: Text = ""
    needs_found: list[Line] = Field(default_factory=list, max_length=50)


class MissVisit(Command):
    reason: Text = ""


class PublicFeedback(Body):
    rating: Literal["satisfied", "basically_satisfied", "dissatisfied"]
    comment: Text = ""


class Receipt(BaseModel):
    receipt: str
    position: int
