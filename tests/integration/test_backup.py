"""`minqing backup` and `minqing restore` on SQLite and PostgreSQL: a backup restored into an empty
database verifies and rebuilds the same views; one taken while demands are being raised holds a prefix of
the log; a non-empty database, a cut-short file and a backup of another key are refused; and the events
SQLite still holds in its write-ahead log, which a copy of the database file lost, are in the backup."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from api.cli import main
from api.compose import initialise
from api.eventstore import events_table
from api.settings import Settings
from domain.application import Minqing
from projections import all_views
from projections.db import make_engine
from tests.conftest import POSTGRES_URL, add_staff
from tests.e2e import support as s


def minqing(database_url: str, *args: str, **env: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={"MINQING_DATABASE_URL": database_url, **env})
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.output)  # refusals are messages, never tracebacks
    return result



@pytest.fixture
def lived_in(stored_app: Minqing, views_engine: Engine) -> Minqing:
    """A store with cases at several steps, a household visited, and a snapshot of a case (and the views'
    tables)."""
    app = stored_app
    case = s.objection_lodged(app)
    s.resolved(app)
    s.scheduled_visit(app)
    s.raised(app, title="路灯 Lights", resident_phone=s.RESIDENT_PHONE)
    app.take_snapshot(case)
    return app


def view_rows(database_url: str) -> dict[str, list[str]]:
    """Every view's rows, in a stable order, after rebuilding every view from the log."""
    assert minqing(database_url, "projections", "rebuild").exit_code == 0
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return {table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
                    for view in all_views().values() for table in view.tables}
    finally:
        engine.dispose()


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_backup_restored_into_an_empty_database_verifies_and_rebuilds_the_same_views(
        lived_in: Minqing, database_url: str, other_database_url: str, tmp_path: Path) -> None:
    file = tmp_path / "minqing.jsonl"
    taken = minqing(database_url, "backup", str(file))
    assert taken.exit_code == 0, taken.output
    kinds = [r["kind"] for r in records(file)]
    assert kinds[0] == "header" and kinds[-1] == "end" and kinds.count("snapshot") == 1
    assert kinds.count("event") == lived_in.recorder.max_notification_id()

    restored = minqing(other_database_url, "restore", str(file))
    assert restored.exit_code == 0, restored.output
    verified = minqing(other_database_url, "verify")
    assert verified.exit_code == 0 and "every chain is intact" in verified.output
    assert view_rows(other_database_url) == view_rows(database_url)
    [snapshot] = [r for r in records(file) if r["kind"] == "snapshot"]
    again = Settings(database_url=other_database_url).open_application()
    try:  # the restored snapshot holds the chain head the backup gave for it
        assert again.snapshots is not None
        [restored_snapshot] = again.snapshots.get(UUID(snapshot["originator_id"]))
        assert restored_snapshot.state["chain_head"] == snapshot["chain"]
    finally:
        again.close()


def test_the_backup_keeps_events_encrypted_as_stored_with_their_chain_values(
        lived_in: Minqing, database_url: str, tmp_path: Path) -> None:
    file = tmp_path / "minqing.jsonl"
    assert minqing(database_url, "backup", str(file)).exit_code == 0
    text = file.read_text(encoding="utf-8")
    assert s.RESIDENT_PHONE not in text and "路灯" not in text
    assert stat.S_IMODE(file.stat().st_mode) == 0o600 and not list(tmp_path.glob(".*.partial"))
    header, events = records(file)[0], [r for r in records(file) if r["kind"] == "event"]
    assert header["encrypted"] is True and header["cipher_key_id"]
    first = events[0]
    assert first["chain"] == lived_in.history(UUID(first["originator_id"]))[0].chain


