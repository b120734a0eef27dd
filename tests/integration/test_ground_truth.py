"""Every figure of the response-time and satisfaction views equals a plain recomputation from the
aggregates' own histories, over a random history of 2,000+ demands on both tracks. Times are compared as
the summaries state them: exact to the minute (each time its whole minutes); months as the deployment's
time zone cuts them; a vote without a quorum holds no step and leaves its clock running."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from api.demo.history import History, copy_events, generate
from api.settings import Settings
from domain.application import Minqing
from domain.deployment import Deployment
from domain.templates import TEMPLATES
from projections import queries
from projections.db import make_engine
from projections.processor import Processor, create_tables
from tests.conftest import POSTGRES_URL, fresh_schema


@pytest.fixture(scope="module")
def history(deployment: Deployment) -> History:
    return generate(deployment, demands=2100, households=0, seed=7)


def in_minutes(start: datetime, end: datetime) -> int:
    """A time as the summaries count it: whole minutes (exact to the minute, the seconds dropped)."""
    return int((end - start).total_seconds() // 60)


def nearest_rank_p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * 9 / 10) - 1]


def recompute_case(app: Minqing, demand_id: Any, zone: ZoneInfo) -> dict[str, Any]:
    """Walk one case's history by hand."""
    case: dict[str, Any] = {"worker": None, "sat_worker": None, "first": None, "first_on_time": None,
                            "resolution": None, "on_time": None, "steps": [], "asked": 0, "answered": 0,
                            "expired": 0, "reopens": 0, "sat_month": None, "ratings": defaultdict(int)}
    deadlines: dict[str, datetime] = {}
    missed_any, step_start, deliberating = False, None, False

    def month(at: datetime) -> str:
        return at.astimezone(zone).strftime("%Y-%m")

    for e in app.history(demand_id):
        d, at = e.data, e.occurred_at
        if e.type == "Raised":
            raised = at
            case.update(category=d["category_hint"], cell=d["cell_id"], month=month(at))
            deadlines = {"first_response": d["respond_by"]}
        elif e.type == "Triaged":
            case["category"] = d["category"]
            case["first"] = in_minutes(raised, at) / 60
            case["first_on_time"] = at <= deadlines["first_response"]
            deliberating = d["track"] == "deliberation"
            step_start = at if deliberating else None
            deadlines = d["deadlines"]
        elif e.type == "Assigned":
            case["worker"] = case["sat_worker"] = d["assignee"]
        elif e.type in ("Discussed", "Voted", "Publicized"):
            if d.get("step") and step_start is not None and d.get("outcome") != "invalid":
                case["steps"].append((d["step"], in_minutes(step_start, at) / 1440,
                                      at <= deadlines.get("step", at)))
                step_start = at
                if d["step"] == TEMPLATES[app.demand(demand_id).template_key or ""].steps[-1].key and \
                        d.get("outcome") not in ("returned", "rejected"):
                    deliberating = False  # the last step held: carried out from now
            elif d.get("step") and d.get("outcome") in ("returned", "rejected"):
                deliberating = True
            deadlines = d["deadlines"]
        elif e.type == "Resolved":
            case["resolution"] = in_minutes(raised, at) / 60
            case["on_time"] = not missed_any and all(at <= due for due in deadlines.values())
            case["worker"] = case["worker"] or e.actor
        elif e.type == "Reopened":
            case.update(resolution=None, on_time=None)
            case["reopens"] += 1
            deadlines = d["deadlines"]
            if deliberating:  # back at the step it was closed at, awaited anew from now
                step_start = at
        elif e.type == "DeadlineMissed":
            missed_any = True
        elif e.type == "FeedbackGiven":
            case["answered"] += 1
            case["ratings"][d["rating"]] += 1
        elif e.type == "FeedbackExpired":
            case["expired"] += 1
        if e.type == "Resolved" or (e.type == "Closed" and d["feedback_due"] is not None):
            case["asked"] += 1
            case["sat_month"] = case["sat_month"] or month(at)
            case["sat_worker"] = case["sat_worker"] or e.actor
    return case


