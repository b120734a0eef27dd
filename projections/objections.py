"""The `objections` view: one row per objection (异议) lodged to a public notice, with its receipt code and,
once a supervisor has given it, the answer — so that whoever objected reads the answer by the receipt.
No contact phone and no name: only what was said, when, and the answer."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text

from domain.demand import Demand
from projections.core import Row, UTCDateTime, View, id_text, needs_row

metadata = MetaData()

objections = Table(
    "view_objections", metadata,
    Column("key", String(120), primary_key=True),         # "{case id}/{objection id}"
    Column("receipt", String(16), unique=True),           # none for one recorded before receipts were given
    Column("case_id", String(36), nullable=False),
    Column("notice_key", String(120), nullable=False),    # the notice objected to, as the board keys it
    Column("text", Text, nullable=False),
    Column("lodged_at", UTCDateTime, nullable=False),
    Column("answer", Text),
    Column("answered_at", UTCDateTime),
)


def objection_key(event: Demand.ObjectionLodged | Demand.ObjectionAnswered) -> str:
    return f"{id_text(event.originator_id)}/{event.objection_id}"


def _lodged(_: Row | None, e: Demand.ObjectionLodged) -> Row:
    case = id_text(e.originator_id)
    return {"key": objection_key(e), "receipt": e.receipt, "case_id": case,
            "notice_key": f"{case}/{e.notice_id}", "text": e.text, "lodged_at": e.occurred_at,
            "answer": None, "answered_at": None}


@needs_row
def _answered(row: Row, e: Demand.ObjectionAnswered) -> Row:
    row["answer"], row["answered_at"] = e.answer, e.occurred_at
    return row


def view() -> View:
    return View("objections", objections, objection_key, {
        Demand.ObjectionLodged: _lodged, Demand.ObjectionAnswered: _answered,
    }, free_text={"text": (), "answer": ()})
