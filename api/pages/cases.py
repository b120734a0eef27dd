"""The case page (案件): a case's state and step line, the actions the domain allows next as forms, its
full history in words, notices with their objections and answers, the case as it stood at a time, and
the state of its hash chain.

Every form posts to `/cases/{id}/<command>` and runs the API's command (`api.rest.demands.COMMANDS`: the
same body model and the same use case) through `forms.submit`, carrying the version of the case it was
shown with, so that a form left open while someone else acted is refused rather than applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, NaiveDatetime, create_model
from starlette.concurrency import run_in_threadpool

from api import i18n
from api.i18n import gettext as _
from api.names import Names, display_names
from api.pages import forms
from api.pages.forms import Rejection
from api.pages.render import render
from api.pages.session import SignedIn
from api.rest.demands import COMMANDS, CaseCommand, readable
from api.web.deps import masks_personal_data
from api.web.errors import described
from domain import errors
from domain.account import Account
from domain.application import Minqing
from domain.audit import HistoryEntry, Verification
from domain.demand import CLOSED, DELIBERATING, IMPLEMENTING, IN_PROGRESS, NOTICE_CHANNELS, Demand, NextAction
from domain.deployment import Deployment
from domain.masking import masked
from domain.templates import VOTE
from domain.votes import VOTE_COUNTS, VOTE_RULES, Tally, VoteRule
from projections import queries

router = APIRouter(include_in_schema=False)


def _action_titles(assigned: bool) -> dict[str, str]:
    """What each action is called on its form's button (the glossary's words)."""
    return {
        "triage": _("Triage"), "assign": _("Reassign") if assigned else _("Assign"),
        "escalate": _("Escalate"), "note": _("Note"), "discuss": _("Record the meeting"),
        "vote": _("Record the vote"), "publicize": _("Make public"), "object": _("Record an objection"),
        "answer_objection": _("Answer the objection"), "progress": _("Record progress"),
        "resolve": _("Resolve"), "close": _("Close the case"), "feedback": _("Record feedback"),
        "reopen": _("Reopen"), "flag": _("Accountability flag"),
    }


# ---------------------------------------------------------------- what may be done next, as forms
def offered_actions(app: Minqing, demand: Demand, actor: str) -> list[NextAction]:
    """The actions `actor` may take next on the case, with the values of their fields the domain accepts
    (`Minqing.next_actions`); triage's categories are the deployment's, every one of which it accepts."""
    return [replace(action, choices={"category": tuple(app.deployment.categories)})
            if action.name == "triage" else action
            for action in app.next_actions(demand, actor)]


def staff_covering(request: Request, demand: Demand) -> list[tuple[str, str]]:
    """Whom the case may be given to (user name, display name): the staff directory's members who may
    work on it where it lies (`queries.staff_covering`, the rule `Minqing.assign` checks)."""
    runtime = request.app.state.runtime
    with runtime.reader.connect() as conn:
        members = queries.staff_covering(conn, runtime.app.deployment,
                                         [demand.cell_id, demand.responsible_cell_id])
    return [(member["username"], member["display_name"] or member["username"]) for member in members]


@dataclass(frozen=True)
class ActionForm:
    """One action's form on the page: the command it posts to, its title, and for each field with a
    closed set of values the (value, label) pairs offered."""

    name: str
    path: str
    title: str
    options: dict[str, list[tuple[str, str]]]
    primary: bool                   # the step the case's process waits for: shown open
    dated: bool                     # asks when it happened (a meeting, a notice, a visit's feedback)


PRIMARY = ("triage", "discuss", "vote", "publicize", "progress", "resolve", "feedback")
# Actions often recorded after the fact, whose forms ask when they happened (empty: now).
DATED = ("discuss", "vote", "publicize", "object", "answer_objection", "progress", "resolve", "feedback")


def action_forms(app: Minqing, demand: Demand, actor: str, names: Names,
                 covering: Callable[[], list[tuple[str, str]]]) -> list[ActionForm]:
    """The forms of the actions `actor` may take next (`offered_actions`), their choices named."""
    titles = _action_titles(bool(demand.assignee))
    paths = {command.path.replace("-", "_"): command.path for command in COMMANDS.values()}
    labels: dict[str, Callable[[str], str]] = {
        "category": lambda key: f"{names.category(key)} · "
                                f"{names.term('track', app.deployment.category(key).track)}",
        "to_cell_id": names.cell,
        "step": lambda key: names.step(demand.template_key, key),
        "outcome": lambda key: names.term("discussion_outcome", key) if key in ("endorsed", "returned")
        else names.term("outcome", key),
        "body": lambda key: names.term("vote_body", key),
        "kind": lambda key: names.term("notice_kind", key),
        "notice_id": lambda key: _notice_label(demand, key, names),
        "objection_id": lambda key: _objection_label(demand, key, names),
        "rating": lambda key: names.term("rating", key),
    }
    found = []
    for action in offered_actions(app, demand, actor):
        options = {name: [(value, labels[name](value)) for value in values]
                   for name, values in action.choices.items()}
        if action.name == "assign":
            options["assignee"] = [(username, label) for username, label in covering()
                                   if username != demand.assignee]
        found.append(ActionForm(action.name, paths[action.name], titles[action.name], options,
                                action.name in PRIMARY, action.name in DATED))
    return found


def _notice_label(demand: Demand, notice_id: str, names: Names) -> str:
    notice = demand.notices[notice_id]
    return _("{kind}, round {round}").format(kind=names.term("notice_kind", notice["kind"]),
                                             round=notice["round"])


def _objection_label(demand: Demand, objection_id: str, names: Names) -> str:
    objection = demand.objections[objection_id]
    return _("Objection {number} to the {notice}").format(
        number=objection_id.rsplit("-", 1)[-1], notice=_notice_label(demand, objection["notice_id"], names))


# ---------------------------------------------------------------- the step line
@dataclass(frozen=True)
class StepMark:
    title: str
    state: str                      # done | current | todo
    returned_in: tuple[int, ...] = ()   # rounds in which this step sent the matter back
    rejected_in: tuple[int, ...] = ()   # rounds in which this vote was rejected


def step_line(demand: Demand, entries: Sequence[HistoryEntry], names: Names) -> list[StepMark]:
    """The case's process as numbered steps: the template's steps (and, for 四议两公开, implementation
    and the result notice), or the direct track's simple path."""
    template = demand.template
    if demand.track != "deliberation" or template is None:
        return _direct_path(demand, names)
    returned: dict[str, list[int]] = {}
    rejected: dict[str, list[int]] = {}
    for entry in entries:
        if entry.type == "Discussed" and entry.data["outcome"] == "returned":
            returned.setdefault(entry.data["step"], []).append(entry.data["round"])
        if entry.type == "Voted" and entry.data["outcome"] == "rejected":
            rejected.setdefault(entry.data["step"], []).append(entry.data["round"])
    # past its deliberation: being carried out, or closed (resolved, or not) while being carried out
    deliberated = IMPLEMENTING in (demand.status, demand.closed_from if demand.status == CLOSED else None)
    marks = []
    for index, step in enumerate(template.steps):
        if deliberated or index < demand.step_index:
            state = "done"
        elif demand.status == DELIBERATING and index == demand.step_index:
            state = "current"
        else:
            state = "todo"
        marks.append(StepMark(names.step(template.key, step.key), state, tuple(returned.get(step.key, ())),
                              tuple(rejected.get(step.key, ()))))
    if template.result_notice:
        resolved = demand.status == CLOSED and demand.outcome == "resolved"
        marks.append(StepMark(names.term("stage", "implementation"),
                              "current" if demand.status == IMPLEMENTING else "done" if resolved else "todo"))
        marks.append(StepMark(names.term("stage", "result_notice"),
                              "done" if resolved and demand.result_published
                              else "current" if resolved else "todo"))
    return marks


