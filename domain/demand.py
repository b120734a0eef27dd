"""The resident demand (诉求): raised, triaged, handled directly or deliberated, closed, rated.

Public methods check the rules and raise a domain error naming the one broken; the nested
events' `apply` methods only change state, because they are replayed on every load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import product
from typing import Any, Literal, TypedDict, get_args
from uuid import UUID

from domain import errors
from domain.chain import UNSET_TIME, ChainedAggregate
from domain.templates import DISCUSSION, NOTICE, TEMPLATES, VOTE, Step, Template
from domain.votes import ADOPTED, REJECTED, VOTE_BODIES, VOTE_RULES, Tally

# Statuses
RAISED = "raised"
IN_PROGRESS = "in_progress"        # direct track, being handled
DELIBERATING = "deliberating"      # deliberation track, going through the template's steps
IMPLEMENTING = "implementing"      # deliberation adopted and made public, being carried out
CLOSED = "closed"
OPEN_STATUSES = (RAISED, IN_PROGRESS, DELIBERATING, IMPLEMENTING)
IMPLEMENTATION = "implementation"  # the step an implementing case is at: its template's steps are done

ClosedAs = Literal["not_resolvable", "withdrawn", "rejected", "merged"]  # what closing a case may say
CLOSED_AS: tuple[ClosedAs, ...] = get_args(ClosedAs)
ClosingOutcome = Literal["resolved", ClosedAs]
OUTCOMES: tuple[ClosingOutcome, ...] = get_args(ClosingOutcome)
Rating = Literal["satisfied", "basically_satisfied", "dissatisfied"]
RATINGS: tuple[Rating, ...] = get_args(Rating)
DiscussionOutcome = Literal["endorsed", "returned"]
DISCUSSION_OUTCOMES: tuple[DiscussionOutcome, ...] = get_args(DiscussionOutcome)
NoticeChannel = Literal["notice_board", "loudspeaker", "online", "sms", "wechat_group"]
NOTICE_CHANNELS: tuple[NoticeChannel, ...] = get_args(NoticeChannel)
# A notice makes public a template's draft or resolution step, the result of an implemented
# resolution, or a rejection by vote.
NoticeKind = Literal["resolution", "result", "draft", "rejection"]
NOTICE_KINDS: tuple[NoticeKind, ...] = get_args(NoticeKind)


# What a case keeps of its notices, objections, escalations, missed deadlines and flags: typed
# dicts, so that they stay what snapshots store and the API returns (JSON objects), key for key.
class Notice(TypedDict):
    kind: str
    round: int
    posted_at: datetime
    ends_at: datetime
    ended: bool


class Objection(TypedDict):
    notice_id: str
    lodged_at: datetime
    answered: bool


Escalation = TypedDict("Escalation", {"from": str, "to": str, "automatic": bool})


class MissedDeadline(TypedDict):
    deadline: str
    due_at: datetime


class AccountabilityFlag(TypedDict):
    responsible: str
    finding: str


@dataclass(frozen=True)
class NextAction:
    """A command the case accepts now (`Demand.next_actions`), named as in `PERMISSIONS`, with the values of
    its fields that it accepts now: e.g. `NextAction("publicize", {"kind": ("rejection",)})`. A field not
    in `choices` takes any valid input (a text, vote counts, a person, a case); the values of different
    fields may be combined freely. `step`, given for `discuss` and `vote`, names the step recorded (a
    field of `discuss`; a vote records the step the case waits for)."""

    name: str
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _accepted(name: str, check: Callable[..., object],
              candidates: Mapping[str, Sequence[str]]) -> NextAction | None:
    """The action `name` with the candidate values its precondition `check` accepts, field by field; None
    if it accepts none (a check of no field is asked once)."""
    passing: list[tuple[str, ...]] = []
    for values in product(*candidates.values()):
        try:
            check(**dict(zip(candidates, values, strict=True)))
        except errors.DomainError:
            continue
        passing.append(values)
    if not passing:
        return None
    return NextAction(name, {name_: tuple(dict.fromkeys(values[i] for values in passing))
                             for i, name_ in enumerate(candidates)})


def step_after(template: str | None, step: str, *, advanced: bool) -> str:
    """The step a deliberation of `template` waits for after `step` was held (`advanced`) or sent back to
    a new round (a returned discussion, a rejected vote), as `Demand.current_step` names it."""
    assert template is not None
    keys = [s.key for s in TEMPLATES[template].steps]
    if not advanced:
        return keys[0]
    index = keys.index(step) + 1
    return keys[index] if index < len(keys) else IMPLEMENTATION


class Demand(ChainedAggregate):
    """A resident's demand and everything done about it."""

    # Version 2 keeps when the case last moved along its process (`step_at`) and when each objection
    # was lodged: a snapshot taken before has neither (the library calls `upcast_v1_v2` on it).
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """The case moved along its process no earlier than it was raised; an old objection's lodging
        time is unknown, so an answer to it is not held to one."""
        state["step_at"] = state["raised_at"]
        for objection in state["objections"].values():
            objection.setdefault("lodged_at", UNSET_TIME)

    def __init__(self) -> None:
        super().__init__()
        self.channel: str = ""
        self.title: str = ""
        self.description: str = ""
        self.cell_id: str = ""
        self.responsible_cell_id: str = ""
        self.category_hint: str | None = None
        self.location: str | None = None
        self.resident_name: str | None = None
        self.resident_phone: str | None = None
        self.receipt: str = ""
        self.visit_id: UUID | None = None
        self.raised_at: datetime = UNSET_TIME
        self.raised_by: str = ""
        self.status: str = RAISED
        self.outcome: str | None = None
        self.category: str | None = None
        self.track: str | None = None
        self.template_key: str | None = None
        self.assignee: str | None = None
        self.policy: dict[str, int] = {}
        self.deadlines: dict[str, datetime] = {}
        self.missed: list[MissedDeadline] = []
        self.round: int = 1
        self.step_index: int = 0
        self.last_vote: str | None = None
        self.rejected_round: int | None = None      # the round a rejected vote sent the case back to
        self.notices: dict[str, Notice] = {}
        self.objections: dict[str, Objection] = {}
        self.escalations: list[Escalation] = []
        self.flags: list[AccountabilityFlag] = []
        self.progress_log: list[int] = []
        self.feedback_state: str | None = None      # asked | given | expired
        self.feedback_due: datetime | None = None
        self.rating: str | None = None
        self.reopen_count: int = 0
        self.merged_into: UUID | None = None
        self.closed_from: str | None = None         # the status a closed case returns to when reopened
        self.respond_by: datetime = UNSET_TIME      # the first response deadline as first set
        self.triaged_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.result_published: bool = False
        # When the case last moved along its process (raised, triaged, a deliberation step, a notice,
        # progress, closing, feedback, reopening): the next such step cannot have happened before it.
        self.step_at: datetime = UNSET_TIME

    # ------------------------------------------------------------------ events
    class Raised(ChainedAggregate.Created):
        channel: str
        title: str
        description: str
        cell_id: str
        category_hint: str | None
        location: str | None
        resident_name: str | None
        resident_phone: str | None
        receipt: str
        visit_id: UUID | None
        respond_by: datetime

        def apply(self, d: Demand) -> None:
            d.channel, d.title, d.description = self.channel, self.title, self.description
            d.cell_id, d.responsible_cell_id = self.cell_id, self.cell_id
            d.category_hint, d.location = self.category_hint, self.location
            d.resident_name, d.resident_phone = self.resident_name, self.resident_phone
            d.receipt, d.visit_id = self.receipt, self.visit_id
            d.raised_at = d.step_at = self.occurred_at
            d.raised_by = self.actor
            d.deadlines = {"first_response": self.respond_by}
            d.respond_by = self.respond_by

    class Triaged(ChainedAggregate.Event):
        category: str
        track: str
        template: str | None
        responsible_cell_id: str
        policy: dict[str, int]
        deadlines: dict[str, datetime]

        def apply(self, d: Demand) -> None:
            d.category, d.track, d.template_key = self.category, self.track, self.template
            d.responsible_cell_id, d.policy = self.responsible_cell_id, self.policy
            d.deadlines = dict(self.deadlines)
            d.status = IN_PROGRESS if self.track == "direct" else DELIBERATING
            d.triaged_at = d.step_at = self.occurred_at

    class Assigned(ChainedAggregate.Event):
        assignee: str

        def apply(self, d: Demand) -> None:
            d.assignee = self.assignee

    class Escalated(ChainedAggregate.Event):
        from_cell_id: str
        to_cell_id: str
        reason: str
        automatic: bool

        def apply(self, d: Demand) -> None:
            d.responsible_cell_id = self.to_cell_id
            d.escalations.append({"from": self.from_cell_id, "to": self.to_cell_id,
                                  "automatic": self.automatic})

    class NoteAdded(ChainedAggregate.Event):
        text: str

        def apply(self, d: Demand) -> None:
            pass

    class Discussed(ChainedAggregate.Event):
        step: str
        round: int
        outcome: str                # endorsed | returned
        attendees: list[str]
        summary: str
        deadlines: dict[str, datetime]

        def apply(self, d: Demand) -> None:
            d.deadlines, d.step_at = dict(self.deadlines), self.occurred_at
            if self.outcome == "returned":
                d.round, d.step_index = d.round + 1, 0
            else:
                d._advance()

    class Voted(ChainedAggregate.Event):
        step: str
        round: int
        body: str
        members: int
        present: int
        in_favour: int
        against: int
        abstained: int
        households: int
        households_present: int
        outcome: str                # adopted | rejected | invalid — computed by the domain
        attendees: list[str]
        deadlines: dict[str, datetime]

        def apply(self, d: Demand) -> None:
            d.deadlines, d.step_at = dict(self.deadlines), self.occurred_at
            d.last_vote = self.outcome
            if self.outcome == ADOPTED:
                d._advance()
            elif self.outcome == REJECTED:
                d.round, d.step_index = d.round + 1, 0
                d.rejected_round = d.round

    class Publicized(ChainedAggregate.Event):
        notice_id: str
        kind: str                   # resolution | result | draft | rejection
        step: str | None
        channels: list[str]
        text: str
        ends_at: datetime
        deadlines: dict[str, datetime]

        def apply(self, d: Demand) -> None:
            d.notices[self.notice_id] = {"kind": self.kind, "round": d.round, "posted_at": self.occurred_at,
                                         "ends_at": self.ends_at, "ended": False}
            d.deadlines, d.step_at = dict(self.deadlines), self.occurred_at
            if self.step is not None:
                d._advance()
            if self.kind == "result":
                d.result_published = True

    class ObjectionLodged(ChainedAggregate.Event):
        notice_id: str
        objection_id: str
        text: str
        # Version 2: a resident objecting without an account leaves a contact phone (personal data, like
        # the resident's phone of a demand) and is given a receipt code to read the answer by.
        phone: str | None
        receipt: str | None
        class_version = 2
        added_fields = frozenset({"phone", "receipt"})

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """An objection recorded before had neither a contact phone nor a receipt."""
            state["phone"] = None
            state["receipt"] = None

        def apply(self, d: Demand) -> None:
            d.objections[self.objection_id] = {"notice_id": self.notice_id, "lodged_at": self.occurred_at,
                                               "answered": False}

    class ObjectionAnswered(ChainedAggregate.Event):
        objection_id: str
        answer: str

        def apply(self, d: Demand) -> None:
            d.objections[self.objection_id] = {**d.objections[self.objection_id], "answered": True}

    class NoticeEnded(ChainedAggregate.Event):
        notice_id: str

        def apply(self, d: Demand) -> None:
            d.notices[self.notice_id] = {**d.notices[self.notice_id], "ended": True}

    class ImplementationProgressed(ChainedAggregate.Event):
        summary: str
        percent: int

        def apply(self, d: Demand) -> None:
            d.progress_log.append(self.percent)
            d.step_at = self.occurred_at

    class Resolved(ChainedAggregate.Event):
        summary: str
        feedback_due: datetime

        def apply(self, d: Demand) -> None:
            d.closed_from = d.status
            d.status, d.outcome, d.resolved_at = CLOSED, "resolved", self.occurred_at
            d.step_at = self.occurred_at
            d.deadlines, d.result_published = {}, False
            d.feedback_state, d.feedback_due, d.rating = "asked", self.feedback_due, None

    class Closed(ChainedAggregate.Event):
        outcome: str
        explanation: str
        merged_into: UUID | None
        feedback_due: datetime | None

        def apply(self, d: Demand) -> None:
            d.closed_from = d.status
            d.status, d.outcome, d.merged_into = CLOSED, self.outcome, self.merged_into
            d.step_at = self.occurred_at
            d.deadlines = {}
            if self.feedback_due is not None:
                d.feedback_state, d.feedback_due, d.rating = "asked", self.feedback_due, None

    class FeedbackGiven(ChainedAggregate.Event):
        rating: str
        comment: str

        def apply(self, d: Demand) -> None:
            d.feedback_state, d.rating, d.step_at = "given", self.rating, self.occurred_at

    class FeedbackExpired(ChainedAggregate.Event):
        def apply(self, d: Demand) -> None:
            d.feedback_state, d.step_at = "expired", self.occurred_at

    class Reopened(ChainedAggregate.Event):
        reason: str
        deadlines: dict[str, datetime]

        def apply(self, d: Demand) -> None:
            assert d.closed_from is not None    # only a closed case is reopened
            d.status = d.closed_from
            d.outcome, d.deadlines = None, dict(self.deadlines)
            d.feedback_state, d.feedback_due, d.rating = None, None, None  # asked again when it closes again
            d.reopen_count += 1
            d.step_at = self.occurred_at

    class DeadlineMissed(ChainedAggregate.Event):
        deadline: str
        due_at: datetime

        def apply(self, d: Demand) -> None:
            d.missed.append({"deadline": self.deadline, "due_at": self.due_at})

    class AccountabilityFlagged(ChainedAggregate.Event):
        responsible: str
        finding: str

        def apply(self, d: Demand) -> None:
            d.flags.append({"responsible": self.responsible, "finding": self.finding})

    # ------------------------------------------------------------------ reading state
    @property
    def template(self) -> Template | None:
        return TEMPLATES[self.template_key] if self.template_key else None

    @property
    def awaited_step(self) -> Step | None:
        """The deliberation step the case waits for, or None outside deliberation."""
        if self.status != DELIBERATING or self.template is None:
            return None
        return self.template.step(self.step_index)

    @property
    def current_step(self) -> str:
        step = self.awaited_step
        if step is not None:
            return step.key
        if self.status == IMPLEMENTING:
            return IMPLEMENTATION
        return self.status

    @property
    def is_open(self) -> bool:
        return self.status != CLOSED

    @property
    def just_rejected(self) -> bool:
        """The last deliberation step was a rejected vote; the round it opened has not begun."""
        return self.rejected_round == self.round and self.step_index == 0

    def _advance(self) -> None:
        assert self.template is not None
        self.step_index += 1
        if self.step_index >= len(self.template.steps):
            self.status = IMPLEMENTING

    # ------------------------------------------------------------------ guards
    def _require_open(self) -> None:
        if self.status == CLOSED:
            raise errors.CaseClosed("case {case} is closed ({outcome}); reopen it first", case=self.id,
                                    outcome=self.outcome)

    def _require_triaged(self) -> None:
        self._require_open()
        if self.status == RAISED:
            raise errors.NotTriaged("case {case} has not been triaged yet", case=self.id)

    def _require_deliberation(self) -> None:
        self._require_triaged()
        if self.track != "deliberation":
            raise errors.WrongTrack("case {case} is on the direct track; it has no deliberation steps",
                                    case=self.id)

    def _require_step(self, kind: str, key: str | None = None) -> Step:
        self._require_deliberation()
        step = self.awaited_step
        if step is None:
            raise errors.StepOutOfOrder("case {case} has finished its deliberation steps (now: {step})",
                                        case=self.id, step=self.current_step)
        if step.kind != kind or (key is not None and step.key != key):
            wanted = key or kind
            raise errors.StepOutOfOrder("case {case} waits for step {step} ({kind}), not {wanted}",
                                        case=self.id, step=step.key, kind=step.kind, wanted=wanted)
        return step

    def _require_after_previous_step(self, at: datetime) -> None:
        """A step of the case's process (DOMAIN.md: "not before … the step before") happens no earlier
        than the one it follows; notes, assignments and escalations need only follow the raising."""
        if at < self.step_at:
            raise errors.OccurredOutOfOrder("{at} is before case {case}'s previous step, at {previous}",
                                            at=at, case=self.id, previous=self.step_at)

    def _require_notices_settled(self, at: datetime, kinds: tuple[str, ...] | None = None) -> None:
        """Notices of these kinds must have run their period, with every objection answered."""
        for notice_id, notice in self.notices.items():
            if kinds is not None and notice["kind"] not in kinds:
                continue
            if at < notice["ends_at"]:
                raise errors.NoticePeriodNotOver("notice {notice} runs until {ends}", notice=notice_id,
                                                 ends=notice["ends_at"])
        open_objections = [oid for oid, o in self.objections.items()
                           if not o["answered"] and (kinds is None
                                                     or self.notices[o["notice_id"]]["kind"] in kinds)]
        if open_objections:
            raise errors.ObjectionsUnanswered("objections {objections} are not answered yet",
                                              objections=", ".join(open_objections))

    def _require_previous_notice_over(self, at: datetime) -> None:
        if self.template is None or self.step_index == 0:
            return
        previous = self.template.step(self.step_index - 1)
        if previous.kind == NOTICE:
            self._require_notices_settled(at, kinds=(previous.notice_kind,))

    def _step_deadlines(self, at: datetime) -> dict[str, datetime]:
        deadlines = {k: v for k, v in self.deadlines.items() if k != "step"}
        deadlines["step"] = at + timedelta(days=self.policy["deliberation_step_days"])
        return deadlines

    def _deadlines_after_step(self, at: datetime, leaves_deliberation: bool) -> dict[str, datetime]:
        if leaves_deliberation:
            return {k: v for k, v in self.deadlines.items() if k not in ("step", "deliberation")}
        return self._step_deadlines(at)

    # ------------------------------------------------------------------ preconditions
    # What each command needs of the case's state, of the time it happens (`at`) and of the choices it is
    # given (a step, a body, a notice kind, an outcome…), stated once: the command checks it besides the
    # rest of its input (a text, vote counts, channels), and `next_actions` asks it, so what is offered
    # next is exactly what the commands accept.
    def _check_triage(self, at: datetime) -> None:
        self._require_open()
        if self.status != RAISED:
            raise errors.AlreadyTriaged("case {case} was already triaged", case=self.id)
        self._require_after_previous_step(at)

    def _check_assign(self) -> None:
        self._require_triaged()

    def _check_escalate(self, to_cell_id: str, higher_cells: Sequence[str]) -> None:
        self._require_open()
        if to_cell_id not in higher_cells:
            raise errors.EscalationNotUpward("{to} is not above {cell}, which holds case {case}",
                                             to=to_cell_id, cell=self.responsible_cell_id, case=self.id)

    def _check_note(self) -> None:
        self._require_open()

    def _check_discuss(self, at: datetime, step: str, outcome: str) -> Step:
        awaited = self._require_step(DISCUSSION, step)
        if outcome not in DISCUSSION_OUTCOMES:
            raise errors.InvalidInput("a discussion is {choices}, not {outcome}",
                                      choices=" or ".join(DISCUSSION_OUTCOMES), outcome=outcome)
        if outcome == "returned" and not awaited.may_return:
            raise errors.InvalidInput("step {step} cannot return the matter", step=step)
        self._require_after_previous_step(at)
        self._require_previous_notice_over(at)
        return awaited

    def _check_vote(self, at: datetime, body: str, step: str | None = None) -> Step:
        awaited = self._require_step(VOTE, step)
        if body not in awaited.vote_bodies:
            raise errors.VoteBodyNotAllowed("step {step} is voted by {bodies}, not {body}", step=awaited.key,
                                            bodies=tuple(awaited.vote_bodies), body=body)
        self._require_after_previous_step(at)
        self._require_previous_notice_over(at)
        return awaited

    def _check_publicize(self, at: datetime, kind: str) -> Step | None:
        """Returns the template's step the notice is, if it is one (a draft or resolution notice)."""
        awaited: Step | None = None
        if kind == "result":
            self._require_result_notice_due()
        elif kind == "rejection":
            self._require_deliberation()
            if not self.just_rejected:
                raise errors.StepOutOfOrder("a rejection is made public right after a rejected vote")
        else:
            awaited = self._require_step(NOTICE)
            if awaited.notice_kind != kind:
                raise errors.StepOutOfOrder(
                    "case {case} waits for a {wanted} notice, not {kind}",
                    case=self.id, wanted=awaited.notice_kind, kind=kind)
            self._require_previous_notice_over(at)
        self._require_after_previous_step(at)
        return awaited

    def _require_result_notice_due(self) -> None:
        if self.track != "deliberation" or self.template is None or not self.template.result_notice:
            raise errors.StepOutOfOrder("case {case}'s process has no result notice", case=self.id)
        if self.outcome != "resolved":
            raise errors.StepOutOfOrder("the implementation result is made public once the case is resolved")
        if self.result_published:
            raise errors.StepOutOfOrder("the result has already been made public")

    def _check_object(self, at: datetime, notice_id: str) -> None:
        notice = self.notices.get(notice_id)
        if notice is None:
            raise errors.NotFound("case {case} has no notice {notice}", case=self.id, notice=notice_id)
        if notice["ended"] or at > notice["ends_at"]:
            raise errors.NoticePeriodOver("notice {notice} ended at {ends}", notice=notice_id,
                                          ends=notice["ends_at"])
        if at < notice["posted_at"]:
            raise errors.OccurredOutOfOrder("{at} is before notice {notice} was posted, at {posted}",
                                            at=at, notice=notice_id, posted=notice["posted_at"])

    def _check_answer_objection(self, at: datetime, objection_id: str) -> None:
        objection = self.objections.get(objection_id)
        if objection is None:
            raise errors.NotFound("case {case} has no objection {objection}", case=self.id,
                                  objection=objection_id)
        if objection["answered"]:
            raise errors.InvalidInput("{objection} is already answered", objection=objection_id)
        if at < objection["lodged_at"]:
            raise errors.OccurredOutOfOrder("{at} is before {objection} was lodged, at {lodged}",
                                            at=at, objection=objection_id, lodged=objection["lodged_at"])

    def _check_progress(self, at: datetime) -> None:
        self._require_triaged()
        if self.status not in (IN_PROGRESS, IMPLEMENTING):
            raise errors.StepOutOfOrder("implementation starts after the deliberation steps (now: {step})",
                                        step=self.current_step)
        self._require_after_previous_step(at)

    def _check_resolve(self, at: datetime) -> None:
        self._require_triaged()
        if self.status not in (IN_PROGRESS, IMPLEMENTING):
            raise errors.StepOutOfOrder("case {case} cannot be resolved at step {step}", case=self.id,
                                        step=self.current_step)
        if self.status == IMPLEMENTING:
            self._require_notices_settled(at, kinds=("resolution",))
        self._require_after_previous_step(at)

    def _check_close(self, at: datetime, outcome: str) -> None:
        self._require_open()
        if outcome == "resolved":
            raise errors.ClosingNotAllowed("a case is closed as resolved by resolving it")
        if outcome not in OUTCOMES:
            raise errors.InvalidInput("closing outcome must be one of {choices}", choices=", ".join(OUTCOMES))
        if outcome == "rejected":
            rejections = [n for n in self.notices.values()
                          if n["kind"] == "rejection" and n["round"] == self.round]
            if not self.just_rejected or not rejections:
                raise errors.ClosingNotAllowed(
                    "a case is closed as rejected after a rejected vote is made public")
        self._require_after_previous_step(at)

    def _check_feedback(self, at: datetime, rating: str) -> None:
        if rating not in RATINGS:
            raise errors.InvalidInput("feedback is one of {choices}", choices=", ".join(RATINGS))
        if self.feedback_state != "asked" or self.feedback_due is None:   # asked always sets a due time
            raise errors.FeedbackNotExpected(
                "case {case} is not waiting for feedback ({state})",
                case=self.id, state=self.feedback_state or "not resolved yet")
        if at > self.feedback_due:
            raise errors.FeedbackWindowOver("the feedback window ended at {due}", due=self.feedback_due)
        self._require_after_previous_step(at)

    def _check_reopen(self, at: datetime) -> None:
        if self.status != CLOSED:
            raise errors.CaseNotClosed("case {case} is still open", case=self.id)
        if self.outcome not in ("resolved", "not_resolvable"):
            raise errors.ClosingNotAllowed("a case closed as {outcome} is not reopened", outcome=self.outcome)
        self._require_after_previous_step(at)

    def _check_flag(self, at: datetime) -> None:
        if not self.is_unresolved(at):
            raise errors.NotOverdue(
                "only an open case past a deadline is flagged for accountability; case {case} is not",
                case=self.id)

    def next_actions(self, at: datetime, higher_cells: Sequence[str]) -> list[NextAction]:
        """The commands the case accepts at `at`, each with the values of its fields it accepts then (who
        may give them is checked separately), by name. `higher_cells` are the cells above the one now
        responsible (`Deployment.ancestors`). Each command's own precondition is asked of every value its
        fields could take, so an action is listed exactly when it would succeed with valid input."""
        steps = [step.key for step in self.template.steps] if self.template is not None else []
        preconditions: dict[str, tuple[Callable[..., object], dict[str, Sequence[str]]]] = {
            "triage": (lambda: self._check_triage(at), {}),
            "assign": (self._check_assign, {}),
            "escalate": (lambda to_cell_id: self._check_escalate(to_cell_id, higher_cells),
                         {"to_cell_id": higher_cells}),
            "note": (self._check_note, {}),
            "discuss": (lambda step, outcome: self._check_discuss(at, step, outcome),
                        {"step": steps, "outcome": DISCUSSION_OUTCOMES}),
            "vote": (lambda step, body: self._check_vote(at, body, step),
                     {"step": steps, "body": VOTE_BODIES}),
            "publicize": (lambda kind: self._check_publicize(at, kind), {"kind": NOTICE_KINDS}),
            "object": (lambda notice_id: self._check_object(at, notice_id),
                       {"notice_id": list(self.notices)}),
            "answer_objection": (lambda objection_id: self._check_answer_objection(at, objection_id),
                                 {"objection_id": list(self.objections)}),
            "progress": (lambda: self._check_progress(at), {}),
            "resolve": (lambda: self._check_resolve(at), {}),
            "close": (lambda outcome: self._check_close(at, outcome), {"outcome": CLOSED_AS}),
            "feedback": (lambda rating: self._check_feedback(at, rating), {"rating": RATINGS}),
            "reopen": (lambda: self._check_reopen(at), {}),
            "flag": (lambda: self._check_flag(at), {}),
        }
        accepted = (_accepted(name, check, candidates) for name, (check, candidates) in preconditions.items())
        return sorted((action for action in accepted if action is not None), key=lambda action: action.name)

    # ------------------------------------------------------------------ commands
    @classmethod
    def raise_(cls, *, channel: str, title: str, description: str, cell_id: str,
               category_hint: str | None, location: str | None, resident_name: str | None,
               resident_phone: str | None, receipt: str, visit_id: UUID | None,
               respond_by: datetime, actor: str, occurred_at: datetime) -> Demand:
        if not title.strip():
            raise errors.InvalidInput("a demand needs a title")
        return cls._create(cls.Raised, channel=channel, title=title.strip(), description=description,
                           cell_id=cell_id, category_hint=category_hint, location=location,
                           resident_name=resident_name, resident_phone=resident_phone,
                           receipt=receipt, visit_id=visit_id, respond_by=respond_by,
                           actor=actor, occurred_at=occurred_at)

    def triage(self, *, category: str, track: str, template: str | None, responsible_cell_id: str,
               policy: dict[str, int], actor: str, occurred_at: datetime) -> None:
        self._check_triage(occurred_at)
        if track == "direct":
            deadlines = {"resolution": occurred_at + timedelta(days=policy["direct_resolution_days"])}
            template = None
        else:
            if template not in TEMPLATES:
                raise errors.InvalidInput("unknown deliberation template {template}", template=template)
            deadlines = {
                "step": occurred_at + timedelta(days=policy["deliberation_step_days"]),
                "deliberation": occurred_at + timedelta(days=policy["deliberation_total_days"]),
            }
        self.trigger_event(self.Triaged, category=category, track=track, template=template,
                           responsible_cell_id=responsible_cell_id, policy=policy,
                           deadlines=deadlines, actor=actor, occurred_at=occurred_at)

    def assign(self, *, assignee: str, actor: str, occurred_at: datetime) -> None:
        self._check_assign()
        if not assignee.strip():
            raise errors.InvalidInput("an assignee is needed")
        self.trigger_event(self.Assigned, assignee=assignee, actor=actor, occurred_at=occurred_at)

    def escalate(self, *, to_cell_id: str, higher_cells: list[str], reason: str, automatic: bool,
                 actor: str, occurred_at: datetime) -> None:
        """Escalate (上报) to any cell above the one now responsible (`higher_cells`)."""
        self._check_escalate(to_cell_id, higher_cells)
        self.trigger_event(self.Escalated, from_cell_id=self.responsible_cell_id, to_cell_id=to_cell_id,
                           reason=reason, automatic=automatic, actor=actor, occurred_at=occurred_at)

    def add_note(self, *, text: str, actor: str, occurred_at: datetime) -> None:
        self._check_note()
        if not text.strip():
            raise errors.InvalidInput("a note needs text")
        self.trigger_event(self.NoteAdded, text=text, actor=actor, occurred_at=occurred_at)

    def discuss(self, *, step: str, outcome: str, attendees: list[str], summary: str, actor: str,
                occurred_at: datetime) -> None:
        self._check_discuss(occurred_at, step, outcome)
        assert self.template is not None
        leaves = outcome == "endorsed" and self.step_index + 1 == len(self.template.steps)
        self.trigger_event(self.Discussed, step=step, round=self.round, outcome=outcome,
                           attendees=list(attendees), summary=summary,
                           deadlines=self._deadlines_after_step(occurred_at, leaves),
                           actor=actor, occurred_at=occurred_at)

    def vote(self, *, body: str, tally: Tally, attendees: list[str], actor: str,
             occurred_at: datetime) -> str:
        awaited = self._check_vote(occurred_at, body)
        outcome = VOTE_RULES[body].outcome(tally)
        assert self.template is not None
        leaves = outcome == ADOPTED and self.step_index + 1 == len(self.template.steps)
        deadlines = self.deadlines if outcome != ADOPTED and outcome != REJECTED else \
            self._deadlines_after_step(occurred_at, leaves)
        self.trigger_event(self.Voted, step=awaited.key, round=self.round, body=body,
                           members=tally.members, present=tally.present, in_favour=tally.in_favour,
                           against=tally.against, abstained=tally.abstained,
                           households=tally.households, households_present=tally.households_present,
                           outcome=outcome, attendees=list(attendees), deadlines=dict(deadlines),
                           actor=actor, occurred_at=occurred_at)
        return outcome

    def publicize(self, *, kind: str, channels: list[str], text: str, period: timedelta, actor: str,
                  occurred_at: datetime) -> str:
        """Post a public notice (公开/公示). Returns the notice id."""
        unknown = set(channels) - set(NOTICE_CHANNELS)
        if unknown or not channels:
            raise errors.InvalidInput("notice channels must be some of {choices}",
                                      choices=", ".join(NOTICE_CHANNELS))
        if not text.strip():
            raise errors.InvalidInput("a notice needs its text")
        awaited = self._check_publicize(occurred_at, kind)
        step_key: str | None = None
        deadlines = self.deadlines
        if awaited is not None:     # the notice is a step of the template
            step_key = awaited.key
            assert self.template is not None
            deadlines = self._deadlines_after_step(
                occurred_at, self.step_index + 1 == len(self.template.steps))
        notice_id = f"{kind}-{self.round}-{len(self.notices) + 1}"
        self.trigger_event(self.Publicized, notice_id=notice_id, kind=kind, step=step_key,
                           channels=list(channels), text=text, ends_at=occurred_at + period,
                           deadlines=dict(deadlines), actor=actor, occurred_at=occurred_at)
        return notice_id

    def lodge_objection(self, *, notice_id: str, text: str, phone: str | None, receipt: str | None,
                        actor: str, occurred_at: datetime) -> str:
        """Lodge an objection to a notice still up; `phone` is how to reach whoever objected, `receipt`
        the code by which they read the answer. Returns the objection's id."""
        self._check_object(occurred_at, notice_id)
        if not text.strip():
            raise errors.InvalidInput("an objection needs its text")
        objection_id = f"objection-{len(self.objections) + 1}"
        self.trigger_event(self.ObjectionLodged, notice_id=notice_id, objection_id=objection_id,
                           text=text, phone=phone, receipt=receipt, actor=actor, occurred_at=occurred_at)
        return objection_id

    def answer_objection(self, *, objection_id: str, answer: str, actor: str,
                         occurred_at: datetime) -> None:
        self._check_answer_objection(occurred_at, objection_id)
        if not answer.strip():
            raise errors.InvalidInput("an answer needs its text")
        self.trigger_event(self.ObjectionAnswered, objection_id=objection_id, answer=answer,
                           actor=actor, occurred_at=occurred_at)

    def end_notice(self, *, notice_id: str, actor: str, occurred_at: datetime) -> None:
        notice = self.notices.get(notice_id)
        if notice is None:
            raise errors.NotFound("case {case} has no notice {notice}", case=self.id, notice=notice_id)
        if notice["ended"]:
            raise errors.InvalidInput("notice {notice} has already ended", notice=notice_id)
        if occurred_at < notice["ends_at"]:
            raise errors.NoticePeriodNotOver("notice {notice} runs until {ends}", notice=notice_id,
                                             ends=notice["ends_at"])
        self.trigger_event(self.NoticeEnded, notice_id=notice_id, actor=actor, occurred_at=occurred_at)

    def record_progress(self, *, summary: str, percent: int, actor: str, occurred_at: datetime) -> None:
        self._check_progress(occurred_at)
        if not 0 <= percent <= 100:
            raise errors.InvalidInput("progress is a percentage from 0 to 100")
        self.trigger_event(self.ImplementationProgressed, summary=summary, percent=percent,
                           actor=actor, occurred_at=occurred_at)

    def resolve(self, *, summary: str, feedback_period: timedelta, actor: str,
                occurred_at: datetime) -> None:
        self._check_resolve(occurred_at)
        if not summary.strip():
            raise errors.InvalidInput("say how the demand was resolved")
        self.trigger_event(self.Resolved, summary=summary, feedback_due=occurred_at + feedback_period,
                           actor=actor, occurred_at=occurred_at)

    def close(self, *, outcome: str, explanation: str, merged_into: UUID | None,
              feedback_period: timedelta, actor: str, occurred_at: datetime) -> None:
        self._check_close(occurred_at, outcome)
        if outcome == "not_resolvable" and not explanation.strip():
            raise errors.ClosingNotAllowed(
                "closing as not resolvable needs the explanation given to the resident")
        if outcome == "merged" and (merged_into is None or merged_into == self.id):
            raise errors.ClosingNotAllowed("a merged case points at another, surviving case")
        feedback_due = occurred_at + feedback_period if outcome == "not_resolvable" else None
        self.trigger_event(self.Closed, outcome=outcome, explanation=explanation,
                           merged_into=merged_into if outcome == "merged" else None,
                           feedback_due=feedback_due, actor=actor, occurred_at=occurred_at)

    def give_feedback(self, *, rating: str, comment: str, actor: str, occurred_at: datetime) -> None:
        self._check_feedback(occurred_at, rating)
        self.trigger_event(self.FeedbackGiven, rating=rating, comment=comment, actor=actor,
                           occurred_at=occurred_at)

    def expire_feedback(self, *, actor: str, occurred_at: datetime) -> None:
        if self.feedback_state != "asked" or self.feedback_due is None:
            raise errors.FeedbackNotExpected("case {case} is not waiting for feedback", case=self.id)
        if occurred_at <= self.feedback_due:
            raise errors.DeadlineNotPassed("the feedback window runs until {due}", due=self.feedback_due)
        self._require_after_previous_step(occurred_at)
        self.trigger_event(self.FeedbackExpired, actor=actor, occurred_at=occurred_at)

    def reopen(self, *, reason: str, actor: str, occurred_at: datetime) -> None:
        self._check_reopen(occurred_at)
        if not reason.strip():
            raise errors.InvalidInput("say why the case is reopened")
        self.trigger_event(self.Reopened, reason=reason, deadlines=self._reopened_deadlines(occurred_at),
                           actor=actor, occurred_at=occurred_at)

    def _reopened_deadlines(self, at: datetime) -> dict[str, datetime]:
        """Fresh deadlines for the work a reopened case returns to (triage, a step, or the resolution)."""
        if self.closed_from == RAISED:
            return {"first_response": at + (self.respond_by - self.raised_at)}
        if self.closed_from == DELIBERATING:
            return {"step": at + timedelta(days=self.policy["deliberation_step_days"]),
                    "deliberation": at + timedelta(days=self.policy["deliberation_total_days"])}
        return {"resolution": at + timedelta(days=self.policy["direct_resolution_days"])}

    def passed_deadlines(self, at: datetime) -> list[tuple[str, datetime]]:
        """Deadlines due by `at` that are not yet recorded as missed."""
        if not self.is_open:
            return []
        recorded = {(m["deadline"], m["due_at"]) for m in self.missed}
        return [(name, due) for name, due in sorted(self.deadlines.items())
                if due <= at and (name, due) not in recorded]

    def miss_deadline(self, *, deadline: str, actor: str, occurred_at: datetime) -> None:
        self._require_open()
        due = self.deadlines.get(deadline)
        if due is None:
            raise errors.InvalidInput("case {case} has no {deadline} deadline", case=self.id,
                                      deadline=deadline)
        if (deadline, due) not in self.passed_deadlines(occurred_at):
            raise errors.DeadlineNotPassed(
                "the {deadline} deadline ({due}) has not passed or is already recorded",
                deadline=deadline, due=due)
        self.trigger_event(self.DeadlineMissed, deadline=deadline, due_at=due, actor=actor,
                           occurred_at=occurred_at)

    def is_unresolved(self, at: datetime) -> bool:
        """应予解决而未解决: open and past one of its deadlines."""
        return self.is_open and (bool(self.missed) or any(due <= at for due in self.deadlines.values()))

    def flag(self, *, responsible: str, finding: str, actor: str, occurred_at: datetime) -> None:
        self._check_flag(occurred_at)
        if not responsible.strip() or not finding.strip():
            raise errors.InvalidInput("a flag names the responsible unit or person and the finding")
        self.trigger_event(self.AccountabilityFlagged, responsible=responsible, finding=finding,
                           actor=actor, occurred_at=occurred_at)
