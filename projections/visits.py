"""The `visits` view: one row per household visit (走访) — who visits which household, for what and when,
and, once done, how it went: the mode, notes and needs found, or why it was missed, and the demands
raised from it. Lists a visitor's visits due and a household's visit history without the event store."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text

from domain.visit import CONDUCTED, MISSED, SCHEDULED, HouseholdVisit
from projections.core import JSON_TEXT, Row, UTCDateTime, View, id_text, needs_row

metadata = MetaData()

visits = Table(
    "view_visits", metadata,
    Column("id", String(36), primary_key=True),            # the visit
    Column("household_id", String(36), nullable=False, index=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("visitor", String(100), nullable=False, index=True),
    Column("purpose", String(20), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("due_at", UTCDateTime, nullable=False, index=True),
    Column("scheduled_at", UTCDateTime, nullable=False),
    Column("scheduled_by", String(100), nullable=False),
    Column("done_at", UTCDateTime),                        # when it was conducted, or recorded missed
    Column("done_by", String(100)),
    Column("mode", String(20)),
    Column("notes", Text),
    Column("needs_found", JSON_TEXT, nullable=False),      # [{"text": ...}] in the order recorded
    Column("reason", Text),                                # why it was missed
    Column("demand_ids", JSON_TEXT, nullable=False),       # demands raised from its needs
)


def visit_key(event: HouseholdVisit.Event) -> str:
    return id_text(event.originator_id)


def _scheduled(_: Row | None, e: HouseholdVisit.Scheduled) -> Row:
    return {"id": id_text(e.originator_id), "household_id": id_text(e.household_id), "cell_id": e.cell_id,
            "visitor": e.visitor, "purpose": e.purpose, "status": SCHEDULED, "due_at": e.due_at,
            "scheduled_at": e.occurred_at, "scheduled_by": e.actor, "done_at": None, "done_by": None,
            "mode": None, "notes": None, "needs_found": [], "reason": None, "demand_ids": []}


@needs_row
def _conducted(row: Row, e: HouseholdVisit.Conducted) -> Row:
    row.update(status=CONDUCTED, done_at=e.occurred_at, done_by=e.actor, mode=e.mode, notes=e.notes,
               needs_found=[{"text": need} for need in e.needs_found])
    return row


@needs_row
def _missed(row: Row, e: HouseholdVisit.Missed) -> Row:
    row.update(status=MISSED, done_at=e.occurred_at, done_by=e.actor, reason=e.reason)
    return row


@needs_row
def _need_raised(row: Row, e: HouseholdVisit.NeedRaised) -> Row:
    row["demand_ids"] = [*row["demand_ids"], id_text(e.demand_id)]  # a new list: the kept row may be written
    return row


def view() -> View:
    V = HouseholdVisit
    return View("visits", visits, visit_key, {
        V.Scheduled: _scheduled, V.Conducted: _conducted, V.Missed: _missed, V.NeedRaised: _need_raised,
    }, free_text={"notes": (), "reason": (), "needs_found": ("text",)})