def _direct_path(demand: Demand, names: Names) -> list[StepMark]:
    """Raised → in progress → resolved → feedback."""
    order = ["raised", "in_progress", "resolved", "feedback"]
    if demand.status == CLOSED:
        reached = 3 if demand.feedback_state == "asked" else 4
    else:
        reached = 1 if demand.status == IN_PROGRESS else 0
    titles = [names.term("status", "raised"), names.term("status", "in_progress"),
              names.term("outcome", "resolved"), names.term("feedback_state", "asked")]
    return [StepMark(titles[i], "done" if i < reached else "current" if i == reached else "todo")
            for i in range(len(order))]


# ---------------------------------------------------------------- the history in words
def sentence(entry: HistoryEntry, names: Names, template_key: str | None,
             when: Callable[[datetime], str]) -> str:
    """What an event of the case says, as a sentence in the page's language (`when` writes a moment)."""
    d, who = entry.data, names.staff(entry.actor)
    step = names.step(template_key, d.get("step"))
    said: dict[str, Callable[[], str]] = {
        "Raised": lambda: _("{who} registered the demand ({channel}), raised by {resident}").format(
            who=who, channel=names.term("channel", d["channel"]), resident=d.get("resident_name") or "—"),
        "Triaged": lambda: _("{who} triaged the case: {category}, {track}, {cell} responsible").format(
            who=who, category=names.category(d["category"]), track=names.term("track", d["track"]),
            cell=names.cell(d["responsible_cell_id"])),
        "Assigned": lambda: _("{who} assigned the case to {assignee}").format(
            who=who, assignee=names.staff(d["assignee"])),
        "Escalated": lambda: (_("Deadline missed: escalated automatically from {source} to {target}")
                              if d["automatic"] else _("{who} escalated the case from {source} to {target}")
                              ).format(who=who, source=names.cell(d["from_cell_id"]),
                                       target=names.cell(d["to_cell_id"])),
        "NoteAdded": lambda: _("{who} added a note: {text}").format(who=who, text=d["text"]),
        "Discussed": lambda: (_("{who} recorded {step} (round {round}): returned for a new round")
                              if d["outcome"] == "returned" else
                              _("{who} recorded {step} (round {round}): endorsed")).format(
            who=who, step=step, round=d["round"]),
        "Voted": lambda: _vote_sentence(d, names) + " · " + _("{step}, round {round}").format(
            step=step, round=d["round"]),
        "Publicized": lambda: _("{who} made the {kind} public until {ends}: {text}").format(
            who=who, kind=names.term("notice_kind", d["kind"]), ends=when(d["ends_at"]), text=d["text"]),
        "ObjectionLodged": lambda: _("{who} recorded an objection: {text}").format(who=who, text=d["text"]),
        "ObjectionAnswered": lambda: _("{who} answered the objection: {answer}").format(
            who=who, answer=d["answer"]),
        "NoticeEnded": lambda: _("The notice period ended"),
        "ImplementationProgressed": lambda: _("{who} recorded progress: {percent}% {summary}").format(
            who=who, percent=d["percent"], summary=d["summary"]),
        "Resolved": lambda: _("{who} resolved the case: {summary}").format(who=who, summary=d["summary"]),
        "Closed": lambda: _("{who} closed the case as {outcome}: {explanation}").format(
            who=who, outcome=names.term("outcome", d["outcome"]), explanation=d["explanation"]),
        "FeedbackGiven": lambda: _("Feedback recorded by {who}: {rating} {comment}").format(
            who=who, rating=names.term("rating", d["rating"]), comment=d["comment"]),
        "FeedbackExpired": lambda: _("No feedback came in time"),
        "Reopened": lambda: _("{who} reopened the case: {reason}").format(who=who, reason=d["reason"]),
        "DeadlineMissed": lambda: _("The deadline ({deadline}) was missed: it was due {due}").format(
            deadline=names.term("deadline", d["deadline"]), due=when(d["due_at"])),
        "AccountabilityFlagged": lambda: _(
            "{who} flagged {responsible} for accountability: {finding}").format(
            who=who, responsible=d["responsible"], finding=d["finding"]),
    }
    return said[entry.type]() if entry.type in said else entry.type


