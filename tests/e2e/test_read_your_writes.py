"""Read your writes: a command's `position`, passed as ?after=, makes lists and views wait for it."""

from __future__ import annotations

import time

import pytest

from api.compose import Runtime
from api.settings import Settings
from api.web.errors import Problem
from tests.e2e import support as s
from tests.e2e.support import Api


def test_a_raised_demand_is_in_the_case_list_read_after_its_position(api: Api) -> None:
    raised = api.post("/api/v1/demands", {"channel": "phone", "title": "井盖丢失 Manhole cover missing",
                                          "cell_id": s.CELL})
    assert raised.status_code == 201
    listed = api.get("/api/v1/demands", after=raised.json()["position"]).json()
    assert [(i["id"], i["status"]) for i in listed["items"]] == [(raised.json()["id"], "raised")]


def test_a_triage_shows_in_the_case_list_and_the_response_times_read_after_it(api: Api) -> None:
    case = s.raised(api.app)
    triaged = api.command(case, "triage", {"category": "repairs"}).json()
    listed = api.get("/api/v1/demands", after=triaged["position"], status="in_progress").json()
    assert [i["id"] for i in listed["items"]] == [str(case)]
    times = api.get("/api/v1/views/response-times", after=triaged["position"]).json()
    assert [(row["category"], row["count"], row["responded"]) for row in times] == [("repairs", 1, 1)]


def test_feedback_shows_in_the_satisfaction_view_read_after_it(api: Api) -> None:
    case = s.resolved(api.app)
    rated = api.command(case, "feedback", {"rating": "basically_satisfied"}).json()
    rows = api.get("/api/v1/views/satisfaction", after=rated["position"]).json()
    assert [(r["category"], r["asked"], r["answered"], r["basically_satisfied"], r["satisfaction_rate"])
            for r in rows] == [("repairs", 1, 1, 1, 1.0)]


def test_an_overdue_case_shows_in_the_unresolved_view_read_after_it(api: Api) -> None:
    raised = api.post("/api/v1/demands", {"channel": "phone", "title": "积水 Standing water",
                                          "cell_id": s.CELL, "occurred_at": s.ago(days=2).isoformat()}).json()
    unresolved = api.get("/api/v1/views/unresolved", after=raised["position"]).json()
    assert [i["id"] for i in unresolved["items"]] == [raised["id"]]


def test_a_registered_household_shows_in_visit_coverage_read_after_it(api: Api) -> None:
    registered = api.post("/api/v1/households", {"cell_id": s.CELL, "address": "东村一组3号",
                                                 "categories": ["elderly_alone"]}).json()
    homes = api.get("/api/v1/households", after=registered["position"]).json()
    assert [i["id"] for i in homes["items"]] == [registered["id"]]
    coverage = api.get("/api/v1/views/visit-coverage", after=registered["position"]).json()
    assert [(r["cell"], r["households"], r["with_cadence"]) for r in coverage] == [(s.CELL, 1, 1)]


def test_a_position_beyond_the_end_of_the_log_is_refused_at_once(api: Api) -> None:
    started = time.monotonic()
    response = api.get("/api/v1/demands", after=api.head() + 1000)
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/position-not-recorded")
    assert time.monotonic() - started < 2


def test_views_that_do_not_reach_a_position_in_time_answer_504_views_behind(start_api) -> None:
    api = start_api(embedded_workers=False)  # nothing keeps the views current
    response = api.get("/api/v1/demands", after=api.head())
    assert (response.status_code, s.problem_type(response)) == (504, "/problems/views-behind")
    assert response.headers["retry-after"] == "1"


def test_waiting_for_views_is_bounded(database_url: str, start_api) -> None:
    start_api(embedded_workers=False)  # the tables, staff and their events
    runtime = Runtime.open(Settings(database_url=database_url))
    try:
        head = runtime.app.recorder.max_notification_id()
        started = time.monotonic()
        with pytest.raises(Problem) as refused:
            runtime.wait_for_views(head, ["cases"], seconds=0.2)
        assert time.monotonic() - started < 1
        assert (refused.value.status, refused.value.code) == (504, "views-behind")
    finally:
        runtime.close()
