"""The `response_times` view: per case, time to first response (triage), to resolution and in
each deliberation step; summaries by category, cell, worker and month are computed from it, with
the case's category, cell and assignee read from `view_cases` (the worker is the assignee, else
whoever first resolved it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Float, MetaData, String, Table

from domain.demand import Demand
from projections.cases import demand_key
from projections.core import JSON_TEXT, Row, UTCDateTime, View, id_text, month_of

metadata = MetaData()

response_times = Table(
    "view_response_times", metadata,
    Column("id", String(36), primary_key=True),
    Column("resolved_by", String(100)),                 # who first resolved it
    Column("month", String(7), nullable=False, index=True),   # month the demand was raised
    Column("raised_at", UTCDateTime, nullable=False),
    Column("first_response_seconds", Float),
    Column("resolved_at", UTCDateTime),
    Column("resolution_seconds", Float),                # to the latest resolution; cleared on reopen
    Column("on_time", Boolean),                         # resolved with no deadline missed or passed
    Column("earliest_due", UTCDateTime),                # the earliest open deadline: on time means by then
    Column("missed", Boolean, nullable=False),
    Column("step_started_at", UTCDateTime),
    Column("steps", JSON_TEXT, nullable=False),         # [{round, step, seconds}] deliberation steps held
)


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _earliest(deadlines: dict[str, datetime]) -> datetime | None:
    return min(deadlines.values(), default=None)


def _raised(_: Row | None, e: Any) -> Row:
    return {"id": id_text(e.originator_id), "resolved_by": None, "month": month_of(e.occurred_at),
            "raised_at": e.occurred_at, "first_response_seconds": None, "resolved_at": None,
            "resolution_seconds": None, "on_time": None, "earliest_due": e.respond_by, "missed": False,
            "step_started_at": None, "steps": []}


def _triaged(row: Row, e: Any) -> Row:
    row.update(first_response_seconds=_seconds(row["raised_at"], e.occurred_at),
               step_started_at=e.occurred_at if e.track == "deliberation" else None,
               earliest_due=_earliest(e.deadlines))
    return row


def _step_held(row: Row, e: Any) -> Row:
    if e.step is not None and row["step_started_at"] is not None:
        row["steps"] = [*row["steps"], {"round": e.round if hasattr(e, "round") else None, "step": e.step,
                                        "seconds": _seconds(row["step_started_at"], e.occurred_at)}]
        row["step_started_at"] = e.occurred_at
    row["earliest_due"] = _earliest(e.deadlines)
    return row


def _resolved(row: Row, e: Any) -> Row:
    due = row["earliest_due"]
    row.update(resolved_at=e.occurred_at, resolution_seconds=_seconds(row["raised_at"], e.occurred_at),
               on_time=not row["missed"] and (due is None or e.occurred_at <= due),
               resolved_by=row["resolved_by"] or e.actor)
    return row


def _reopened(row: Row, e: Any) -> Row:
    row.update(resolved_at=None, resolution_seconds=None, on_time=None, earliest_due=_earliest(e.deadlines))
    return row


def _missed(row: Row, e: Any) -> Row:
    row["missed"] = True
    return row


def view() -> View:
    D = Demand
    return View("response_times", response_times, demand_key, {
        D.Raised: _raised, D.Triaged: _triaged, D.Discussed: _step_held,
        D.Voted: _step_held, D.Publicized: _step_held, D.Resolved: _resolved, D.Reopened: _reopened,
        D.DeadlineMissed: _missed,
    })
