"""Pages of the case list on SQLite and PostgreSQL: walking a list by its cursors gives every row once, in
the order of one long page, whatever the sort (empty values last on both stores); a list is counted up to
a cap; the overdue filter is open and past due."""

from __future__ import annotations

import random
from uuid import UUID

import pytest
from sqlalchemy import Engine

from domain.application import Minqing
from projections import paging, queries
from projections.processor import Processor
from tests.conftest import Clock
from tests.unit import cases as story

WORKER = "wang.worker"
CELLS = ["qingshui.dongcun.g1", "qingshui.dongcun.g2"]
SORTS = ["-raised_at", "raised_at", "assignee", "-assignee", "due_at", "-due_at", "-category",
         queries.URGENCY]


@pytest.fixture
def many(stored_app: Minqing, views_engine: Engine, clock: Clock) -> list[UUID]:
    """40 cases in two cells, some raised at the same instant, some triaged and assigned, some closed."""
    rng, app, made = random.Random(12), stored_app, []
    for n in range(40):
        if n % 3:
            clock.advance(hours=rng.choice([1, 7, 30]))
        case = app.raise_demand(actor=WORKER, channel="reception_day", title=f"诉求 {n}",
                                cell_id=rng.choice(CELLS)).id
        if rng.random() < 0.6:
            app.triage(case, actor=WORKER, category=rng.choice(["repairs", "environment"]))
            if rng.random() < 0.5:
                app.assign(case, actor=WORKER, assignee=WORKER)
            if rng.random() < 0.3:
                app.resolve(case, actor=WORKER, summary="done")
        made.append(case)
    clock.advance(days=1)
    Processor(app, views_engine).catch_up()
    return made


def walked(engine: Engine, limit: int, **filters: object) -> list[str]:
    """Every id of the list, a page at a time by each page's cursor."""
    ids: list[str] = []
    cursor = None
    with engine.connect() as conn:
        while True:
            page = queries.search_cases(conn, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
            ids += [item["id"] for item in page.items]
            if page.next_cursor is None:
                return ids
            assert len(page.items) == limit
            cursor = page.next_cursor


@pytest.mark.parametrize("sort", SORTS)
def test_walking_a_list_by_its_cursors_gives_every_row_once_in_order(
        many: list[UUID], views_engine: Engine, clock: Clock, sort: str) -> None:
    whole = walked(views_engine, paging.MAX_PAGE, sort=sort, now=clock.now)
    assert sorted(whole) == sorted(str(case) for case in many)
    for limit in (1, 3, 7):
        assert walked(views_engine, limit, sort=sort, now=clock.now) == whole


def test_empty_values_come_last_on_both_stores(many: list[UUID], views_engine: Engine, clock: Clock) -> None:
    with views_engine.connect() as conn:
        for sort in ("assignee", "-assignee"):
            items = queries.search_cases(conn, sort=sort, limit=paging.MAX_PAGE).items
            assignees = [item["assignee"] for item in items]
            filled = [a for a in assignees if a is not None]
            assert assignees == filled + [None] * (len(assignees) - len(filled))


def test_a_list_is_counted_up_to_its_cap(many: list[UUID], views_engine: Engine,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with views_engine.connect() as conn:
        whole = queries.search_cases(conn, limit=5)
        assert (whole.total, whole.total_capped) == (40, False)
        monkeypatch.setattr(paging, "TOTAL_CAP", 10)
        capped = queries.search_cases(conn, limit=5)
        assert (capped.total, capped.total_capped, len(capped.items)) == (10, True, 5)


@pytest.mark.parametrize("sort", ["-raised_at", queries.URGENCY])
def test_a_broad_scope_lists_what_a_narrow_one_does(many: list[UUID], views_engine: Engine, clock: Clock,
                                                    monkeypatch: pytest.MonkeyPatch, sort: str) -> None:
    """A broad scope is read without the cell indexes on SQLite (queries.BROAD_SCOPE), and counted through
    them: the same list, the same count."""
    def listed() -> list[tuple[list[str], int]]:
        with views_engine.connect() as conn:
            pages = [queries.search_cases(conn, cells=CELLS[:1], sort=sort, now=clock.now, limit=limit,
                                          **filters)  # type: ignore[arg-type]
                     for limit in (3, paging.MAX_PAGE)
                     for filters in ({}, {"open_only": True}, {"overdue": True}, {"overdue": False})]
            pages.append(queries.unresolved(conn, cells=CELLS[:1], now=clock.now, limit=paging.MAX_PAGE))
        return [([item["id"] for item in page.items], page.total) for page in pages]

    narrow = listed()
    monkeypatch.setattr(queries, "BROAD_SCOPE", 0)
    assert listed() == narrow
    whole, open_, overdue = (narrow[i][1] for i in (4, 5, 6))
    assert 0 < overdue <= open_ < whole < len(many)


def test_a_cursor_of_another_list_or_beside_an_offset_is_refused(many: list[UUID], views_engine: Engine,
                                                                 clock: Clock) -> None:
    with views_engine.connect() as conn:
        cursor = queries.search_cases(conn, limit=5, sort="-raised_at").next_cursor
        assert cursor is not None
        for bad in (dict(cursor="not-a-cursor"), dict(cursor=cursor, sort=queries.URGENCY, now=clock.now),
                    dict(cursor=cursor, offset=5)):
            with pytest.raises(paging.BadQuery):
                queries.search_cases(conn, limit=5, **bad)  # type: ignore[arg-type]


def test_a_closed_case_is_never_overdue(stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    app = stored_app
    late, closed = (app.raise_demand(actor=WORKER, channel="visit", title=title, cell_id=CELLS[0]).id
                    for title in ("仍未处理 still open", "超期后办结 closed late"))
    clock.advance(days=3)
    app.record_missed_deadlines(late)
    app.record_missed_deadlines(closed)
    app.triage(closed, actor=WORKER, category="repairs")
    app.resolve(closed, actor=WORKER, summary="done")
    Processor(app, views_engine).catch_up()
    with views_engine.connect() as conn:
        overdue = queries.search_cases(conn, now=clock.now, overdue=True).items
        on_time = queries.search_cases(conn, now=clock.now, overdue=False).items
        unresolved = queries.unresolved(conn, now=clock.now).items
    assert [item["id"] for item in overdue] == [str(late)] == [item["id"] for item in unresolved]
    assert [(item["id"], item["overdue"]) for item in on_time] == [(str(closed), False)]


def test_a_case_whose_result_is_made_public_after_it_closed_is_not_overdue(stored_app: Minqing,
                                                                          views_engine: Engine,
                                                                          clock: Clock) -> None:
    """The implementation result (the second 公开) is made public once the case is resolved: a deadline missed
    on the way stays in the case's record, not in its being overdue."""
    app = stored_app
    case = story.village_vote_pending(app, clock)
    clock.advance(days=40)
    app.record_missed_deadlines(case)
    story.representatives_vote(app, clock, case, present=20, in_favour=11)
    story.resolution_notice(app, clock, case)
    clock.advance(days=7)
    app.resolve(case, actor=WORKER, summary="道路已硬化")
    app.publicize(case, actor=WORKER, kind="result", text="实施结果：道路已硬化")
    Processor(app, views_engine).catch_up()
    with views_engine.connect() as conn:
        assert queries.search_cases(conn, now=clock.now, overdue=True).items == []
        assert queries.unresolved(conn, now=clock.now).items == []
        [item] = queries.search_cases(conn, now=clock.now, overdue=False).items
        assert (item["id"], item["status"], item["overdue"]) == (str(case), "closed", False)
        assert item["missed_deadlines"] >= 1
