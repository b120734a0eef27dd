"""The `cases` view: the searchable list of demands, one row per case."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, literal

from domain.chain import ChainedAggregate
from domain.demand import (
    CLOSED,
    DELIBERATING,
    IMPLEMENTATION,
    IMPLEMENTING,
    IN_PROGRESS,
    OPEN_STATUSES,
    RAISED,
    RATINGS,
    Demand,
    step_after,
)
from domain.deployment import DEFAULT_TIMEZONE
from domain.templates import TEMPLATES
from domain.votes import ADOPTED, INVALID
from projections import rollups
from projections.core import JSON_TEXT, Handler, Row, UTCDateTime, View, id_text, month_of, needs_row
from projections.words import WordIndex

metadata = MetaData()

cases = Table(
    "view_cases", metadata,
    Column("id", String(36), primary_key=True),
    Column("receipt", String(16), index=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("resident_phone", String(30)),                 # searched by those who see personal data
    Column("channel", String(20), nullable=False),
    Column("category", String(50), index=True),
    Column("track", String(20)),
    Column("template", String(50)),
    Column("status", String(20), nullable=False),
    Column("outcome", String(20)),
    Column("current_step", String(40), nullable=False),
    Column("cell_id", String(100), nullable=False),
    Column("responsible_cell_id", String(100), nullable=False),
    Column("assignee", String(100), index=True),
    Column("raised_at", UTCDateTime, nullable=False, index=True),
    Column("raised_month", String(7), nullable=False),    # YYYY-MM in the deployment's time zone
    Column("triaged_at", UTCDateTime),
    Column("responded_on_time", Boolean),                 # triaged by the first response deadline then due
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("on_time", Boolean),                           # resolved with no deadline missed or passed
    Column("resolved_by", String(100)),                   # who first resolved it
    Column("closed_from", String(20)),                    # status and step a reopened case returns to
    Column("closed_step", String(40)),
    Column("deadlines", JSON_TEXT, nullable=False),       # {name: iso due time} of open deadlines
    Column("missed", JSON_TEXT, nullable=False),          # ["name@iso due", ...] recorded as missed
    Column("due_at", UTCDateTime, index=True),            # earliest open deadline not yet recorded missed
    Column("missed_deadlines", Integer, nullable=False),
    # When an open case is or becomes overdue (逾期): its earliest deadline recorded missed, else its earliest
    # open deadline; none once closed. Overdue as of now is `overdue_from <= now`, and a queue's order
    # (overdue first, then by due time) is this column's.
    Column("overdue_from", UTCDateTime, index=True),
    Column("rounds", Integer, nullable=False),
    Column("escalation_level", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("escalations", JSON_TEXT, nullable=False),     # [{from, to, automatic, at, by}]
    Column("flag_details", JSON_TEXT, nullable=False),    # [{responsible, finding, at, by}]
    Column("reopen_count", Integer, nullable=False),
    Column("feedback_state", String(20), index=True),
    Column("feedback_due", UTCDateTime),
    Column("rating", String(30)),
    Column("visit_id", String(36)),
    # Feedback (满意度回访): how often asked (each closing asks anew), answered by rating and expired; the
    # month it was first asked and who asked.
    Column("feedback_asked", Integer, nullable=False),
    Column("feedback_answered", Integer, nullable=False),
    *(Column(rating, Integer, nullable=False) for rating in RATINGS),
    Column("feedback_expired", Integer, nullable=False),
    Column("feedback_month", String(7)),
    Column("asked_by", String(100)),
    # Deliberation: when the step now awaited began (an inquorate vote does not end it; reopening starts it
    # anew), and each step held: [{round, step, seconds, on_time}], on time when held by the step deadline
    # then due.
    Column("step_started_at", UTCDateTime),
    Column("steps", JSON_TEXT, nullable=False),
    Column("version", Integer, nullable=False),
    # A list within a scope, newest (or oldest) first, reads these from the first row it shows.
    Index("ix_view_cases_cell_raised", "cell_id", "raised_at"),
    Index("ix_view_cases_responsible_raised", "responsible_cell_id", "raised_at"),
)


# Open (not closed): the queue, the overdue and the unresolved lists. On PostgreSQL those are a small part of
# a broad scope's cases, gathered through the open cases' own indexes by cell rather than found by walking
# the scope's cases (bench/scale.py, 116,454 demands: a township's queue 120 → 18 ms p95). The statuses are
# literals, in the indexes and in the queries alike (the planner proves a partial index usable from the
# query's constants). Not on SQLite: there every open case of the store would be gathered (see
# `queries._open`).
OPEN = cases.c.status.in_([literal(status, literal_execute=True) for status in OPEN_STATUSES])
Index("ix_view_cases_open_cell", cases.c.cell_id, postgresql_where=OPEN).ddl_if(dialect="postgresql")
Index("ix_view_cases_open_responsible", cases.c.responsible_cell_id,
      postgresql_where=OPEN).ddl_if(dialect="postgresql")
# SQLite's way to the same: each cell's cases by status, then by when they are overdue from, so that the open
# or overdue cases of a street office are counted from the index entries that match, not from every case
# of its cells (116,454 demands, in process: a street office's overdue list 152 → 18 ms, its queue 118 → 5).
Index("ix_view_cases_cell_status", cases.c.cell_id, cases.c.status,
      cases.c.overdue_from).ddl_if(dialect="sqlite")
Index("ix_view_cases_responsible_status", cases.c.responsible_cell_id, cases.c.status,
      cases.c.overdue_from).ddl_if(dialect="sqlite")


# SQLite's index of the words in a case's title and description, under its row (`projections.text_search`
# searches through it): both are written once, when the case is raised.
WORDS = WordIndex(("title", "description"))


def demand_key(event: ChainedAggregate.Event) -> str | None:
    return id_text(event.originator_id)


_STEPS = {name: [step.key for step in template.steps] for name, template in TEMPLATES.items()}


def _with_deadlines(row: Row, deadlines: dict[str, datetime]) -> Row:
    """Record the case's open `deadlines` and, as `due_at`, the earliest of them not recorded missed."""
    texts = row["deadlines"] = {name: due.isoformat() for name, due in deadlines.items()}
    missed = row["missed"]
    if missed:
        row["due_at"] = min((due for name, due in deadlines.items() if f"{name}@{texts[name]}" not in missed),
                            default=None)
    else:
        row["due_at"] = min(deadlines.values(), default=None)
    return _with_overdue_from(row)


