"""Every view is also a spreadsheet: ?format=csv answers text/csv with a header row."""

from __future__ import annotations

import csv
import io

import httpx2
import pytest

from tests.e2e import support as s
from tests.e2e.support import Api

# view: (query, header row, data rows once `everything_viewed`)
EXPORTS = {
    "response-times": ({}, ["category", "count", "responded", "resolved", "first_response_hours_median",
                            "first_response_hours_p90", "resolution_hours_median", "resolution_hours_p90",
                            "on_time_share"], 3),   # repairs, public works, and the untriaged case's none
    "response-times by step": ({"steps": "true"}, ["step", "count", "days_median", "days_p90"], 1),
    "satisfaction": ({"by": "cell"}, ["cell", "asked", "answered", "satisfied", "basically_satisfied",
                                      "dissatisfied", "expired", "reopens", "satisfaction_rate",
                                      "response_rate"], 1),
    "unresolved": ({}, ["id", "title", "category", "step", "cell_id", "responsible_cell_id", "assignee",
                        "raised_at", "age_days", "due_at", "deadlines_missed", "escalation_level",
                        "escalations", "accountability_flags"], 1),
    "visit-coverage": ({"by": "visitor"}, ["visitor", "households", "with_cadence", "overdue",
                                           "covered_share", "visits_conducted", "visits_missed"], 1),
}


def export(api: Api, name: str) -> httpx2.Response:
    query, _, _ = EXPORTS[name]
    return api.get(f"/api/v1/views/{name.split()[0]}", s.REVIEWER, format="csv", **query)


@pytest.fixture
def everything_viewed(api: Api) -> Api:
    """A rated case, a deliberated one, an overdue one and a household, each in the views."""
    rated = s.resolved(api.app)
    api.app.give_feedback(rated, actor=s.WORKER, rating="satisfied")
    api.app.discuss(s.deliberating(api.app), actor=s.WORKER, step="branch_proposal")
    s.overdue(api.app)
    s.household(api.app)
    api.runtime.wait_for_views(api.head())
    return api


@pytest.mark.parametrize("name", list(EXPORTS))
def test_each_view_as_csv_is_text_csv_with_a_header_row_and_a_row_per_line(everything_viewed: Api, name: str
                                                                             ) -> None:
    _, header, lines = EXPORTS[name]
    response = export(everything_viewed, name)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{name.split()[0]}.csv"'
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == header
    assert len(rows) == 1 + lines


def test_a_view_as_csv_has_the_same_figures_as_in_json(everything_viewed: Api) -> None:
    as_json = everything_viewed.get("/api/v1/views/satisfaction", s.REVIEWER).json()
    as_csv = list(csv.DictReader(io.StringIO(
        everything_viewed.get("/api/v1/views/satisfaction", s.REVIEWER, format="csv").text)))
    assert [{k: str(v) for k, v in row.items()} for row in as_json] == as_csv


@pytest.mark.parametrize("name", list(EXPORTS))
def test_an_empty_view_as_csv_still_has_its_header_row(api: Api, name: str) -> None:
    response = export(api, name)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert list(csv.reader(io.StringIO(response.text))) == [EXPORTS[name][1]]


def test_a_format_other_than_json_or_csv_is_refused(api: Api) -> None:
    response = api.get("/api/v1/views/satisfaction", format="xlsx")
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["query.format"]


# (A title starting with a tab or CR loses it: titles are stripped; tests/unit/test_spreadsheet_cells.py.)
@pytest.mark.parametrize("title", ['=HYPERLINK("http://example.invalid","点这里")', "+1+1", "-2+3",
                                   "@SUM(A1)"])
def test_a_title_a_spreadsheet_would_run_is_exported_as_text(api: Api, title: str) -> None:
    case = s.raised(api.app, occurred_at=s.ago(days=3), title=title)  # overdue, so it is unresolved
    api.runtime.wait_for_views(api.head())
    rows = list(csv.DictReader(io.StringIO(export(api, "unresolved").text)))
    assert [row["title"] for row in rows if row["id"] == str(case)] == ["'" + title]

