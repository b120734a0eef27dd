"""The public `notice_board` view: the notices posted for a case, with no personal data — only
what was posted and the digest of the case history behind each. A case has a row from its first
notice on (most cases never post one); its category and grid cell are read from `view_cases`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Boolean, Column, MetaData, String, Table

from domain.demand import Demand
from projections.cases import demand_key
from projections.core import JSON_TEXT, Row, View, id_text, needs_row

metadata = MetaData()

notice_board = Table(
    "view_notice_board", metadata,
    Column("id", String(36), primary_key=True),           # the case
    Column("notices", JSON_TEXT, nullable=False),
    Column("active", Boolean, nullable=False, index=True),  # some notice not yet taken down
)


def _posted(row: Row | None, e: Demand.Publicized) -> Row:
    if row is None:
        row = {"id": id_text(e.originator_id), "notices": [], "active": False}
    notice = {"notice_id": e.notice_id, "kind": e.kind, "step": e.step, "text": e.text,
              "channels": e.channels, "posted_at": e.occurred_at.isoformat(),
              "ends_at": e.ends_at.isoformat(), "ended": False,
              "objections": 0, "history_digest": e.chain, "version": e.originator_version}
    row["notices"] = [*row["notices"], notice]
    row["active"] = True
    return row


def _change_notice(row: Row, notice_id: str, changes: Callable[[dict[str, Any]], dict[str, Any]]) -> Row:
    row["notices"] = [{**n, **changes(n)} if n["notice_id"] == notice_id else n for n in row["notices"]]
    row["active"] = any(not n["ended"] for n in row["notices"])
    return row


@needs_row
def _objection(row: Row, e: Demand.ObjectionLodged) -> Row:
    return _change_notice(row, e.notice_id, lambda n: {"objections": n["objections"] + 1})


@needs_row
def _ended(row: Row, e: Demand.NoticeEnded) -> Row:
    return _change_notice(row, e.notice_id, lambda n: {"ended": True})


def view() -> View:
    D = Demand
    return View("notice_board", notice_board, demand_key, {
        D.Publicized: _posted, D.ObjectionLodged: _objection,
        D.NoticeEnded: _ended,
    }, free_text={"notices": ("text",)})