def _with_overdue_from(row: Row) -> Row:
    """When the case is overdue from: its earliest missed or open deadline; never once closed (a result made
    public after the case was resolved keeps it so)."""
    missed = [datetime.fromisoformat(entry.partition("@")[2]) for entry in row["missed"]]
    due = [*missed, row["due_at"]] if row["due_at"] else missed
    row["overdue_from"] = None if row["status"] == CLOSED else min(due, default=None)
    return row


def _touch(row: Row, event: ChainedAggregate.Event) -> Row:
    if event.occurred_at > row["updated_at"]:
        row["updated_at"] = event.occurred_at
    row["version"] = event.originator_version
    return row


def _raised(_: Row | None, e: Demand.Raised, zone: tzinfo) -> Row:
    row: Row = {
        "id": id_text(e.originator_id), "receipt": e.receipt, "title": e.title,
        "description": e.description, "resident_phone": e.resident_phone, "channel": e.channel,
        "category": e.category_hint, "track": None, "template": None, "status": RAISED, "outcome": None,
        "current_step": RAISED, "cell_id": e.cell_id, "responsible_cell_id": e.cell_id, "assignee": None,
        "raised_at": e.occurred_at, "raised_month": month_of(e.occurred_at, zone), "triaged_at": None,
        "responded_on_time": None, "updated_at": e.occurred_at, "closed_at": None,
        "on_time": None, "resolved_by": None, "closed_from": None, "closed_step": None,
        "deadlines": {"first_response": e.respond_by.isoformat()}, "missed": [], "due_at": e.respond_by,
        "overdue_from": e.respond_by,
        "missed_deadlines": 0, "rounds": 1, "escalation_level": 0, "flags": 0,
        "escalations": [], "flag_details": [], "reopen_count": 0, "feedback_state": None,
        "feedback_due": None, "rating": None, "visit_id": str(e.visit_id) if e.visit_id else None,
        "feedback_asked": 0, "feedback_answered": 0, **dict.fromkeys(RATINGS, 0), "feedback_expired": 0,
        "feedback_month": None, "asked_by": None, "step_started_at": None, "steps": [],
        "version": e.originator_version,
    }
    return row


