"""Tampering with stored rows directly in SQLite and PostgreSQL is detected by `verify`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
import pytest
from click.testing import CliRunner

from api.backup import aes_cipher
from api.cli import main
from api.compose import initialise
from api.settings import Settings
from domain import audit
from domain.account import account_id
from domain.application import Minqing
from tests.conftest import POSTGRES_URL, STAFF, add_staff


class StoredRows:
    """Direct SQL on the events table, as someone with database access could run it — and the cipher key:
    `state` and `set_state` read and write the events' content in clear. (Without the key, a changed
    encrypted row is unreadable: see `test_an_unreadable_event_is_reported_as_a_break_not_a_crash`.)"""

    def __init__(self, database_url: str) -> None:
        self.url = urlsplit(database_url)
        self.cipher = aes_cipher(Settings(database_url=database_url).cipher_key_text())
        if self.url.scheme == "sqlite":
            self.table, self.param = "stored_events", "?"
        else:
            schema = self.url.query.removeprefix("schema=")
            self.table, self.param = f"{schema}.minqing_events", "%s"

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        sql = sql.replace("{t}", self.table).replace("?", self.param)
        if self.url.scheme == "sqlite":
            with sqlite3.connect(self.url.path) as conn:
                return conn.execute(sql, params).fetchall()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def key(self, aggregate_id: UUID) -> Any:
        return aggregate_id.hex if self.url.scheme == "sqlite" else aggregate_id

    def state(self, aggregate_id: UUID, version: int) -> bytes:
        rows = self.execute("SELECT state FROM {t} WHERE originator_id = ? AND originator_version = ?",
                            self.key(aggregate_id), version)
        return self.cipher.decrypt(bytes(rows[0][0])) if self.cipher else bytes(rows[0][0])

    def set_state(self, aggregate_id: UUID, version: int, state: bytes) -> None:
        stored = self.cipher.encrypt(state) if self.cipher else state
        self.execute("UPDATE {t} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                     stored, self.key(aggregate_id), version)

    def delete(self, aggregate_id: UUID, version: int) -> None:
        self.execute("DELETE FROM {t} WHERE originator_id = ? AND originator_version = ?",
                     self.key(aggregate_id), version)

    def renumber(self, aggregate_id: UUID, old: int, new: int) -> None:
        self.execute("UPDATE {t} SET originator_version = ? "
                     "WHERE originator_id = ? AND originator_version = ?",
                     new, self.key(aggregate_id), old)


@pytest.fixture
def case_with_history(open_app: Callable[[], Minqing]) -> tuple[Minqing, UUID, UUID]:
    """A case with six events, and a second, untouched case."""
    app = open_app()
    add_staff(app)
    demand_id = app.raise_demand(actor="wang.worker", channel="visit", title="Street lights on the east road",
                                 cell_id="qingshui.dongcun.g1").id
    app.triage(demand_id, actor="wang.worker", category="public_works")
    app.discuss(demand_id, actor="wang.worker", step="branch_proposal", summary="proposed by the branch")
    app.discuss(demand_id, actor="wang.worker", step="two_committees", summary="agreed, budget 40,000 yuan")
    app.discuss(demand_id, actor="wang.worker", step="members_assembly", summary="endorsed")
    app.vote(demand_id, actor="wang.worker", body="representatives", members=30, present=25, in_favour=20,
             against=3, abstained=2)
    other_id = app.raise_demand(actor="wang.worker", channel="phone", title="Blocked drain",
                                cell_id="qingshui.dongcun.g2").id
    assert app.verify().intact
    return app, demand_id, other_id


def breaks_of(app: Minqing) -> list[tuple[UUID, int]]:
    return [(b.aggregate_id, b.version) for b in app.verify().breaks]


def test_a_changed_event_is_detected_at_its_version(case_with_history, database_url: str) -> None:
    app, demand_id, _ = case_with_history
    rows = StoredRows(database_url)
    rows.set_state(demand_id, 4, rows.state(demand_id, 4).replace(b"40,000", b"90,000"))
    assert breaks_of(app) == [(demand_id, 4)]
    assert not app.verify(demand_id).intact


def test_a_deleted_event_is_detected_where_it_is_missing(case_with_history, database_url: str) -> None:
    app, demand_id, _ = case_with_history
    StoredRows(database_url).delete(demand_id, 3)
    assert breaks_of(app) == [(demand_id, 4)]


def test_an_inserted_event_is_detected(case_with_history, database_url: str) -> None:
    app, demand_id, _ = case_with_history
    rows = StoredRows(database_url)
    forged = rows.state(demand_id, 5)
    for version in (6, 5):                  # make room after version 4, then put a copy there
        rows.renumber(demand_id, version, version + 1)
    rows.execute("INSERT INTO {t} (originator_id, originator_version, topic, state) "
                 "SELECT originator_id, 5, topic, ? FROM {t} "
                 "WHERE originator_id = ? AND originator_version = 6",
                 forged, rows.key(demand_id))
    assert (demand_id, 5) in breaks_of(app) or (demand_id, 6) in breaks_of(app)
    assert not app.verify(demand_id).intact


def test_reordered_events_are_detected(case_with_history, database_url: str) -> None:
    app, demand_id, _ = case_with_history
    rows = StoredRows(database_url)
    third, fourth = rows.state(demand_id, 3), rows.state(demand_id, 4)
    rows.set_state(demand_id, 3, fourth)
    rows.set_state(demand_id, 4, third)
    assert breaks_of(app) == [(demand_id, 3)]


def test_swapped_version_numbers_are_detected(case_with_history, database_url: str) -> None:
    app, demand_id, _ = case_with_history
    rows = StoredRows(database_url)
    rows.renumber(demand_id, 2, 99)
    rows.renumber(demand_id, 3, 2)
    rows.renumber(demand_id, 99, 3)
    # Read in log order, the old second event now claims to be the third.
    [found] = app.verify().breaks
    assert (found.aggregate_id, found.version) == (demand_id, 3)
    assert "reordered" in found.problem
    assert [b.version for b in app.verify(demand_id).breaks] == [2]


def test_an_unreadable_event_is_reported_as_a_break_not_a_crash(case_with_history, database_url: str) -> None:
    app, demand_id, _ = case_with_history
    StoredRows(database_url).set_state(demand_id, 2, b"{not json")
    assert breaks_of(app) == [(demand_id, 2)]


def test_an_unreadable_first_event_is_reported_by_verify_not_taken_for_a_wrong_key(
        case_with_history, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = account_id(next(iter(STAFF)))  # the log's first event: the first staff account opened
    rows = StoredRows(database_url)  # garbled without the key: AES-GCM's tag no longer matches
    rows.execute("UPDATE {t} SET state = ? WHERE originator_id = ? AND originator_version = 1",
                 b"garbled", rows.key(first))
    monkeypatch.setenv("MINQING_DATABASE_URL", database_url)
    initialise(Settings(database_url=database_url))     # `db init`: the sealed log's tables, the signing key
    broken = CliRunner().invoke(main, ["verify"])
    assert broken.exit_code == 1 and f"BROKEN {first} at version 1" in broken.output


def test_tampering_with_one_case_leaves_the_others_intact(case_with_history, database_url: str) -> None:
    app, demand_id, other_id = case_with_history
    rows = StoredRows(database_url)
    rows.set_state(demand_id, 1, rows.state(demand_id, 1).replace(b"east", b"west"))
    assert app.verify(other_id).intact
    assert [b.aggregate_id for b in app.verify().breaks] == [demand_id]


def test_the_verify_command_exits_non_zero_on_a_break(case_with_history, database_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _app, demand_id, _ = case_with_history
    monkeypatch.setenv("MINQING_DATABASE_URL", database_url)
    initialise(Settings(database_url=database_url))     # `db init`: the sealed log's tables, the signing key
    runner = CliRunner()
    intact = runner.invoke(main, ["verify"])
    assert intact.exit_code == 0, intact.output
    assert "every chain is intact" in intact.output
    rows = StoredRows(database_url)
    rows.set_state(demand_id, 2, rows.state(demand_id, 2).replace(b"public_works", b"repairs"))
    broken = runner.invoke(main, ["verify"])
    assert broken.exit_code == 1
    assert f"BROKEN {demand_id} at version 2" in broken.output


STAFF_ACCOUNTS = [account_id(username) for username in STAFF]


def test_a_verify_of_a_few_aggregates_reads_them_one_by_one_and_detects_a_changed_event(
        case_with_history, database_url: str) -> None:
    app, demand_id, other_id = case_with_history
    rows = StoredRows(database_url)
    rows.set_state(demand_id, 4, rows.state(demand_id, 4).replace(b"40,000", b"90,000"))
    result = audit.verify_each(app, [demand_id, other_id])
    assert len([demand_id, other_id]) * audit.SCAN_RATIO < app.recorder.max_notification_id()  # one by one
    assert (result.aggregates, [(b.aggregate_id, b.version) for b in result.breaks]) == (2, [(demand_id, 4)])


def test_a_verify_of_most_of_the_store_reads_the_log_once_and_detects_a_changed_event(
        case_with_history, database_url: str) -> None:
    app, demand_id, other_id = case_with_history
    rows = StoredRows(database_url)
    rows.set_state(demand_id, 4, rows.state(demand_id, 4).replace(b"40,000", b"90,000"))
    wanted = [demand_id, other_id, *STAFF_ACCOUNTS]
    result = audit.verify_each(app, wanted)
    assert len(wanted) * audit.SCAN_RATIO >= app.recorder.max_notification_id()  # in one pass over the log
    assert (result.aggregates, [(b.aggregate_id, b.version) for b in result.breaks]) == (8, [(demand_id, 4)])


@pytest.mark.parametrize("with_others", [False, True], ids=["one by one", "one pass"])
def test_a_verify_of_chosen_aggregates_reports_one_deleted_whole(
        case_with_history, database_url: str, with_others: bool) -> None:
    app, demand_id, other_id = case_with_history
    StoredRows(database_url).delete(other_id, 1)
    result = audit.verify_each(app, [demand_id, other_id, *(STAFF_ACCOUNTS if with_others else [])])
    assert [(b.aggregate_id, b.version) for b in result.breaks] == [(other_id, 1)]
    assert "deleted" in result.breaks[0].problem


def test_the_visits_within_cells_are_found_by_their_scheduling(open_app: Callable[[], Minqing]) -> None:
    app = open_app()
    add_staff(app)
    homes = {cell: app.register_household(actor="chen.supervisor", cell_id=cell, address="1号",
                                          categories=["hardship"]).id
             for cell in ("qingshui.dongcun.g1", "qingshui.xicun.g1")}
    visits = {cell: app.schedule_visit(home, actor="chen.supervisor", visitor="wang.worker",
                                       purpose="routine", due_at=datetime(2026, 3, 9, tzinfo=UTC)).id
              for cell, home in homes.items()}
    village = app.deployment.subtree("qingshui.dongcun")
    assert audit.visits_within(app, village) == [visits["qingshui.dongcun.g1"]]
