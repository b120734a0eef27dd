"""Demands (诉求): raise, read, search, and one command endpoint per use case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api import tables
from api.exports import exported, names_for
from api.rest.common import (
    After,
    Cursor,
    Limit,
    Offset,
    listing,
    narrowed,
    require_in_scope,
)
from api.rest.schemas import (
    AnswerObjection,
    Assign,
    Close,
    Command,
    Discuss,
    Escalate,
    Feedback,
    Flag,
    Note,
    Objection,
    Progress,
    Publicize,
    RaiseDemand,
    Reopen,
    Resolve,
    Triage,
    Vote,
)
from api.rest.sealing import case_verification
from api.rest.written import (
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseFlagged,
    CaseReopened,
    CaseTriaged,
    CaseWritten,
    DemandRaised,
    FeedbackWindow,
    MeetingHeld,
    NoticePosted,
    ObjectionAnswered,
    ObjectionLodged,
    ProgressRecorded,
    VoteRecorded,
    answer,
)
from api.web.deps import App, IfMatch, RequestRecord, RuntimeDep, Scope, Staff, masks_personal_data
from domain import errors
from domain.account import Account
from domain.application import Minqing, Recorded
from domain.audit import trace as trace_of
from domain.chain import plain
from domain.demand import Demand
from domain.masking import masked
from projections import queries
from projections.paging import MAX_PAGE, Page, every_item

router = APIRouter(prefix="/api/v1/demands", tags=["demands"])
Format = Annotated[str, Query(pattern="^(json|csv|xlsx)$",
                              description="json, or csv (UTF-8 with a byte-order mark) or xlsx for a "
                                          "spreadsheet, headed in the caller's language")]


def state_of(demand: Demand, account: Account, app: Minqing) -> dict[str, Any]:
    hide = masks_personal_data(account)
    state: dict[str, Any] = plain({
        "id": demand.id, "version": demand.version, "receipt": demand.receipt, "title": demand.title,
        "description": demand.description, "channel": demand.channel, "category": demand.category,
        "track": demand.track, "template": demand.template_key, "status": demand.status,
        "outcome": demand.outcome, "current_step": demand.current_step, "round": demand.round,
        "cell_id": demand.cell_id, "responsible_cell_id": demand.responsible_cell_id,
        "assignee": demand.assignee, "raised_at": demand.raised_at, "raised_by": demand.raised_by,
        "location": demand.location, "visit_id": demand.visit_id,
        "resident_name": demand.resident_name, "resident_phone": demand.resident_phone,
        "deadlines": demand.deadlines, "deadlines_missed": demand.missed, "notices": demand.notices,
        "objections": demand.objections, "escalations": demand.escalations, "flags": demand.flags,
        "feedback_state": demand.feedback_state, "feedback_due": demand.feedback_due, "rating": demand.rating,
        "reopen_count": demand.reopen_count, "merged_into": demand.merged_into,
    })
    return masked(state) if hide else state


def readable(app: Minqing, demand_id: UUID, scope: list[str]) -> Demand:
    demand = app.demand(demand_id)
    require_in_scope([demand.cell_id, demand.responsible_cell_id], scope, "case", demand_id)
    return demand


@router.post("", status_code=201, response_model=DemandRaised)
async def raise_demand(body: RaiseDemand, rt: RuntimeDep, actor: Staff, once: RequestRecord) -> Response:
    """Record a resident's demand raised through a channel (optionally from a household visit); the answer
    gives its receipt code (受理回执码), for the resident to follow it by."""
    done = await rt.command(lambda: rt.app.raise_demand(actor=actor.username, **body.model_dump()), None,
                            once)
    return answer(DemandRaised.of(done), hide=masks_personal_data(actor),
                  created=f"/api/v1/demands/{done.id}")


@router.get("", response_model=Page)
def search(rt: RuntimeDep, scope: Scope, actor: Staff,
           q: Annotated[str | None, Query(max_length=200, description="Words in the title or "
                                          "description, or a receipt code")] = None,
           phone: Annotated[str | None, Query(max_length=30, description="Part of the resident's phone "
                                              "(workers and supervisors only: others see it masked)")] = None,
           status: str | None = None, track: str | None = None, step: str | None = None,
           category: str | None = None, cell: str | None = None, assignee: str | None = None,
           channel: str | None = None,
           open_only: Annotated[bool, Query(alias="open", description="Only cases not closed")] = False,
           overdue: Annotated[bool | None, Query(description="Overdue now: open, with a deadline missed or "
                                                             "passed (or, false, not)")] = None,
           due_within_days: Annotated[int | None, Query(ge=0, le=366, description="Not past due, with a "
                                                        "deadline within this many days")] = None,
           sort: Annotated[str, Query(description="A column (prefix - for descending), or "
                                                  f"{queries.URGENCY!r}: past due first, then by due time")
                           ] = "-raised_at",
           limit: Limit = 50, offset: Offset = 0, cursor: Cursor = None, format: Format = "json",
           after: After = None) -> Any:
    """Search the case list (the `cases` view) within your grid cells. `total` counts the matches up to
    1,000 (`total_capped`: more); `next_cursor` reads the next page. As a spreadsheet, every match (`limit`,
    `offset` and `cursor` are for JSON pages), up to 50,000 cases: more is refused, to be narrowed."""
    if phone and masks_personal_data(actor):
        raise errors.NotAuthorised("only workers and supervisors search by the resident's phone")
    rt.wait_for_views(after, ["cases", "case_words"] if q else ["cases"])
    cells = narrowed(rt.app, scope, cell)
    within = None if due_within_days is None else timedelta(days=due_within_days)
    hide = masks_personal_data(actor)

    def read(conn: Any, *, limit: int, offset: int = 0, cursor: str | None) -> Page:
        return queries.search_cases(conn, text=q, phone=phone, status=status, track=track, step=step,
                                    category=category, cells=cells, assignee=assignee, channel=channel,
                                    open_only=open_only, now=rt.app.clock(), overdue=overdue,
                                    due_within=within, sort=sort, limit=limit, offset=offset, cursor=cursor)

    with rt.reader.connect() as conn:
        if format != "json":
            items = every_item(lambda at: read(conn, limit=MAX_PAGE, cursor=at))
            rows, table = masked(items) if hide else items, tables.cases()
            return exported(table, rows, format, names_for(rt.app, table, rows))
        page = read(conn, limit=limit, offset=offset, cursor=cursor)
    return listing(page, masked=hide)


AS_OF_DOC = ("Occurred time, an ISO datetime with zone: every fact that had happened by then, as the "
             "record stands now")
KNOWN_AT_DOC = ("Recorded time, an ISO datetime with zone: what the system had recorded by then. With "
                "`as_of`: what had happened by `as_of` and been recorded by `known_at`")
AsOf = Annotated[str | None, Query(description=AS_OF_DOC)]
KnownAt = Annotated[str | None, Query(description=KNOWN_AT_DOC)]


def moment_of(name: str, value: str | None) -> datetime | None:
    """An `as_of` or `known_at` parameter as a time: ISO 8601 with its zone (422 otherwise)."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise errors.InvalidInput("{value} is not an ISO date and time with its time zone, e.g. "
                                  "2026-09-01T18:00:00+08:00", fields=(f"query.{name}",), value=value)
    return at


