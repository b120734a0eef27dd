"""The `visit_coverage` view: per household, its address and categories, last visit, next visit due and
visit counts (counted in 户次); the household list and the summaries by cell and visitor read it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from domain.household import Household
from domain.visit import HouseholdVisit
from projections.core import JSON_TEXT, Row, UTCDateTime, View, id_text, needs_row

metadata = MetaData()

visit_coverage = Table(
    "view_visit_coverage", metadata,
    Column("id", String(36), primary_key=True),           # the household
    Column("cell_id", String(100), index=True),
    Column("address", Text),
    Column("categories", JSON_TEXT),
    Column("cadence_days", Integer),
    Column("registered_at", UTCDateTime),
    Column("last_visit_at", UTCDateTime),
    Column("last_visitor", String(100), index=True),
    Column("last_mode", String(20)),
    Column("next_due_at", UTCDateTime, index=True),       # null when the household has no cadence
    Column("conducted", Integer, nullable=False),
    Column("missed", Integer, nullable=False),
    Column("scheduled", Integer, nullable=False),         # scheduled and not yet conducted or missed
)


def household_key(event: Household.Registered | Household.Recategorised | HouseholdVisit.Scheduled
                  | HouseholdVisit.Conducted | HouseholdVisit.Missed) -> str | None:
    if isinstance(event, (Household.Registered, Household.Recategorised)):
        return id_text(event.originator_id)
    return id_text(event.household_id)


def _next_due(row: Row) -> datetime | None:
    since: datetime | None = row["last_visit_at"] or row["registered_at"]
    if row["cadence_days"] is None or since is None:
        return None
    return since + timedelta(days=row["cadence_days"])


def _blank(household_id: str) -> Row:
    return {"id": household_id, "cell_id": None, "address": None, "categories": [], "cadence_days": None,
            "registered_at": None, "last_visit_at": None, "last_visitor": None, "last_mode": None,
            "next_due_at": None,
            "conducted": 0, "missed": 0, "scheduled": 0}


def _registered(row: Row | None, e: Household.Registered) -> Row:
    row = row or _blank(id_text(e.originator_id))
    row.update(cell_id=e.cell_id, address=e.address, categories=list(e.categories),
               cadence_days=e.cadence_days, registered_at=e.occurred_at)
    row["next_due_at"] = _next_due(row)
    return row


@needs_row
def _recategorised(row: Row, e: Household.Recategorised) -> Row:
    row.update(categories=list(e.categories), cadence_days=e.cadence_days)
    row["next_due_at"] = _next_due(row)
    return row


def _scheduled(row: Row | None, e: HouseholdVisit.Scheduled) -> Row:
    row = row or _blank(id_text(e.household_id))
    row["scheduled"] += 1
    return row


def _conducted(row: Row | None, e: HouseholdVisit.Conducted) -> Row:
    row = row or _blank(id_text(e.household_id))
    row["scheduled"] -= 1
    row["conducted"] += 1
    if row["last_visit_at"] is None or e.occurred_at >= row["last_visit_at"]:
        row.update(last_visit_at=e.occurred_at, last_visitor=e.actor, last_mode=e.mode)
    row["next_due_at"] = _next_due(row)
    return row


def _missed(row: Row | None, e: HouseholdVisit.Missed) -> Row:
    row = row or _blank(id_text(e.household_id))
    row["scheduled"] -= 1
    row["missed"] += 1
    return row


def view() -> View:
    return View("visit_coverage", visit_coverage, household_key, {
        Household.Registered: _registered, Household.Recategorised: _recategorised,
        HouseholdVisit.Scheduled: _scheduled, HouseholdVisit.Conducted: _conducted,
        HouseholdVisit.Missed: _missed,
    }, free_text={"address": ()})  # typed by people: a phone number may be written into it
