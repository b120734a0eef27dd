"""Searching the cases view for a queue (`queries.search_cases`), on SQLite and PostgreSQL: words in
the description or a receipt code, a resident's phone, open cases only, past due or due soon, and the
queue's order (past due first, then by due time)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from sqlalchemy import Engine

from domain.application import Minqing
from projections import queries
from projections.processor import Processor
from tests.conftest import Clock

WORKER = "wang.worker"
CELL = "qingshui.dongcun.g1"


def raise_case(app: Minqing, title: str, **fields: str) -> UUID:
    return app.raise_demand(actor=WORKER, channel="reception_day", title=title, cell_id=CELL, **fields).id


def found(engine: Engine, **filters: object) -> list[str]:
    with engine.connect() as conn:
        return [item["title"] for item in queries.search_cases(conn, **filters).items]  # type: ignore[arg-type]


def test_text_is_found_in_the_title_the_description_or_the_receipt_code(
        stored_app: Minqing, views_engine: Engine) -> None:
    lights = raise_case(stored_app, "东村路灯 Street lights", description="三盏灯不亮 three lamps out")
    raise_case(stored_app, "水渠 Ditch", description="堵塞 blocked")
    Processor(stored_app, views_engine).catch_up()
    receipt = stored_app.demand(lights).receipt
    assert found(views_engine, text="LAMPS") == ["东村路灯 Street lights"]
    assert found(views_engine, text="不亮") == ["东村路灯 Street lights"]
    assert found(views_engine, text=receipt.lower()) == ["东村路灯 Street lights"]
    assert found(views_engine, text="ditch") == ["水渠 Ditch"]


def test_a_phone_search_finds_the_residents_number_or_its_end(
        stored_app: Minqing, views_engine: Engine) -> None:
    # The store is encrypted (the default), so the view keeps the numbers masked: *******5678.
    raise_case(stored_app, "路灯 Lights", resident_phone="13812345678")
    raise_case(stored_app, "水渠 Ditch", resident_phone="13900001111")
    raise_case(stored_app, "道路 Road")
    Processor(stored_app, views_engine).catch_up()
    assert found(views_engine, phone="13812345678") == ["路灯 Lights"]
    assert found(views_engine, phone="12345678") == ["路灯 Lights"]
    assert found(views_engine, phone="1111") == ["水渠 Ditch"]
    assert found(views_engine, phone="13900005678") == ["路灯 Lights"]  # all a masked number tells
    assert found(views_engine, phone="5555") == []


def test_the_queue_lists_open_cases_past_due_first_then_by_due_time(
        stored_app: Minqing, views_engine: Engine, clock: Clock) -> None:
    app = stored_app
    late = raise_case(app, "三天前 Raised three days ago")          # first response due 24 h after raising
    clock.advance(days=2, hours=12)
    soon = raise_case(app, "半天前 Raised half a day ago")
    clock.advance(hours=12)
    newest = raise_case(app, "刚才 Just raised")
    closed = raise_case(app, "已办结 Closed")
    app.triage(closed, actor=WORKER, category="repairs")
    app.resolve(closed, actor=WORKER, summary="done")
    Processor(app, views_engine).catch_up()
    now = clock.now

    queue = found(views_engine, open_only=True, now=now, sort=queries.URGENCY)
    assert queue == ["三天前 Raised three days ago", "半天前 Raised half a day ago", "刚才 Just raised"]
    assert found(views_engine, open_only=True, now=now, overdue=True) == ["三天前 Raised three days ago"]
    assert found(views_engine, open_only=True, now=now, overdue=False, sort="raised_at") == \
        ["半天前 Raised half a day ago", "刚才 Just raised"]
    assert found(views_engine, open_only=True, now=now, due_within=timedelta(hours=13)) == \
        ["半天前 Raised half a day ago"]
    with views_engine.connect() as conn:
        lateness = {item["id"]: item["overdue"] for item in queries.search_cases(conn, now=now).items}
    assert lateness == {str(late): True, str(soon): False, str(newest): False, str(closed): False}


def test_being_overdue_or_due_soon_is_asked_as_of_a_time(stored_app: Minqing, views_engine: Engine) -> None:
    with views_engine.connect() as conn, pytest.raises(queries.BadQuery):
        queries.search_cases(conn, sort=queries.URGENCY)