@router.get("/{demand_id}")
def get_demand(demand_id: UUID, app: App, actor: Staff, scope: Scope, as_of: AsOf = None,
               known_at: KnownAt = None) -> JSONResponse:
    """A case's current state, version, step and the actions you may take next, now: `allowed_actions`
    lists their names; `next_actions` gives each with the values of its fields that make it succeed, e.g.
    `{"name": "publicize", "choices": {"kind": ["rejection"]}}` or `{"name": "close", "choices":
    {"outcome": ["withdrawn", "merged"]}}` (a field not named takes any valid input). Every action listed
    succeeds with valid input; every other action would be refused.

    With `as_of` and/or `known_at`, the case's state then, without actions. The state as of an occurred
    time is the case replayed from the longest run of its events, in version order, that had all happened
    by `as_of` (and been recorded by `known_at`): a state the case really passed through. A fact that had
    happened by `as_of` but was recorded after a later one (a note entered late) is not replayed, lest the
    state break a rule; it is listed in `left_out` (version, type, occurred and recorded at). A time
    before the case's first fact answers 404 `not-yet-existing`, before its first record 404
    `not-yet-recorded` (an unknown id: `not-found`)."""
    demand = readable(app, demand_id, scope)
    at, known = moment_of("as_of", as_of), moment_of("known_at", known_at)
    if at is not None or known is not None:
        return JSONResponse(state_then(app, demand_id, actor, at, known))
    actions = app.next_actions(demand, actor.username)
    body = state_of(demand, actor, app) | {
        "allowed_actions": [action.name for action in actions],
        "next_actions": [{"name": action.name, "choices": action.choices} for action in actions],
    }
    return JSONResponse(body, headers={"ETag": f'"{demand.version}"'})