def _vote_sentence(d: dict[str, Any], names: Names) -> str:
    counts = {"body": names.term("vote_body", d["body"]), "in_favour": d["in_favour"],
              "against": d["against"], "abstained": d["abstained"], "present": d["present"],
              "members": d["members"]}
    if d["outcome"] == "adopted":
        return _("Vote by the {body}: {in_favour} for, {against} against, {abstained} abstaining, "
                 "{present} of {members} present: adopted").format(**counts)
    if d["outcome"] == "rejected":
        return _("Vote by the {body}: {in_favour} for, {against} against, {abstained} abstaining, "
                 "{present} of {members} present: rejected").format(**counts)
    return _("Vote by the {body}: {present} of {members} present: invalid, no quorum").format(**counts)


# ---------------------------------------------------------------- the vote's outcome before it is recorded
@dataclass(frozen=True)
class VotePreview:
    outcome: str | None             # adopted | rejected | invalid; None when the counts are incomplete
    text: str


def counts_households(rule: VoteRule) -> bool:
    """Whether the body's quorum may be reached by households (asked of the rule, not known here)."""
    return rule.quorate(Tally(members=2, present=0, in_favour=0, against=0, abstained=0, households=3,
                              households_present=3))


def _least(holds: Callable[[int], bool], most: int) -> int | None:
    """The least n in 0..most for which `holds(n)` (a rule that, once met, stays met as n grows)."""
    if not holds(most):
        return None
    low, high = 0, most
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low


