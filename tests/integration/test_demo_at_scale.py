"""`minqing demo --scale N` on SQLite and PostgreSQL: a lawful history in the district's grid, in Chinese,
every chain intact, the views built and searchable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from api.cli.server import main
from api.demo.history import generate
from domain.deployment import load
from projections import queries
from projections.cases import cases
from projections.db import make_engine


def test_a_history_at_scale_is_lawful_and_written_in_chinese(database_url: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINQING_DATABASE_URL", database_url)
    monkeypatch.setenv("MINQING_DEPLOYMENT", "district")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"]).exit_code == 0
    written = runner.invoke(main, ["demo", "--scale", "200", "--processes", "1"])
    assert written.exit_code == 0, written.output
    assert "200 demands" in written.output
    verified = runner.invoke(main, ["verify"])
    assert verified.exit_code == 0 and "every chain is intact" in verified.output
    again = runner.invoke(main, ["demo", "--scale", "200"])
    assert again.exit_code != 0 and "already holds events" in again.output

    district = load("district")
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(cases.c.title, cases.c.cell_id, cases.c.raised_at)).all()
        assert len(rows) >= 200                                   # and those raised on visits
        assert {cell for _, cell, _ in rows} <= set(district.cells)
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in title) for title, _, _ in rows)
        raised = [r for _, _, r in rows]
        assert max(raised) - min(raised) > timedelta(days=3 * 365)  # spread over the years
        word = rows[0][0][:2]
        found = queries.search_cases(conn, text=word, limit=500).items
        assert found and all(word in item["title"] or word in item["description"] for item in found)
    engine.dispose()


def test_a_generated_history_records_each_fact_some_while_after_it_happened() -> None:
    history = generate(load("village_township"), demands=80, households=10, seed=3, days=120)
    lags = []
    for aggregate_id in [*history.demands, *history.households]:
        entries = history.app.history(aggregate_id)
        assert [e.recorded_at for e in entries] == sorted(e.recorded_at for e in entries)
        for e in entries:
            assert e.occurred_at <= e.recorded_at <= datetime.now(UTC)      # never in the future
            lags.append(e.recorded_at - e.occurred_at)
    assert max(lags) <= timedelta(days=1) and sum(lag > timedelta(hours=1) for lag in lags) > len(lags) // 5
    assert history.app.verify().intact