@router.get("/{demand_id}/history")
def history(demand_id: UUID, app: App, actor: Staff, scope: Scope, as_of: AsOf = None,
            known_at: KnownAt = None) -> Any:
    """Every event of the case (type, actor, recorded at, occurred at, data, hash); with `as_of` and/or
    `known_at`, the facts that had happened by `as_of` and been recorded by `known_at` (all of them: a
    fact recorded late is listed, though the state `GET /demands/{id}?as_of=` leaves it out). A time
    before the case's first fact answers 404 `not-yet-existing`, before its first record 404
    `not-yet-recorded`."""
    readable(app, demand_id, scope)
    hide = masks_personal_data(actor)
    entries = [{"version": e.version, "type": e.type, "actor": e.actor, "recorded_at": e.recorded_at,
                "occurred_at": e.occurred_at, "data": masked(e.data) if hide else e.data, "hash": e.chain}
               for e in app.history(demand_id, as_of=moment_of("as_of", as_of),
                                    known_at=moment_of("known_at", known_at))]
    # orjson writes the datetimes and UUIDs itself: no JSON-ready copy of every event's data first, which
    # took half as long as reading the events (docs/performance.md, "HTTP API")
    return Response(orjson.dumps(entries), media_type="application/json")


def state_then(app: Minqing, demand_id: UUID, actor: Account, at: datetime | None,
               known: datetime | None) -> dict[str, Any]:
    """The case's state as of `at` and/or as known at `known`, with the facts the state leaves out."""
    then = app.as_of(demand_id, at, known_at=known)
    assert isinstance(then.aggregate, Demand)   # `readable` found a case under this id
    when: dict[str, Any] = plain({
        "as_of": at, "known_at": known,
        "left_out": [{"version": e.version, "type": e.type, "occurred_at": e.occurred_at,
                      "recorded_at": e.recorded_at} for e in then.left_out]})
    return state_of(then.aggregate, actor, app) | when


@router.get("/{demand_id}/trace")
def trace(demand_id: UUID, app: App, actor: Staff, scope: Scope, format: Format = "json") -> Any:
    """The accountability trace: who held the case (`assignee`), which cell was responsible
    (`responsible_cell`) and at which step it was (`step`, named as the case's `current_step`: raised,
    in_progress, a step of its template, implementation), each period with `holder_name`, `hours` and
    `duration` (whole days and hours) — periods lie within the case's open life: closing ends them all,
    reopening starts them anew, and one not ended (`to` null) runs until now; deadlines passed, escalations
    and flags. As a spreadsheet, one table of all of them in time order."""
    readable(app, demand_id, scope)
    found = trace_of(app.history(demand_id), app.clock())
    names = tables.trace_names(app, found)
    if format != "json":
        return exported(tables.trace(demand_id), tables.trace_rows(found, names), format, names)
    return plain({"id": demand_id} | tables.named_trace(found, names))


