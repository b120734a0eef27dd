"""`minqing demo --scale N` on SQLite and PostgreSQL: a lawful history in the district's grid, in Chinese,
every chain intact, the views built and searchable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from api.cli.main import main
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