def _by_deadline(row: Row, deadline: str, at: datetime) -> bool:
    """Did what happened `at` meet the case's open deadline of that name (none due: nothing to miss)?"""
    due = row["deadlines"].get(deadline)
    return due is None or at <= datetime.fromisoformat(due)


@needs_row
def _triaged(row: Row, e: Demand.Triaged) -> Row:
    row["responded_on_time"] = _by_deadline(row, "first_response", e.occurred_at)
    row.update(category=e.category, track=e.track, template=e.template,
               responsible_cell_id=e.responsible_cell_id, triaged_at=e.occurred_at,
               step_started_at=e.occurred_at if e.track == "deliberation" else None)
    if e.track == "direct":
        row["status"] = row["current_step"] = IN_PROGRESS
    else:
        assert e.template is not None  # a deliberation follows a template
        row["status"], row["current_step"] = DELIBERATING, _STEPS[e.template][0]
    return _with_deadlines(_touch(row, e), e.deadlines)


@needs_row
def _assigned(row: Row, e: Demand.Assigned) -> Row:
    row["assignee"] = e.assignee
    return _touch(row, e)


@needs_row
def _escalated(row: Row, e: Demand.Escalated) -> Row:
    row["responsible_cell_id"] = e.to_cell_id
    row["escalation_level"] += 1
    row["escalations"] = [*row["escalations"], {"from": e.from_cell_id, "to": e.to_cell_id, "by": e.actor,
                                                "automatic": e.automatic, "at": e.occurred_at.isoformat()}]
    return _touch(row, e)


def _held(row: Row, e: Demand.Discussed | Demand.Voted | Demand.Publicized) -> Row:
    """A deliberation step was held: the time since the step began joins `steps`, and the next begins."""
    if e.step is not None and row["step_started_at"] is not None:
        seconds = (e.occurred_at - row["step_started_at"]).total_seconds()
        held = {"round": getattr(e, "round", None), "step": e.step, "seconds": seconds,
                "on_time": _by_deadline(row, "step", e.occurred_at)}
        row["steps"] = [*row["steps"], held]
        row["step_started_at"] = e.occurred_at
    return row


def _stepped(row: Row, e: Demand.Discussed | Demand.Voted | Demand.Publicized, step: str, *,
             advanced: bool, new_round: bool) -> Row:
    row["current_step"] = step_after(row["template"], step, advanced=advanced)
    if row["current_step"] == IMPLEMENTATION:
        row["status"] = IMPLEMENTING
    if new_round:
        row["rounds"] += 1
    return _with_deadlines(_touch(row, e), e.deadlines)


@needs_row
def _discussed(row: Row, e: Demand.Discussed) -> Row:
    returned = e.outcome == "returned"
    return _stepped(_held(row, e), e, e.step, advanced=not returned, new_round=returned)


@needs_row
def _voted(row: Row, e: Demand.Voted) -> Row:
    if e.outcome == INVALID:  # no quorum: the step was not held, its clock runs on
        return _with_deadlines(_touch(row, e), e.deadlines)
    adopted = e.outcome == ADOPTED
    return _stepped(_held(row, e), e, e.step, advanced=adopted, new_round=not adopted)


@needs_row
def _publicized(row: Row, e: Demand.Publicized) -> Row:
    row = _held(row, e)
    if e.step is None:
        return _with_deadlines(_touch(row, e), e.deadlines)
    return _stepped(row, e, e.step, advanced=True, new_round=False)


def _closed(row: Row, e: Demand.Resolved | Demand.Closed, outcome: str, feedback_due: datetime | None,
            zone: tzinfo) -> Row:
    row.update(closed_from=row["status"], closed_step=row["current_step"], status=CLOSED, outcome=outcome,
               current_step=CLOSED, closed_at=e.occurred_at, feedback_due=feedback_due, rating=None,
               feedback_state="asked" if feedback_due else None, deadlines={}, due_at=None, on_time=None,
               overdue_from=None)
    if feedback_due is not None:
        row["feedback_asked"] += 1
        row["feedback_month"] = row["feedback_month"] or month_of(e.occurred_at, zone)
        row["asked_by"] = row["asked_by"] or e.actor
    return _touch(row, e)


@needs_row
def _resolved(row: Row, e: Demand.Resolved, zone: tzinfo) -> Row:
    due = row["due_at"]  # the earliest open deadline, when none was recorded missed
    on_time = row["missed_deadlines"] == 0 and (due is None or e.occurred_at <= due)
    row = _closed(row, e, "resolved", e.feedback_due, zone)
    row["on_time"], row["resolved_by"] = on_time, row["resolved_by"] or e.actor
    return row