def test_a_backup_taken_while_demands_are_raised_holds_a_prefix_of_the_log(
        open_app: Callable[[], Minqing], database_url: str, other_database_url: str, tmp_path: Path) -> None:
    app = open_app()
    add_staff(app)
    for _ in range(60):
        s.raised(app)
    writer, stop, raised = open_app(), threading.Event(), []

    def raise_demands() -> None:
        while not stop.is_set():
            case = s.raised(writer, title="写入中 Raised during the backup")
            writer.add_note(case, actor=s.WORKER, text="第二个事件 a second event")
            raised.append(case)

    thread = threading.Thread(target=raise_demands)
    thread.start()
    try:
        while len(raised) < 5:
            stop.wait(0.01)
        before = app.recorder.max_notification_id()
        file = tmp_path / "minqing.jsonl"
        taken = minqing(database_url, "backup", str(file))
        after = app.recorder.max_notification_id()
    finally:
        stop.set()
        thread.join()
    assert taken.exit_code == 0, taken.output
    assert before < after  # demands were raised while it ran
    events = [r for r in records(file) if r["kind"] == "event"]
    assert before <= len(events) <= after
    # A prefix of the log, exactly: the first N events as the store holds them, in log order.
    stored = app.recorder.select_notifications(1, len(events))
    assert [(r["notification_id"], r["originator_id"], r["originator_version"]) for r in events] == [
        (n.id, str(n.originator_id), n.originator_version) for n in stored]
    versions: dict[str, list[int]] = defaultdict(list)
    for r in events:
        versions[r["originator_id"]].append(r["originator_version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())  # each aggregate contiguous
    assert minqing(other_database_url, "restore", str(file)).exit_code == 0
    verified = minqing(other_database_url, "verify")
    assert verified.exit_code == 0, verified.output


def test_a_database_that_holds_events_is_not_restored_into(
        lived_in: Minqing, database_url: str, tmp_path: Path) -> None:
    file = tmp_path / "minqing.jsonl"
    assert minqing(database_url, "backup", str(file)).exit_code == 0
    before = lived_in.recorder.max_notification_id()
    refused = minqing(database_url, "restore", str(file))
    assert refused.exit_code == 1 and "not empty" in refused.output
    assert lived_in.recorder.max_notification_id() == before


@pytest.mark.parametrize("damage", ["cut short", "not JSON", "not a backup"])
def test_a_damaged_backup_is_refused_before_anything_is_written(
        lived_in: Minqing, database_url: str, other_database_url: str, tmp_path: Path, damage: str) -> None:
    file = tmp_path / "minqing.jsonl"
    assert minqing(database_url, "backup", str(file)).exit_code == 0
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    damaged = {"cut short": lines[:-3], "not JSON": [*lines[:5], "{\"kind\": \"ev\n", *lines[6:]],
               "not a backup": lines[1:]}[damage]
    file.write_text("".join(damaged), encoding="utf-8")
    refused = minqing(other_database_url, "restore", str(file))
    assert refused.exit_code == 1
    assert {"cut short": "not whole", "not JSON": "line 6 is not JSON",
            "not a backup": "not a Minqing backup"}[damage] in refused.output
    app = Settings(database_url=other_database_url).open_application()
    try:
        assert not app.recorder.max_notification_id()
    finally:
        app.close()


def test_a_backup_of_sqlite_holds_the_events_a_copy_of_the_file_lost_in_the_write_ahead_log(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'minqing.db'}"
    initialise(Settings(database_url=url))
    app = Settings(database_url=url).open_application()  # open, as a running server holds it
    try:
        add_staff(app)
        for _ in range(20):
            s.raised(app)
        total = app.recorder.max_notification_id()
        shutil.copy(tmp_path / "minqing.db", tmp_path / "copied.db")  # what the operator did
        with sqlite3.connect(tmp_path / "copied.db") as copied:
            assert copied.execute("SELECT count(*) FROM stored_events").fetchone()[0] < total
        file = tmp_path / "minqing.jsonl"
        assert minqing(url, "backup", str(file)).exit_code == 0
    finally:
        app.close()
    restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    restoring = minqing(restored_url, "restore", str(file))
    assert restoring.exit_code == 0, restoring.output
    restored = Settings(database_url=restored_url).open_application()
    try:
        assert restored.recorder.max_notification_id() == total
    finally:
        restored.close()


def skip_numbers(app: Minqing, database_url: str) -> None:
    """On PostgreSQL, leave a gap in the log's numbers, as a rolled-back insert does (SQLite numbers events
    by their row id, which leaves none)."""
    if database_url.startswith("sqlite"):
        return
    schema = database_url.rsplit("schema=", 1)[1]
    [table] = events_table(app)
    qualified = table if "." in table else f"{schema}.{table}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                     (qualified, (app.recorder.max_notification_id() or 0) + 7))


def test_a_sealed_store_restored_elsewhere_verifies_its_seal_with_its_events_numbered_afresh(
        lived_in: Minqing, database_url: str, other_database_url: str, tmp_path: Path) -> None:
    initialise(Settings(database_url=database_url))  # `db init`: the sealed log's tables and signing key
    skip_numbers(lived_in, database_url)
    s.raised(lived_in, title="井盖 Manhole cover")
    assert minqing(database_url, "seal").exit_code == 0
    file = tmp_path / "minqing.jsonl"
    assert minqing(database_url, "backup", str(file)).exit_code == 0
    events = lived_in.recorder.max_notification_id() or 0
    assert records(file)[-1]["rows"]["log_leaves"] == len([r for r in records(file) if r["kind"] == "event"])

    assert minqing(other_database_url, "restore", str(file)).exit_code == 0
    verified = minqing(other_database_url, "verify")
    assert verified.exit_code == 0, verified.output
    sealed = len([r for r in records(file) if r["kind"] == "event"])
    assert f"{sealed} events sealed under signed heads up to {sealed} events" in verified.output
    restored = Settings(database_url=other_database_url).open_application()
    try:  # numbered afresh, without the original's gap
        assert restored.recorder.max_notification_id() == sealed
        assert (sealed < events) == database_url.startswith("postgres")  # the gap is gone
    finally:
        restored.close()