@router.get("/{demand_id}/verify")
def verify(demand_id: UUID, rt: RuntimeDep, actor: Staff, scope: Scope) -> Any:
    """Check the case's record, for anyone who may read it: its hash chain, each event against its leaf in the
    sealed log, and each leaf's inclusion (RFC 9162 audit path) under the latest signed tree head, which
    `/api/v1/log/public-key` checks. Events recorded since that head are counted as not yet sealed."""
    readable(rt.app, demand_id, scope)
    return case_verification(rt.app, demand_id, rt.sealed)


@dataclass(frozen=True)
class CaseCommand:
    """A command on a case, stated once: its path, the name and summary of its route in the OpenAPI
    document, the body it takes, the use case it runs (a Minqing method) and what it answers."""

    path: str
    name: str
    summary: str
    body: type[Command]
    use_case: Callable[..., Recorded]
    answer: type[CaseWritten]


COMMANDS = {command.path: command for command in (
    CaseCommand("triage", "triage", "Triage: category, track, responsible cell, deadlines", Triage,
                Minqing.triage, CaseTriaged),
    CaseCommand("assign", "assign", "Assign the case to a person (reassigning is a supervisor's)", Assign,
                Minqing.assign, CaseAssigned),
    CaseCommand("escalate", "escalate", "Escalate (上报) to any higher cell", Escalate, Minqing.escalate,
                CaseEscalated),
    CaseCommand("discuss", "discuss", "Record a deliberation meeting", Discuss, Minqing.discuss,
                MeetingHeld),
    CaseCommand("vote", "vote", "Record a vote; the outcome follows the statute", Vote, Minqing.vote,
                VoteRecorded),
    CaseCommand("publicize", "publicize", "Post a public notice (公开)", Publicize, Minqing.publicize,
                NoticePosted),
    CaseCommand("object", "lodge_objection", "Lodge an objection to a notice while it is up", Objection,
                Minqing.lodge_objection, ObjectionLodged),
    CaseCommand("answer-objection", "answer_objection", "Answer an objection (supervisor)", AnswerObjection,
                Minqing.answer_objection, ObjectionAnswered),
    CaseCommand("progress", "progress", "Record implementation progress", Progress, Minqing.record_progress,
                ProgressRecorded),
    CaseCommand("resolve", "resolve", "Mark resolved; the resident is asked for feedback", Resolve,
                Minqing.resolve, CaseClosed),
    CaseCommand("close", "close", "Close as not resolvable, withdrawn, rejected or merged", Close,
                Minqing.close_case, CaseClosed),
    CaseCommand("feedback", "feedback", "Record the resident's feedback taken by a worker", Feedback,
                Minqing.give_feedback, FeedbackWindow),
    CaseCommand("reopen", "reopen", "Reopen a resolved case (supervisor)", Reopen, Minqing.reopen,
                CaseReopened),
    CaseCommand("flag", "flag", "Flag an unresolved case for accountability (supervisor)", Flag,
                Minqing.flag, CaseFlagged),
    CaseCommand("note", "note", "Add a working note", Note, Minqing.add_note, CaseWritten),
)}


def _route(command: CaseCommand) -> None:
    # No docstring: the summary is the operation's text in the OpenAPI document.
    async def endpoint(demand_id: UUID, body: Command, rt: RuntimeDep, actor: Staff,
                       version: IfMatch, once: RequestRecord) -> Response:
        done = await rt.command(lambda: command.use_case(rt.app, demand_id, actor=actor.username,
                                                         expected_version=version, **body.model_dump()),
                                version, once)
        return answer(command.answer.of(done), hide=masks_personal_data(actor))

    endpoint.__annotations__ = endpoint.__annotations__ | {"body": command.body}  # the schema FastAPI reads
    router.post(f"/{{demand_id}}/{command.path}", response_model=command.answer, summary=command.summary,
                name=command.name)(endpoint)


for _command in COMMANDS.values():
    _route(_command)