def preview_vote(body: str, counts: dict[str, str], deployment: Deployment) -> VotePreview:
    """The statute's outcome of these counts, and the numbers it turns on: how many must be present (the
    quorum) and how many in favour (the majority), each asked of the domain's rule; counts that cannot be
    are said as the API says them, in the page's language."""
    rule = VOTE_RULES.get(body)
    if rule is None:
        return VotePreview(None, _("Choose the body that voted"))
    numbers = {name: int(value) for name, value in counts.items() if value.strip().isdigit()}
    if any(name not in numbers for name in VOTE_COUNTS[:5]):
        return VotePreview(None, _("Type the counts to see the outcome"))
    tally = Tally(**{name: numbers.get(name, 0) for name in VOTE_COUNTS})
    try:
        outcome = rule.outcome(tally)
    except errors.ImpossibleVoteCounts as error:
        return VotePreview(None, described(error, deployment)[1])
    quorum = _least(lambda present: rule.quorate(Tally(tally.members, present, 0, 0, 0, tally.households,
                                                       tally.households_present)), tally.members)
    majority = _least(lambda votes: rule.carried(Tally(tally.members, tally.present, votes, 0, 0)),
                      tally.present)
    facts = {"present": tally.present, "members": tally.members,
             "quorum": quorum if quorum is not None else "—", "in_favour": tally.in_favour,
             "majority": majority if majority is not None else "—"}
    if outcome == "adopted":
        text = _("Adopted: {present} of {members} present ({quorum} needed), {in_favour} in favour "
                 "({majority} needed)").format(**facts)
    elif outcome == "rejected":
        text = _("Rejected: {present} of {members} present ({quorum} needed), but only {in_favour} in favour "
                 "({majority} needed)").format(**facts)
    else:
        text = _("Invalid, no quorum: {present} of {members} present, {quorum} needed").format(**facts)
    return VotePreview(outcome, text)


# ---------------------------------------------------------------- the page
def scope_of(app: Minqing, account: Account) -> list[str]:
    """Every cell the member of staff may read (as the API's `read_scope`)."""
    return sorted({cell for _, root in account.grants for cell in app.deployment.subtree(root)})


