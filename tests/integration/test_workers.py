"""The deadline watcher and the operations on views, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from structlog.testing import capture_logs

from api.cli import main
from api.demo.history import copy_events, generate
from domain.application import Minqing
from domain.demand import Demand
from domain.deployment import Deployment
from projections import all_views, core
from projections.cases import cases
from projections.processor import Processor, create_tables, rebuild
from tests.conftest import Clock
from tests.support.views import fresh_rebuild, rollup_rows, rows_of
from workers import deadlines
from workers import projections as projection_worker
from workers.projections import ViewLocks


def overdue_repairs(app: Minqing, clock: Clock, count: int) -> list:
    ids = []
    for n in range(count):
        case = app.raise_demand(actor="wang.worker", channel="phone", title=f"井盖损坏 manhole cover {n}",
                                cell_id="qingshui.dongcun.g1").id
        app.triage(case, actor="wang.worker", category="repairs")
        ids.append(case)
    clock.advance(days=6)
    return ids


def test_the_watcher_records_each_missed_deadline_once_and_escalates_even_with_two_watchers(
        stored_app: Minqing, open_app: Callable[[], Minqing], views_engine: Engine, clock: Clock) -> None:
    ids = overdue_repairs(stored_app, clock, 12)
    Processor(stored_app, views_engine).catch_up()
    second = open_app()
    results = []
    threads = [threading.Thread(target=lambda a=a: results.append(deadlines.sweep(a, views_engine)))
               for a in (stored_app, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["deadline_missed"] for r in results) == 12
    for case in ids:
        history = [e.type for e in stored_app.history(case)]
        assert history.count("DeadlineMissed") == 1
        assert history.count("Escalated") == 1
        assert stored_app.demand(case).responsible_cell_id == "qingshui.dongcun"
    Processor(stored_app, views_engine).catch_up()
    assert deadlines.sweep(stored_app, views_engine)["deadline_missed"] == 0


def test_the_watcher_expires_silent_feedback_and_takes_down_notices_whose_period_is_over(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    app = stored_app
    repair = app.raise_demand(actor="wang.worker", channel="phone", title="漏水 leak",
                              cell_id="qingshui.dongcun.g1").id
    app.triage(repair, actor="wang.worker", category="repairs")
    app.resolve(repair, actor="wang.worker", summary="fixed")
    lights = app.raise_demand(actor="wang.worker", channel="visit", title="路灯 lights",
                              cell_id="qingshui.dongcun").id
    app.triage(lights, actor="wang.worker", category="public_works")
    for step in ("branch_proposal", "two_committees", "members_assembly"):
        app.discuss(lights, actor="wang.worker", step=step)
    app.vote(lights, actor="wang.worker", body="representatives", members=9, present=9, in_favour=9,
             against=0, abstained=0)
    app.publicize(lights, actor="wang.worker", kind="resolution", text="决议 resolution")
    clock.advance(days=8)
    Processor(app, views_engine).catch_up()
    done = deadlines.sweep(app, views_engine)
    assert (done["feedback_expired"], done["notice_ended"]) == (1, 1)
    assert app.demand(repair).feedback_state == "expired"
    assert all(n["ended"] for n in app.demand(lights).notices.values())


def test_a_rebuild_swaps_in_an_identical_view_and_the_live_one_answers_until_then(
        open_app: Callable[[], Minqing], deployment: Deployment, views_engine: Engine) -> None:
    app = open_app()
    copy_events(generate(deployment, demands=150, households=20, seed=5).app, app)
    Processor(app, views_engine).catch_up()
    view = all_views()["cases"]
    before = rows_of(views_engine, view)
    seen_during: list[int] = []

    def read_live(_: int) -> None:
        with views_engine.connect() as conn:
            seen_during.append(len(conn.execute(select(cases.c.id)).all()))

    rebuild(app, views_engine, view, progress=read_live, batch_size=200)
    assert seen_during and set(seen_during) == {len(before)}
    assert rows_of(views_engine, view) == before
    assert Processor(app, views_engine).positions()["cases"] == app.recorder.max_notification_id()


def test_status_and_rebuild_commands_report_lag_and_throughput(
        open_app: Callable[[], Minqing], deployment: Deployment, views_engine: Engine, database_url: str,
        monkeypatch) -> None:
    app = open_app()
    total = copy_events(generate(deployment, demands=60, seed=6).app, app)
    monkeypatch.setenv("MINQING_DATABASE_URL", database_url)
    runner = CliRunner()
    status = runner.invoke(main, ["projections", "status"])
    assert status.exit_code == 0, status.output
    assert f"{0:>10}{total:>10}{total:>12}" in status.output
    Processor(app, views_engine).catch_up()
    summed = rollup_rows(views_engine, all_views()["cases"])  # added up event by event
    assert summed["rollup_scope_cases"]
    rebuilt = runner.invoke(main, ["projections", "rebuild", "cases"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"cases: {total} events" in rebuilt.output and "events/s" in rebuilt.output
    view = all_views()["cases"]
    assert rows_of(views_engine, view) == fresh_rebuild(app, views_engine, view)
    assert rollup_rows(views_engine, all_views()["cases"]) == summed  # summed afresh from the rebuilt rows
    after = runner.invoke(main, ["projections", "status"]).output
    assert next(line for line in after.splitlines() if line.startswith("cases")).split()[1:4] == \
        [str(total), str(total), "0"]


def test_a_catch_up_pauses_the_cycle_collector_and_leaves_it_as_it_found_it(
        open_app: Callable[[], Minqing], deployment: Deployment, views_engine: Engine) -> None:
    app = open_app()
    copy_events(generate(deployment, demands=10, seed=4).app, app)
    collecting: list[bool] = []
    assert gc.isenabled()
    Processor(app, views_engine).catch_up(progress=lambda _: collecting.append(gc.isenabled()))
    assert collecting and not any(collecting)
    assert gc.isenabled()
    gc.disable()  # paused by someone else: a catch-up does not start it
    try:
        Processor(app, views_engine).catch_up()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_db_init_keeps_rollups_in_their_key_order_on_sqlite(open_app: Callable[[], Minqing],
                                                              deployment: Deployment,
                                                              views_engine: Engine, monkeypatch) -> None:
    """A rollup made before rollups were WITHOUT ROWID on SQLite is made again and summed afresh, a part of
    the view's rows at a time."""
    monkeypatch.setattr(core, "REFILL_ROWS", 7)
    app = open_app()
    copy_events(generate(deployment, demands=30, seed=8).app, app)
    Processor(app, views_engine).catch_up()
    view = all_views()["cases"]
    summed = rollup_rows(views_engine, view)
    feedback = next(r.table for r in view.rollups if r.table.name == "rollup_scope_feedback")
    if views_engine.dialect.name == "sqlite":
        with views_engine.begin() as conn:  # as an earlier version made it: a table with rowids
            conn.execute(text(f"ALTER TABLE {feedback.name} RENAME TO old_feedback"))
            conn.execute(text(f"CREATE TABLE {feedback.name} AS SELECT * FROM old_feedback"))
            conn.execute(text("DROP TABLE old_feedback"))
    # summed afresh by the scopes of the deployment's grid, as the processor counted them
    assert create_tables(views_engine, deployment.timezone, deployment.grid) == []
    assert rollup_rows(views_engine, view) == summed
    if views_engine.dialect.name == "sqlite":
        with views_engine.connect() as conn:
            made = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": feedback.name})
            assert "WITHOUT ROWID" in made.scalar_one().upper()