@needs_row
def _closed_otherwise(row: Row, e: Demand.Closed, zone: tzinfo) -> Row:
    return _closed(row, e, e.outcome, e.feedback_due, zone)


@needs_row
def _feedback(row: Row, e: Demand.FeedbackGiven) -> Row:
    row.update(feedback_state="given", rating=e.rating)
    row["feedback_answered"] += 1
    row[e.rating] += 1
    return _touch(row, e)


@needs_row
def _feedback_expired(row: Row, e: Demand.FeedbackExpired) -> Row:
    row["feedback_state"] = "expired"
    row["feedback_expired"] += 1
    return _touch(row, e)


@needs_row
def _reopened(row: Row, e: Demand.Reopened) -> Row:
    row.update(status=row["closed_from"], current_step=row["closed_step"], outcome=None, closed_at=None,
               feedback_state=None, feedback_due=None, rating=None, on_time=None,
               reopen_count=row["reopen_count"] + 1)
    if row["status"] == DELIBERATING:  # the step it returns to is awaited anew from now
        row["step_started_at"] = e.occurred_at
    return _with_deadlines(_touch(row, e), e.deadlines)


@needs_row
def _deadline_missed(row: Row, e: Demand.DeadlineMissed) -> Row:
    missed = row["missed"] = [*row["missed"], f"{e.deadline}@{e.due_at.isoformat()}"]
    row["due_at"] = min((datetime.fromisoformat(due) for name, due in row["deadlines"].items()
                         if f"{name}@{due}" not in missed), default=None)
    row["missed_deadlines"] = len(missed)
    return _touch(_with_overdue_from(row), e)


@needs_row
def _flagged(row: Row, e: Demand.AccountabilityFlagged) -> Row:
    row["flags"] += 1
    row["flag_details"] = [*row["flag_details"], {"responsible": e.responsible, "finding": e.finding,
                                                  "by": e.actor, "at": e.occurred_at.isoformat()}]
    return _touch(row, e)


@needs_row
def _touched(row: Row, e: ChainedAggregate.Event) -> Row:
    return _touch(row, e)


# What the rows hold beyond the table's shape (see `View.version`); the time zone months are cut in is part
# of it. 2: months in the deployment's zone, inquorate votes hold no step, step clocks start anew on
# reopening, on-time marks of the first response and of each step. 3: a closed case is never overdue (a
# result made public after it closed had made it so again).
VERSION = 3


def view(zone: str = DEFAULT_TIMEZONE, grid: rollups.Grid | None = None) -> View:
    """The cases view, its months cut in `zone` (the deployment's time zone), its scoped rollups by `grid`
    (the deployment's; without one each cell is a scope of its own)."""
    grid = grid or {}
    D, tz = Demand, ZoneInfo(zone)
    handlers: dict[type, Handler] = {
        D.Raised: partial(_raised, zone=tz), D.Triaged: _triaged, D.Assigned: _assigned,
        D.Escalated: _escalated,
        D.NoteAdded: _touched, D.Discussed: _discussed, D.Voted: _voted, D.Publicized: _publicized,
        D.ObjectionLodged: _touched, D.ObjectionAnswered: _touched, D.NoticeEnded: _touched,
        D.ImplementationProgressed: _touched, D.Resolved: partial(_resolved, zone=tz),
        D.Closed: partial(_closed_otherwise, zone=tz),
        D.FeedbackGiven: _feedback, D.FeedbackExpired: _feedback_expired, D.Reopened: _reopened,
        D.DeadlineMissed: _deadline_missed, D.AccountabilityFlagged: _flagged,
    }
    # The title, the description and the flags are typed by people; a category is a hint typed into the
    # public form until triage sets one of the deployment's. The resident's phone is masked like a number
    # in text: with a cipher key the view holds its last four digits only.
    return View("cases", cases, demand_key, handlers, version=f"{VERSION} {zone}",
                rollups=rollups.for_grid(grid), rollups_version=rollups.version(grid),
                make_indexes=WORDS.make, index_inserted=WORDS.add,
                free_text={"title": (), "description": (), "resident_phone": (), "category": (),
                           "flag_details": ("responsible", "finding")})
