"""The `staff` view: one row per staff account — user name, display name and the roles it holds over
grid cells now — so the staff directory and the reassign picker read a table, not the event store.
Tokens are left out: they are the account's business, not the directory's."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

from domain.account import Account
from projections.core import JSON_TEXT, Row, UTCDateTime, View, id_text, needs_row

metadata = MetaData()

staff = Table(
    "view_staff", metadata,
    Column("id", String(36), primary_key=True),            # the account
    Column("username", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("grants", JSON_TEXT, nullable=False),           # [[role, cell id], ...] held now, in order granted
    Column("opened_at", UTCDateTime, nullable=False),
)


def account_key(event: Account.Opened | Account.RoleGranted | Account.RoleRevoked) -> str:
    return id_text(event.originator_id)


def _opened(_: Row | None, e: Account.Opened) -> Row:
    return {"id": id_text(e.originator_id), "username": e.username, "display_name": e.display_name,
            "grants": [], "opened_at": e.occurred_at}


@needs_row
def _granted(row: Row, e: Account.RoleGranted) -> Row:
    row["grants"] = [*row["grants"], [e.role, e.cell_id]]  # a new list: the kept row may be the one written
    return row


@needs_row
def _revoked(row: Row, e: Account.RoleRevoked) -> Row:
    row["grants"] = [grant for grant in row["grants"] if grant != [e.role, e.cell_id]]
    return row


def view() -> View:
    return View("staff", staff, account_key, {
        Account.Opened: _opened, Account.RoleGranted: _granted, Account.RoleRevoked: _revoked,
    })