def test_only_one_worker_holds_a_view_at_a_time(views_engine: Engine) -> None:
    views = list(all_views().values())
    first, second = ViewLocks(views_engine, views), ViewLocks(views_engine, views)
    try:
        assert first.acquire() == views
        if views_engine.dialect.name == "postgresql":
            assert second.acquire() == []
            first.release()
            assert second.acquire() == views
    finally:
        first.release()
        second.release()


# View locks are PostgreSQL advisory locks (on SQLite the one writer is the database's own).
ON_POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("database_url", ON_POSTGRES, indirect=True)
def test_a_worker_whose_database_session_was_lost_gives_up_its_views_until_it_takes_them_again(
        views_engine: Engine) -> None:
    views = list(all_views().values())
    first, second = ViewLocks(views_engine, views), ViewLocks(views_engine, views)
    try:
        assert first.acquire() == views
        assert first.conn is not None
        session = first.conn.execute(text("SELECT pg_backend_pid()")).scalar()
        first.conn.commit()
        with views_engine.connect() as admin:  # as a database restart would: the session and its locks go
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": session})
            admin.commit()
            # pg_terminate_backend only signals the session: its locks go when it has exited
            deadline = time.monotonic() + 10
            while admin.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                {"pid": session}).scalar_one() and time.monotonic() < deadline:
                time.sleep(0.05)
        assert second.acquire() == views
        assert first.acquire() == []  # it noticed, and writes nothing while another holds the views
        second.release()
        assert first.acquire() == views
    finally:
        first.release()
        second.release()


def test_deadlines_are_swept_by_the_clock_of_the_application(stored_app: Minqing, views_engine: Engine,
                                                            clock: Clock) -> None:
    overdue_repairs(stored_app, clock, 1)
    clock.advance(days=-2)
    Processor(stored_app, views_engine).catch_up()
    assert deadlines.sweep(stored_app, views_engine)["deadline_missed"] == 0
    clock.advance(days=2, seconds=1)
    assert deadlines.sweep(stored_app, views_engine)["deadline_missed"] == 1


def test_a_failed_batch_is_logged_and_retried_and_the_worker_carries_on(
        open_app: Callable[[], Minqing], deployment: Deployment, views_engine: Engine, monkeypatch) -> None:
    app = open_app()
    total = copy_events(generate(deployment, demands=40, seed=8).app, app)
    live = all_views()["cases"]
    failures = []

    def raised_once(row, event):
        if not failures:
            failures.append(event)
            raise OSError("disk I/O error")
        return live.handlers[Demand.Raised](row, event)

    flaky = replace(live, handlers={**live.handlers, Demand.Raised: raised_once})
    monkeypatch.setattr(projection_worker, "RETRY_SECONDS", 0.05)
    stop = threading.Event()
    with capture_logs() as logs:
        worker = threading.Thread(target=projection_worker.run, args=(app, views_engine, [flaky], stop),
                                  kwargs={"batch_size": 50})
        worker.start()
        try:
            deadline = time.monotonic() + 60
            while Processor(app, views_engine, [live]).positions()["cases"] < total:
                assert worker.is_alive() and time.monotonic() < deadline, \
                    "the worker stopped or never caught up"
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(failures) == 1
    failed = [entry for entry in logs if entry["event"] == "projection_batch_failed"]
    assert len(failed) == 1 and failed[0]["log_level"] == "error"
    assert rows_of(views_engine, live) == fresh_rebuild(app, views_engine, live)
