"""Request and response bodies. Free text is bounded; times must carry a zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from domain.demand import NOTICE_CHANNELS, ClosedAs, DiscussionOutcome, NoticeChannel, NoticeKind, Rating
from domain.deployment import HOUSEHOLD_CATEGORIES, Channel, HouseholdCategory, Track
from domain.visit import VisitMode, VisitPurpose
from domain.votes import VoteBody

Text = Annotated[str, StringConstraints(max_length=5000)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
# Whole numbers are JSON numbers, never booleans or numeric strings (`"present": true` is refused).
Whole = Annotated[int, Field(strict=True)]
Count = Annotated[Whole, Field(ge=0, le=10_000_000)]
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2999, 12, 31, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    # Times far outside this range cannot even be converted to UTC (year 1 at +14:00), which the views do.
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"a time from {EARLIEST:%Y} to {LATEST:%Y} is expected")
    return value


# An ISO 8601 date and time, written as text: pydantic alone would also read a number, or a numeric
# string, as seconds since 1970 (`-1` as 1969-12-31), and a bare date as its midnight.
ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and ISO_DATE_TIME.match(value)):
        return value    # pydantic parses the text; AwareDatetime then insists on its zone
    raise ValueError("an ISO 8601 date and time with a zone is expected, e.g. 2026-03-01T09:30:00+08:00")


Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_plausible)]


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
    track: Track | None = None


class Assign(Command):
    assignee: Name


class Escalate(Command):
    to_cell_id: Name
    reason: Text = ""


class Discuss(Command):
    step: Name
    outcome: DiscussionOutcome = "endorsed"
    attendees: list[Name] = Field(default_factory=list, max_length=1000)
    summary: Text = ""


class Vote(Command):
    body: VoteBody
    members: Count
    present: Count
    in_favour: Count
    against: Count
    abstained: Count
    households: Count = 0
    households_present: Count = 0
    attendees: list[Name] = Field(default_factory=list, max_length=1000)


def _on_the_notice_board() -> list[NoticeChannel]:
    return ["notice_board"]


class Publicize(Command):
    kind: NoticeKind
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    channels: list[NoticeChannel] = Field(default_factory=_on_the_notice_board, min_length=1,
                                          max_length=len(NOTICE_CHANNELS))
    period_days: Annotated[Whole, Field(ge=1, le=365)] | None = None


def _dialled(value: str) -> str:
    # one number however it was typed (138 1234-5678): the per-phone limit on objections counts it once
    return value.replace(" ", "").replace("-", "")


# A contact phone: digits, perhaps a leading + and spaces or hyphens between them, kept as digits alone.
ContactPhone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 \-]{4,28}$"),
                         AfterValidator(_dialled)]
ObjectionText = Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class Objection(Command):
    notice_id: Name
    text: ObjectionText
    phone: ContactPhone | None = None


class PublicObjection(Body):
    """A resident's objection to a notice still up, and a phone to reach them by (kept as personal data)."""

    text: ObjectionText
    phone: ContactPhone


class AnswerObjection(Command):
    objection_id: Name
    answer: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class Progress(Command):
    summary: Text = ""
    percent: Annotated[Whole, Field(ge=0, le=100)]


class Resolve(Command):
    summary: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class Close(Command):
    outcome: ClosedAs
    explanation: Text = ""
    merged_into: UUID | None = None


class Feedback(Command):
    rating: Rating
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
    categories: list[HouseholdCategory] = Field(min_length=1, max_length=len(HOUSEHOLD_CATEGORIES))
    members: Annotated[Whole, Field(ge=1, le=100)] = 1
    head_name: Name | None = None
    phone: Annotated[str, StringConstraints(max_length=30)] | None = None


class Recategorise(Command):
    categories: list[HouseholdCategory] = Field(min_length=1, max_length=len(HOUSEHOLD_CATEGORIES))


class ScheduleVisit(Command):
    visitor: Name
    purpose: VisitPurpose
    due_at: Moment


class ConductVisit(Command):
    mode: VisitMode
    notes: Text = ""
    needs_found: list[Line] = Field(default_factory=list, max_length=50)


class MissVisit(Command):
    reason: Text = ""


class PublicFeedback(Body):
    rating: Rating
    comment: Text = ""


class PublicObjectionAnswer(BaseModel):
    """An objection as the one who lodged it reads it by its receipt: the notice, what was said, the answer.
    No name and no phone number; numbers written into the texts are masked."""

    receipt: str
    cell_id: str
    notice_kind: str
    notice_text: str
    notice_ends_at: datetime
    text: str
    lodged_at: datetime
    answered: bool
    answer: str | None
    answered_at: datetime | None
