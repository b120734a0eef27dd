"""The `response_times` view's own table: per deliberation case, the time spent in each step held.

Time to first response and to resolution, whether a case was resolved on time and who answers
for it are the `cases` view's (`raised_at`, `triaged_at`, `closed_at`, `on_time`, `resolved_by`),
kept there once: the response-time summaries read them from it, and the step times from here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, MetaData, String, Table

from domain.demand import Demand
from projections.cases import demand_key
from projections.core import JSON_TEXT, Row, UTCDateTime, View, id_text

metadata = MetaData()

response_times = Table(
    "view_response_times", metadata,
    Column("id", String(36), primary_key=True),
    Column("step_started_at", UTCDateTime),             # when the step now awaited began
    Column("steps", JSON_TEXT, nullable=False),         # [{round, step, seconds}] deliberation steps held
)


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _triaged(row: Row | None, e: Demand.Triaged) -> Row | None:
    deliberating = e.track == "deliberation"
    if row is None:
        if not deliberating:
            return None
        row = {"id": id_text(e.originator_id), "step_started_at": None, "steps": []}
    row["step_started_at"] = e.occurred_at if deliberating else None
    return row


def _step_held(row: Row | None, e: Demand.Discussed | Demand.Voted | Demand.Publicized) -> Row | None:
    if row is None or e.step is None or row["step_started_at"] is None:
        return row
    row["steps"] = [*row["steps"], {"round": getattr(e, "round", None), "step": e.step,
                                    "seconds": _seconds(row["step_started_at"], e.occurred_at)}]
    row["step_started_at"] = e.occurred_at
    return row


def view() -> View:
    D = Demand
    return View("response_times", response_times, demand_key, {
        D.Triaged: _triaged, D.Discussed: _step_held, D.Voted: _step_held, D.Publicized: _step_held,
    })