def _as_of_moment(value: str, zone: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise errors.InvalidInput("{value} is not a date and time", value=value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


@dataclass
class Failed:
    """A refused form: which action's, and the rejection it shows (only that form shows it)."""

    action: str
    rejection: Rejection


def case_page(request: Request, account: Account, demand_id: UUID, *, as_of: str | None = None,
              known_at: str | None = None, failed: Failed | None = None,
              vote_typed: dict[str, str] | None = None) -> Response:
    """The page of a case, as it stands, or as it stood (no forms then): as of `as_of` (occurred time)
    and/or as known at `known_at` (recorded time), both in the deployment's time zone unless they say."""
    app: Minqing = request.app.state.runtime.app
    zone = app.deployment.timezone
    try:
        current = readable(app, demand_id, scope_of(app, account))
    except errors.NotFound:
        return render(request, "case_missing.html", status=404)
    entries = app.history(demand_id)
    at: datetime | None = None
    known: datetime | None = None
    demand: Demand | None = current
    as_of_error = ""
    not_yet = ""                  # why there is no case to show then: "happened" or "recorded"
    left_out: list[HistoryEntry] = []
    if as_of or known_at:
        try:
            at = _as_of_moment(as_of, zone) if as_of else None
            known = _as_of_moment(known_at, zone) if known_at else None
        except errors.InvalidInput:
            at, known = None, None
            as_of_error = _("That is not a date and time: the case is shown as it stands")
        else:
            try:
                then = app.as_of(demand_id, at, known_at=known)
                demand = then.aggregate if isinstance(then.aggregate, Demand) else None
                left_out = then.left_out
                entries = app.history(demand_id, as_of=at, known_at=known)
            except errors.NotYetRecorded:
                demand, entries, not_yet = None, [], "recorded"
            except errors.NotYetExisting:
                demand, entries, not_yet = None, [], "happened"
    hide = masks_personal_data(account)
    if hide:
        entries = [HistoryEntry(e.version, e.type, e.actor, e.recorded_at, e.occurred_at, masked(e.data),
                                e.chain) for e in entries]
    people = {entry.actor for entry in entries} | {current.assignee or ""}
    names = Names(app.deployment, display_names(app, people))
    action_list = action_forms(app, current, account.username, names,
                               lambda: staff_covering(request, current)) if not (at or known) else []
    if action_list:
        names = Names(app.deployment, names.display_names | {
            username: label for form in action_list for username, label in form.options.get("assignee", [])})
    verification: Verification = app.verify(demand_id)
    shown = demand if demand is not None else current
    vote_typed = vote_typed or {}
    body = vote_typed.get("body") or next(iter(_vote_bodies(shown)), "")
    context = {
        "case": demand, "current": current, "at": at, "known": known, "as_of_value": as_of or "",
        "known_at_value": known_at or "", "as_of_error": as_of_error, "not_yet": not_yet,
        "left_out": left_out,
        "resident_name": masked({"resident_name": shown.resident_name})["resident_name"] if hide
        else shown.resident_name,
        "resident_phone": masked({"resident_phone": shown.resident_phone})["resident_phone"] if hide
        else shown.resident_phone,
        "steps": step_line(shown, entries, names) if demand is not None else [],
        "forms": action_list, "failed": failed,
        "timeline": [(entry, sentence(entry, names, shown.template_key,
                                               lambda moment: i18n.when(moment, zone))) for entry in entries],
        "notices": _notices(entries), "verification": verification,
        "deadline": min(shown.deadlines.items(), key=lambda item: item[1]) if shown.deadlines else None,
        "now": app.clock(), "vote_kept": Rejection("", {}, vote_typed) if vote_typed else None,
        "vote_preview": preview_vote(body, vote_typed, app.deployment) if vote_typed else None,
        "households_asked": any(counts_households(VOTE_RULES[voted_by]) for form in action_list
                                for voted_by, _label in form.options.get("body", [])),
        "notice_channels": _notice_channels(names),
    }
    status = failed.rejection.status if failed else 422 if as_of_error else 200
    return render(request, "case.html", status=status, names=names,
                  rejection=failed.rejection if failed else None, **context)


def _vote_bodies(demand: Demand) -> tuple[str, ...]:
    step = demand.awaited_step
    return step.vote_bodies if step is not None and step.kind == VOTE else ()


def _notice_channels(names: Names) -> list[tuple[str, str]]:
    return [(key, names.term("notice_channel", key)) for key in NOTICE_CHANNELS]


@dataclass
class NoticeShown:
    notice_id: str
    kind: str
    text: str
    channels: list[str]
    posted_at: datetime
    ends_at: datetime
    objections: list[dict[str, Any]] = field(default_factory=list)


def _notices(entries: Sequence[HistoryEntry]) -> list[NoticeShown]:
    """The case's notices with their objections and the answers, read from its history."""
    notices: dict[str, NoticeShown] = {}
    objections: dict[str, dict[str, Any]] = {}
    for entry in entries:
        d = entry.data
        if entry.type == "Publicized":
            notices[d["notice_id"]] = NoticeShown(d["notice_id"], d["kind"], d["text"], d["channels"],
                                                  entry.occurred_at, d["ends_at"])
        elif entry.type == "ObjectionLodged" and d["notice_id"] in notices:
            objections[d["objection_id"]] = {"text": d["text"], "by": entry.actor, "at": entry.occurred_at,
                                             "phone": d.get("phone"), "receipt": d.get("receipt"),
                                             "answer": None}
            notices[d["notice_id"]].objections.append(objections[d["objection_id"]])
        elif entry.type == "ObjectionAnswered" and d["objection_id"] in objections:
            objections[d["objection_id"]].update(answer=d["answer"], answered_by=entry.actor,
                                                 answered_at=entry.occurred_at)
    return list(notices.values())


@router.get("/cases/{demand_id}")
async def show(demand_id: UUID, request: Request, account: SignedIn,
               as_of: Annotated[str | None, Query(max_length=40)] = None,
               known_at: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """A case: its state, its step line, what may be done next, and its full history; or, given `as_of`
    (when things happened) and/or `known_at` (when they were recorded), the case as it stood then."""
    return await run_in_threadpool(case_page, request, account, demand_id, as_of=as_of, known_at=known_at)


@router.get("/cases/{demand_id}/vote/preview")
async def vote_preview(demand_id: UUID, request: Request, account: SignedIn) -> Response:
    """The statute's outcome of the vote counts typed so far: the outcome line alone for htmx, else the
    whole page with the vote form as typed."""
    typed = {key: value for key, value in request.query_params.items()
             if key in (*VOTE_COUNTS, "body", "attendees", "occurred_at")}
    app: Minqing = request.app.state.runtime.app
    try:
        await run_in_threadpool(readable, app, demand_id, scope_of(app, account))
    except errors.NotFound:
        return render(request, "case_missing.html", status=404)
    if request.headers.get("HX-Request"):
        return render(request, "vote_preview.html", preview=preview_vote(typed.get("body", ""), typed,
                                                                         app.deployment))
    return await run_in_threadpool(case_page, request, account, demand_id, vote_typed=typed)


@cache
def with_version(model: type[BaseModel]) -> type[BaseModel]:
    """The command's body, and the version of the case the form was shown with; when it happened as
    typed into a date-and-time field (in the deployment's zone: `forms.in_zone`), empty for now."""
    versioned: type[BaseModel] = create_model(model.__name__, __base__=model, expected_version=(int, ...),
                                              occurred_at=(NaiveDatetime | None, None))
    return versioned


def _in_zone(form: BaseModel, zone: str) -> dict[str, Any]:
    """A command form's values, when it happened as a moment in the deployment's zone."""
    values = form.model_dump()
    return {**values, "occurred_at": forms.in_zone(values["occurred_at"], zone)}


def _command_route(command: CaseCommand) -> None:
    action = command.path.replace("-", "_")

    async def post(demand_id: UUID, request: Request, account: SignedIn) -> Response:
        app: Minqing = request.app.state.runtime.app

        async def again(rejection: Rejection) -> Response:
            return await run_in_threadpool(case_page, request, account, demand_id,
                                           failed=Failed(action, rejection))

        return await forms.submit(
            request, with_version(command.body),
            lambda form: command.use_case(app, demand_id, actor=account.username,
                                          **_in_zone(form, app.deployment.timezone)),
            done=lambda recorded: f"/cases/{demand_id}#timeline", again=again)

    post.__doc__ = command.summary
    router.post(f"/cases/{{demand_id}}/{command.path}", name=f"page_{command.name}")(post)


for _command in COMMANDS.values():
    _command_route(_command)
