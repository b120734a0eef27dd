"""The public `notice_board` view: one row per notice posted (公示), with no personal data — only what
was posted, how many objections it drew and whether it is still up (what proves a notice to the public
is its proof in the sealed log, domain/notice_proof.py). The board's pages read the notices still up,
newest first, through an index; the case's category and grid cell are read from `view_cases`."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text

from domain.demand import Demand
from projections.core import JSON_TEXT, Row, UTCDateTime, View, id_text, needs_row

metadata = MetaData()

notice_board = Table(
    "view_notice_board", metadata,
    Column("key", String(120), primary_key=True),         # the case and the notice: "{case id}/{notice id}"
    Column("case_id", String(36), nullable=False, index=True),
    Column("notice_id", String(80), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("step", String(40)),
    Column("text", Text, nullable=False),
    Column("channels", JSON_TEXT, nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("ended", Boolean, nullable=False),             # taken down
    Column("objections", Integer, nullable=False),
    Column("version", Integer, nullable=False),           # the case's version that posted it
    # The board (notices up, newest first) and the notices whose period is over, each read by its index.
    Index("ix_view_notice_board_up", "ended", "posted_at"),
    Index("ix_view_notice_board_ends", "ended", "ends_at"),
)


def notice_key(event: Demand.Publicized | Demand.ObjectionLodged | Demand.NoticeEnded) -> str:
    return f"{id_text(event.originator_id)}/{event.notice_id}"


def _posted(_: Row | None, e: Demand.Publicized) -> Row:
    return {"key": notice_key(e), "case_id": id_text(e.originator_id), "notice_id": e.notice_id,
            "kind": e.kind, "step": e.step, "text": e.text, "channels": e.channels,
            "posted_at": e.occurred_at, "ends_at": e.ends_at, "ended": False, "objections": 0,
            "version": e.originator_version}


@needs_row
def _objection(row: Row, e: Demand.ObjectionLodged) -> Row:
    row["objections"] += 1
    return row


@needs_row
def _ended(row: Row, e: Demand.NoticeEnded) -> Row:
    row["ended"] = True
    return row


def view() -> View:
    D = Demand
    return View("notice_board", notice_board, notice_key, {
        D.Publicized: _posted, D.ObjectionLodged: _objection, D.NoticeEnded: _ended,
    }, free_text={"text": ()})
