"""The views' filters the dashboards use, over HTTP: a range of months, and visit coverage by household
category or of one category."""

from __future__ import annotations

from tests.e2e import support as s
from tests.e2e.support import Api


def test_a_range_of_months_includes_both_ends_and_a_bad_month_is_refused(api: Api) -> None:
    s.resolved(api.app)
    api.runtime.wait_for_views(api.head())
    [now] = [row["month"] for row in api.get("/api/v1/views/response-times", s.SUPERVISOR, by="month").json()]
    assert api.get("/api/v1/views/response-times", s.SUPERVISOR, by="month", month_from=now,
                   month_to=now).json()[0]["count"] == 1
    assert api.get("/api/v1/views/response-times", s.SUPERVISOR, by="month", month_from="1999-01",
                   month_to="1999-12").json() == []
    assert api.get("/api/v1/views/satisfaction", s.SUPERVISOR, month_from="2026-13x").status_code == 422


def test_visit_coverage_by_household_category_counts_a_household_in_each_of_its_categories(api: Api) -> None:
    api.app.register_household(actor=s.WORKER, cell_id=s.CELL, address="东村一组9号",
                               categories=["elderly_alone", "disabled"], head_name=s.RESIDENT_NAME,
                               phone=s.RESIDENT_PHONE)
    s.household(api.app)   # elderly_alone
    api.runtime.wait_for_views(api.head())
    by_category = api.get("/api/v1/views/visit-coverage", s.REVIEWER, by="category").json()
    assert {row["category"]: row["households"] for row in by_category} == {"elderly_alone": 2, "disabled": 1}
    # by cell: the cells directly under the reviewer's township, as the case summaries group them
    [cell] = api.get("/api/v1/views/visit-coverage", s.REVIEWER, by="cell", category="disabled").json()
    assert (cell["cell"], cell["households"]) == ("qingshui.dongcun", 1)
    [cell] = api.get("/api/v1/views/visit-coverage", s.REVIEWER, by="cell", cell="qingshui.dongcun").json()
    assert (cell["cell"], cell["households"], cell["with_cadence"]) == (s.CELL, 2, 2)
    refused = api.get("/api/v1/views/visit-coverage", s.REVIEWER, by="category", category="rich")
    assert (refused.status_code, s.problem_type(refused)) == (422, "/problems/bad-query")