def reported_cell(deployment: Deployment, cell: str, top: str) -> str:
    """The cell a case raised in `cell` is reported under in a summary by cell within the subtree of `top`:
    the cell directly under `top` that holds it, or `top` itself for a case raised there."""
    path = [cell, *deployment.ancestors(cell)]
    return top if cell == top else path[path.index(top) - 1]


@pytest.fixture(scope="module")
def truth(history: History, deployment: Deployment) -> list[dict[str, Any]]:
    zone = ZoneInfo(deployment.timezone)
    cases = [recompute_case(history.app, d, zone) for d in history.demands]
    for case in cases:
        case["part"] = reported_cell(deployment, case["cell"], deployment.root.id)
    return cases


def close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, abs_tol=1e-6))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def views(request: pytest.FixtureRequest, history: History, deployment: Deployment,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The history's views on each store, caught up once for the module (the tests only read them), in
    batches of 100 events: a case's rollup rows written in one batch are changed in later ones."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('truth') / 'minqing.db'}"
        else:
            url = f"{POSTGRES_URL}?schema={stack.enter_context(fresh_schema())}"
        app = Minqing(deployment, env=Settings(database_url=url).event_store_env(create_tables=True))
        stack.callback(app.close)
        copy_events(history.app, app)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        create_tables(engine)
        Processor(app, engine, batch_size=100).catch_up()
        yield engine


GROUP_KEYS = {"category": "category", "cell": "part", "worker": "worker", "month": "month"}


@pytest.mark.parametrize("by", queries.GROUPINGS)
def test_response_time_figures_match_a_recomputation_from_the_histories(
        views: Engine, truth: list[dict[str, Any]], deployment: Deployment, by: str) -> None:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for case in truth:
        groups[case[GROUP_KEYS[by]]].append(case)
    with views.connect() as conn:
        summary = {row[by]: row for row in queries.response_time_summary(conn, deployment, by=by)}
    assert len(groups) > 2
    assert set(summary) == set(groups)
    for group, cases in groups.items():
        row = summary[group]
        first = [c["first"] for c in cases if c["first"] is not None]
        resolved = [c for c in cases if c["resolution"] is not None]
        hours = [c["resolution"] for c in resolved]
        assert row["count"] == len(cases)
        assert row["resolved"] == len(resolved)
        assert close(row["first_response_hours_median"], statistics.median(first) if first else None)
        assert close(row["first_response_hours_p90"], nearest_rank_p90(first))
        assert close(row["resolution_hours_median"], statistics.median(hours) if hours else None)
        assert close(row["resolution_hours_p90"], nearest_rank_p90(hours))
        on_time = sum(1 for c in resolved if c["on_time"])
        assert close(row["on_time_share"], on_time / len(resolved) if resolved else None)
        responded = [c for c in cases if c["first"] is not None]
        first_on_time = sum(1 for c in responded if c["first_on_time"])
        assert close(row["first_response_on_time_share"],
                     first_on_time / len(responded) if responded else None)


def test_figures_within_a_scope_a_category_and_a_month_match_a_recomputation(
        views: Engine, truth: list[dict[str, Any]], deployment: Deployment) -> None:
    cells = deployment.subtree("qingshui.dongcun")
    month = sorted({case["month"] for case in truth})[1]
    within = [c for c in truth if c["cell"] in cells and c["category"] == "repairs" and c["month"] == month]
    assert within
    with views.connect() as conn:
        [row] = queries.response_time_summary(conn, deployment, by="category", cells=cells,
                                              category="repairs", month=month)
        steps = queries.step_time_summary(conn, deployment, cells=cells, category="public_works")
    first = [c["first"] for c in within if c["first"] is not None]
    hours = [c["resolution"] for c in within if c["resolution"] is not None]
    assert (row["count"], row["resolved"]) == (len(within), len(hours))
    assert close(row["first_response_hours_median"], statistics.median(first) if first else None)
    assert close(row["resolution_hours_p90"], nearest_rank_p90(hours))
    held = [days for c in truth if c["cell"] in cells and c["category"] == "public_works"
            for step, days, _ in c["steps"] if step == "branch_proposal"]
    proposal = next(s for s in steps if s["step"] == "branch_proposal")
    assert proposal["count"] == len(held) and close(proposal["days_median"], statistics.median(held))


@pytest.mark.parametrize("top", ["qingshui.dongcun", "qingshui.community"])
@pytest.mark.parametrize("by", ["category", "cell", "month", "worker"])
@pytest.mark.parametrize("filtered", [False, True])
def test_figures_by_category_cell_month_and_worker_within_a_scope_match_a_recomputation(
        views: Engine, truth: list[dict[str, Any]], deployment: Deployment, top: str, by: str,
        filtered: bool) -> None:
    """Read from the rollups of the scope (buckets, then the minutes of the bucket holding each rank): with
    and without a category and a range of months, which read the minutes kept per category and month."""
    cells = deployment.subtree(top)
    months = sorted({case["month"] for case in truth})
    period = {"month_from": months[1], "month_to": months[-2]} if filtered else {}
    category = "repairs" if filtered and by != "category" else None
    within = [c for c in truth if c["cell"] in cells and category in (None, c["category"])
              and (not filtered or months[1] <= c["month"] <= months[-2])]
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for case in within:
        key = reported_cell(deployment, case["cell"], top) if by == "cell" else case[by]
        groups[key].append(case)
    with views.connect() as conn:
        summary = {row[by]: row for row in queries.response_time_summary(
            conn, deployment, by=by, cells=cells, category=category, **period)}
    assert len(groups) > 1 and set(summary) == set(groups)
    for group, cases in groups.items():
        first = [c["first"] for c in cases if c["first"] is not None]
        hours = [c["resolution"] for c in cases if c["resolution"] is not None]
        row = summary[group]
        assert (row["count"], row["resolved"]) == (len(cases), len(hours))
        assert close(row["first_response_hours_median"], statistics.median(first) if first else None)
        assert close(row["first_response_hours_p90"], nearest_rank_p90(first))
        assert close(row["resolution_hours_median"], statistics.median(hours) if hours else None)
        assert close(row["resolution_hours_p90"], nearest_rank_p90(hours))


def test_a_range_of_months_counts_the_cases_of_those_months_both_ends_included(
        views: Engine, truth: list[dict[str, Any]], deployment: Deployment) -> None:
    months = sorted({case["month"] for case in truth})
    first, last = months[1], months[3]
    raised = [c for c in truth if first <= c["month"] <= last]
    rated = [c for c in truth
             if c["sat_month"] and first <= c["sat_month"] <= last and c["category"] == "repairs"]
    with views.connect() as conn:
        by_month = queries.response_time_summary(conn, deployment, by="month", month_from=first,
                                                 month_to=last)
        by_category = queries.satisfaction_summary(conn, deployment, by="category", month_from=first,
                                                   month_to=last)
    [repairs] = [row for row in by_category if row["category"] == "repairs"]
    assert [row["month"] for row in by_month] == months[1:4]
    assert sum(row["count"] for row in by_month) == len(raised)
    assert (repairs["asked"], repairs["answered"]) == (sum(c["asked"] for c in rated),
                                                       sum(c["answered"] for c in rated))


def test_time_in_each_deliberation_step_matches_a_recomputation(
        views: Engine, truth: list[dict[str, Any]], deployment: Deployment) -> None:
    per_step: dict[str, list[float]] = defaultdict(list)
    on_time: dict[str, int] = defaultdict(int)
    for case in truth:
        for step, days, in_time in case["steps"]:
            per_step[step].append(days)
            on_time[step] += in_time
    with views.connect() as conn:
        summary = {row["step"]: row for row in queries.step_time_summary(conn, deployment)}
    assert set(summary) == set(per_step)
    for step, days in per_step.items():
        assert summary[step]["count"] == len(days)
        assert close(summary[step]["days_median"], statistics.median(days))
        assert close(summary[step]["days_p90"], nearest_rank_p90(days))
        assert close(summary[step]["on_time_share"], on_time[step] / len(days))
    assert 0 < sum(on_time.values()) < sum(len(days) for days in per_step.values())  # some late, some not


@pytest.mark.parametrize("by", queries.GROUPINGS)
def test_satisfaction_figures_match_a_recomputation_from_the_histories(
        views: Engine, truth: list[dict[str, Any]], deployment: Deployment, by: str) -> None:
    key = {"category": "category", "cell": "part", "worker": "sat_worker", "month": "sat_month"}[by]
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for case in truth:
        if case["asked"] or case["reopens"]:
            groups[case[key]].append(case)
    with views.connect() as conn:
        summary = {row[by]: row for row in queries.satisfaction_summary(conn, deployment, by=by)}
    assert set(summary) == set(groups)
    for group, cases in groups.items():
        row = summary[group]
        asked = sum(c["asked"] for c in cases)
        answered = sum(c["answered"] for c in cases)
        good = sum(c["ratings"]["satisfied"] + c["ratings"]["basically_satisfied"] for c in cases)
        assert row["asked"] == asked
        assert row["answered"] == answered
        for rating in ("satisfied", "basically_satisfied", "dissatisfied"):
            assert row[rating] == sum(c["ratings"][rating] for c in cases)
        assert row["expired"] == sum(c["expired"] for c in cases)
        assert row["reopens"] == sum(c["reopens"] for c in cases)
        assert close(row["satisfaction_rate"], good / answered if answered else None)
        assert close(row["response_rate"], answered / asked if asked else None)


def test_the_random_history_covers_every_track_outcome_rating_and_reopening(
        history: History, truth: list[dict[str, Any]]) -> None:
    outcomes = {(history.app.demand(d).track, history.app.demand(d).outcome) for d in history.demands}
    assert {("direct", "resolved"), ("direct", "not_resolvable"), ("direct", "merged"),
            ("deliberation", "resolved"), ("deliberation", "rejected"), (None, "withdrawn")} <= outcomes
    assert len(history.demands) >= 2000
    assert sum(c["reopens"] for c in truth) > 0 and sum(c["expired"] for c in truth) > 0
    assert all(sum(c["ratings"][r] for c in truth) > 0
               for r in ("satisfied", "basically_satisfied", "dissatisfied"))
    # what the figures must get right: votes without a quorum, demands raised on the first of a month before
    # 08:00 Beijing time (the month before in UTC), first responses and steps late and on time
    histories = [history.app.history(d) for d in history.demands]
    assert any(e.type == "Voted" and e.data["outcome"] == "invalid" for h in histories for e in h)
    assert any(h[0].occurred_at.astimezone(UTC).strftime("%Y-%m") != c["month"]
               for h, c in zip(histories, truth, strict=True))
    assert {c["first_on_time"] for c in truth} >= {True, False}


def test_every_case_row_agrees_with_its_aggregate(views: Engine, history: History) -> None:
    from sqlalchemy import select

    from projections.cases import cases

    with views.connect() as conn:
        rows = {r["id"]: r for r in conn.execute(select(cases)).mappings()}
    assert len(rows) == len(history.demands)
    for demand_id in history.demands:
        demand, row = history.app.demand(demand_id), rows[str(demand_id)]
        expected = (demand.status, demand.current_step, demand.outcome, demand.round, demand.assignee,
                    demand.responsible_cell_id, demand.reopen_count, demand.feedback_state, demand.rating,
                    len(demand.missed), len(demand.flags), demand.version)
        found = (row["status"], row["current_step"], row["outcome"], row["rounds"], row["assignee"],
                 row["responsible_cell_id"], row["reopen_count"], row["feedback_state"], row["rating"],
                 row["missed_deadlines"], row["flags"], row["version"])
        assert found == expected, demand_id
