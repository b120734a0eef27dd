"""Figures as a reviewer checks them, on SQLite and PostgreSQL: months cut in the deployment's time zone, a
vote without a quorum holding no step, on-time shares of the first response and of each step, a reopened
case's rating cleared alike in the case and its row, and a view built again when what it computes changes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from domain.application import Minqing
from projections import queries
from projections.cases import cases
from projections.core import versions
from projections.processor import Processor, create_tables
from tests.conftest import Clock

WORKER, SUPERVISOR = "wang.worker", "chen.supervisor"
CELL = "qingshui.dongcun.g1"


def figures(app: Minqing, engine: Engine, **filters: object) -> dict[str, dict[str, object]]:
    with engine.connect() as conn:
        return {row["month"]: row for row in queries.response_time_summary(conn, app.deployment, by="month",
                                                                           **filters)}


def test_a_demand_raised_at_seven_in_the_morning_of_1_november_beijing_time_counts_in_november(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    clock.now = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)       # 07:00 on 1 November in Beijing
    case = stored_app.raise_demand(actor=WORKER, channel="phone", title="井盖缺失", cell_id=CELL).id
    clock.advance(hours=2)
    stored_app.triage(case, actor=WORKER, category="repairs")
    stored_app.resolve(case, actor=WORKER, summary="已更换井盖")
    Processor(stored_app, views_engine).catch_up()
    assert set(figures(stored_app, views_engine)) == {"2026-11"}
    november = figures(stored_app, views_engine, month_from="2026-11", month_to="2026-11")
    assert november["2026-11"]["count"] == 1
    assert figures(stored_app, views_engine, month="2026-10") == {}
    with views_engine.connect() as conn:
        [asked] = queries.satisfaction_summary(conn, stored_app.deployment, by="month")
    assert asked["month"] == "2026-11"   # feedback first asked at 09:00 Beijing time on 1 November


def test_a_vote_without_a_quorum_holds_no_step_and_leaves_its_clock_running(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    app = stored_app
    case = app.raise_demand(actor=WORKER, channel="reception_day", title="修村道", cell_id=CELL).id
    app.triage(case, actor=WORKER, category="public_works")
    for step in ("branch_proposal", "two_committees", "members_assembly"):
        clock.advance(days=1)
        app.discuss(case, actor=WORKER, step=step)
    step_due = app.demand(case).deadlines["step"]
    clock.advance(days=4)
    app.vote(case, actor=WORKER, body="representatives", members=30, present=12, in_favour=12, against=0,
             abstained=0)
    demand = app.demand(case)
    assert demand.last_vote == "invalid"
    assert (demand.current_step, demand.round, demand.deadlines["step"]) == ("resolution_vote", 1, step_due)
    clock.advance(days=6)
    app.vote(case, actor=WORKER, body="representatives", members=30, present=25, in_favour=20, against=3,
             abstained=2)
    Processor(app, views_engine).catch_up()
    with views_engine.connect() as conn:
        steps = {row["step"]: row for row in queries.step_time_summary(conn, app.deployment)}
    assert steps["resolution_vote"]["count"] == 1
    assert steps["resolution_vote"]["days_median"] == 10  # since the assembly's review, not the failed vote
    assert [held["step"] for held in _row(views_engine, case)["steps"]] == [
        "branch_proposal", "two_committees", "members_assembly", "resolution_vote"]


def test_the_share_of_first_responses_and_of_steps_on_time_counts_those_by_their_deadline(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    app = stored_app
    prompt = app.raise_demand(actor=WORKER, channel="phone", title="路灯不亮", cell_id=CELL).id
    late = app.raise_demand(actor=WORKER, channel="phone", title="占道经营", cell_id=CELL).id
    never = app.raise_demand(actor=WORKER, channel="phone", title="噪音", cell_id=CELL).id
    clock.advance(hours=2)
    app.triage(prompt, actor=WORKER, category="public_works")
    clock.advance(hours=30)                                  # past the 24 hours of a first response
    app.triage(late, actor=WORKER, category="public_works")
    clock.advance(days=3)
    app.discuss(prompt, actor=WORKER, step="branch_proposal")  # within the 15 days of a step
    clock.advance(days=20)
    app.discuss(late, actor=WORKER, step="branch_proposal")    # 23 days after it began: late
    app.discuss(prompt, actor=WORKER, step="two_committees")   # 20 days after the step before: late
    Processor(app, views_engine).catch_up()
    [row] = figures(stored_app, views_engine).values()
    assert (row["count"], row["responded"], row["first_response_on_time_share"]) == (3, 2, 0.5)
    with views_engine.connect() as conn:
        steps = {s["step"]: s for s in queries.step_time_summary(conn, app.deployment)}
    assert (steps["branch_proposal"]["count"], steps["branch_proposal"]["on_time_share"]) == (2, 0.5)
    assert (steps["two_committees"]["count"], steps["two_committees"]["on_time_share"]) == (1, 0.0)
    assert _row(views_engine, never)["responded_on_time"] is None


def test_reopening_clears_the_rating_in_the_case_and_in_its_row_alike(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    app = stored_app
    case = app.raise_demand(actor=WORKER, channel="phone", title="下水道堵塞", cell_id=CELL).id
    app.triage(case, actor=WORKER, category="repairs")
    app.resolve(case, actor=WORKER, summary="已疏通")
    app.give_feedback(case, actor=WORKER, rating="dissatisfied")
    clock.advance(hours=1)
    app.reopen(case, actor=SUPERVISOR, reason="回访复查：仍堵")
    Processor(app, views_engine).catch_up()
    demand, row = app.demand(case), _row(views_engine, case)
    assert (demand.rating, demand.feedback_state) == (row["rating"], row["feedback_state"]) == (None, None)
    with views_engine.connect() as conn:
        assert queries.search_cases(conn, rating="dissatisfied").items == []


def test_a_reopened_case_alone_in_its_category_has_no_resolution_time_left_in_any_summary(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    """Reopening takes the case's resolution time back out of the rollups: a group whose every time was taken
    back reports its cases and no median, not an error."""
    app = stored_app
    case = app.raise_demand(actor=WORKER, channel="phone", title="路灯不亮", cell_id=CELL).id
    clock.advance(hours=1)
    app.triage(case, actor=WORKER, category="repairs")
    clock.advance(hours=8)
    app.resolve(case, actor=WORKER, summary="已换灯泡")
    Processor(app, views_engine).catch_up()      # the time is written, then taken back
    clock.advance(hours=1)
    app.reopen(case, actor=SUPERVISOR, reason="回访复查：仍不亮")
    Processor(app, views_engine).catch_up()
    with views_engine.connect() as conn:
        for by in ("category", "cell", "month", "worker"):
            [row] = queries.response_time_summary(conn, app.deployment, by=by)
            assert (row["count"], row["resolved"], row["resolution_hours_median"]) == (1, 0, None), by
            assert row["first_response_hours_median"] == 1.0, by


def test_the_cases_view_is_built_again_when_the_deployment_changes_its_time_zone(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    clock.now = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    stored_app.raise_demand(actor=WORKER, channel="phone", title="井盖缺失", cell_id=CELL)
    Processor(stored_app, views_engine).catch_up()
    assert create_tables(views_engine) == []                  # built in the zone it declares
    assert create_tables(views_engine, "Europe/London") == ["cases"]
    assert create_tables(views_engine, "Europe/London") == []
    with views_engine.connect() as conn:
        assert conn.execute(select(cases.c.id)).first() is None  # emptied, its rollups too
        assert queries.response_time_summary(conn, stored_app.deployment, by="month") == []
        built = dict(conn.execute(select(versions.c.view, versions.c.version)).all())
    assert built["cases"].endswith("Europe/London") and built.get("staff", "") == ""


def _row(engine: Engine, case: object) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(conn.execute(select(cases).where(cases.c.id == str(case))).mappings().one())


def test_months_are_cut_where_the_zone_says_on_both_sides_of_midnight(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    """23:59 Beijing time on 31 October is October's; a minute later it is November."""
    clock.now = datetime(2026, 10, 31, 15, 59, tzinfo=UTC)
    stored_app.raise_demand(actor=WORKER, channel="phone", title="路面塌陷", cell_id=CELL)
    clock.advance(minutes=1)
    stored_app.raise_demand(actor=WORKER, channel="phone", title="路面积水", cell_id=CELL)
    clock.advance(minutes=1)
    Processor(stored_app, views_engine).catch_up()
    counts = {month: row["count"] for month, row in figures(stored_app, views_engine).items()}
    assert counts == {"2026-10": 1, "2026-11": 1}
