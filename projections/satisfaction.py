"""The `satisfaction` view: per case, feedback asked, answered (by rating), expired and reopened;
summaries by category, cell, worker and month (of the first request) are computed from it. A case
has a row from the first time feedback is asked or it is reopened; its category, cell and assignee
are read from `view_cases` (the worker is the assignee, else whoever first asked for feedback)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table

from domain.chain import ChainedAggregate
from domain.demand import RATINGS, Demand
from projections.cases import demand_key
from projections.core import Row, View, id_text, month_of, needs_row

metadata = MetaData()

satisfaction = Table(
    "view_satisfaction", metadata,
    Column("id", String(36), primary_key=True),
    Column("asked_by", String(100)),                 # who first asked for feedback
    Column("month", String(7), index=True),          # month feedback was first asked
    Column("asked", Integer, nullable=False),
    Column("answered", Integer, nullable=False),
    Column("satisfied", Integer, nullable=False),
    Column("basically_satisfied", Integer, nullable=False),
    Column("dissatisfied", Integer, nullable=False),
    Column("expired", Integer, nullable=False),
    Column("reopens", Integer, nullable=False),
)


def _blank(e: ChainedAggregate.Event) -> Row:
    return {"id": id_text(e.originator_id), "asked_by": None, "month": None, "asked": 0, "answered": 0,
            "satisfied": 0, "basically_satisfied": 0, "dissatisfied": 0, "expired": 0, "reopens": 0}


def _asked(row: Row | None, e: Demand.Resolved | Demand.Closed) -> Row | None:
    if e.feedback_due is None:
        return row
    row = row or _blank(e)
    row["asked"] += 1
    row["month"] = row["month"] or month_of(e.occurred_at)
    row["asked_by"] = row["asked_by"] or e.actor
    return row


@needs_row
def _answered(row: Row, e: Demand.FeedbackGiven) -> Row:
    assert e.rating in RATINGS
    row["answered"] += 1
    row[e.rating] += 1
    return row


@needs_row
def _expired(row: Row, e: Demand.FeedbackExpired) -> Row:
    row["expired"] += 1
    return row


def _reopened(row: Row | None, e: Demand.Reopened) -> Row:
    row = row or _blank(e)
    row["reopens"] += 1
    return row


def view() -> View:
    D = Demand
    return View("satisfaction", satisfaction, demand_key, {
        D.Resolved: _asked, D.Closed: _asked,
        D.FeedbackGiven: _answered, D.FeedbackExpired: _expired, D.Reopened: _reopened,
    })
