"""Dates over HTTP (issue 10, item 9): `occurred_at` is an ISO 8601 date and time with a zone on every
route that takes it — never a number of seconds, a boolean, a bare date or a time without a zone — and a
step dated before the one it follows is refused as a problem naming the rule.

The table's rows share one API per store (`module_api`): a malformed body is refused before anything
is loaded, so the ids in the paths need not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e import support as s
from tests.e2e.support import Api

SOMEONE = uuid.UUID("00000000-0000-4000-8000-000000000001")  # fixed: test ids the same in every process
# Every route that takes occurred_at, with a body that is valid but for it.
ROUTES: dict[str, dict[str, Any]] = {
    "/api/v1/demands": {"channel": "phone", "title": "路灯不亮", "cell_id": s.CELL},
    f"/api/v1/demands/{SOMEONE}/triage": {"category": "repairs"},
    f"/api/v1/demands/{SOMEONE}/assign": {"assignee": s.WORKER},
    f"/api/v1/demands/{SOMEONE}/escalate": {"to_cell_id": "qingshui"},
    f"/api/v1/demands/{SOMEONE}/discuss": {"step": "branch_proposal"},
    f"/api/v1/demands/{SOMEONE}/vote": s.ADOPTING_VOTE,
    f"/api/v1/demands/{SOMEONE}/publicize": {"kind": "resolution", "text": "决议"},
    f"/api/v1/demands/{SOMEONE}/object": {"notice_id": "resolution-1-1", "text": "异议"},
    f"/api/v1/demands/{SOMEONE}/answer-objection": {"objection_id": "objection-1", "answer": "已答复"},
    f"/api/v1/demands/{SOMEONE}/progress": {"percent": 50},
    f"/api/v1/demands/{SOMEONE}/resolve": {"summary": "已修好"},
    f"/api/v1/demands/{SOMEONE}/close": {"outcome": "withdrawn"},
    f"/api/v1/demands/{SOMEONE}/feedback": {"rating": "satisfied"},
    f"/api/v1/demands/{SOMEONE}/reopen": {"reason": "回访复查"},
    f"/api/v1/demands/{SOMEONE}/flag": {"responsible": "村委会", "finding": "超时"},
    f"/api/v1/demands/{SOMEONE}/note": {"text": "电话回访"},
    "/api/v1/households": {"cell_id": s.CELL, "address": "东村一组7号", "categories": ["ordinary"]},
    f"/api/v1/households/{SOMEONE}/categories": {"categories": ["hardship"]},
    f"/api/v1/households/{SOMEONE}/visits": {"visitor": s.WORKER, "purpose": "routine",
                                              "due_at": "2026-03-01T09:30:00+08:00"},
    f"/api/v1/visits/{SOMEONE}/conduct": {"mode": "in_home"},
    f"/api/v1/visits/{SOMEONE}/miss": {},
}
NOT_A_ZONED_DATE_TIME = {"seconds before 1970": -1, "seconds as text": "1700000000", "a boolean": True,
                         "a bare date": "2026-03-01", "a time without a zone": "2026-03-01T09:30:00"}


def test_the_table_holds_every_route_that_takes_occurred_at(module_api: Api) -> None:
    document = module_api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    taking = set()
    for path, operations in document["paths"].items():
        body = operations.get("post", {}).get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        schema = schemas[body["schema"]["$ref"].rsplit("/", 1)[1]]
        if "occurred_at" in schema["properties"]:
            taking.add(path)
    assert taking == {path.replace(str(SOMEONE), "{demand_id}" if "/demands/" in path else
                                   "{household_id}" if "/households/" in path else "{visit_id}")
                      for path in ROUTES}


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("written_as", NOT_A_ZONED_DATE_TIME)
def test_occurred_at_that_is_not_an_iso_date_time_with_a_zone_is_a_422_naming_the_field(
        module_api: Api, path: str, written_as: str) -> None:
    response = module_api.post(path, ROUTES[path] | {"occurred_at": NOT_A_ZONED_DATE_TIME[written_as]})
    assert (response.status_code, response.headers["content-type"], s.problem_type(response)) == (
        422, s.PROBLEM, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["body.occurred_at"]


def test_a_visit_due_at_a_number_of_seconds_is_a_422_naming_the_field(module_api: Api) -> None:
    path = f"/api/v1/households/{SOMEONE}/visits"
    response = module_api.post(path, ROUTES[path] | {"due_at": 1700000000})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["body.due_at"]


def test_a_boolean_is_not_a_percentage(api: Api) -> None:
    case = s.triaged(api.app)
    response = api.command(case, "progress", {"percent": True})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["body.percent"]
    assert api.event_types(case) == ["Raised", "Triaged"]


def test_a_vote_dated_before_the_meeting_it_follows_is_a_422_and_records_nothing(api: Api) -> None:
    case = s.raised(api.app, occurred_at=s.ago(days=5))
    api.app.triage(case, actor=s.WORKER, category="public_works", occurred_at=s.ago(days=5))
    for step in s.DELIBERATION_STEPS:
        api.app.discuss(case, actor=s.WORKER, step=step, occurred_at=s.ago(days=2))
    response = api.command(case, "vote", s.ADOPTING_VOTE | {"occurred_at": s.ago(days=3).isoformat()})
    assert (response.status_code, response.headers["content-type"], s.problem_type(response)) == (
        422, s.PROBLEM, "/problems/occurred-out-of-order")
    assert api.event_types(case)[-1] == "Discussed"


def test_a_visit_dated_before_it_was_scheduled_is_a_422_and_records_nothing(api: Api) -> None:
    visit = s.scheduled_visit(api.app)
    response = api.post(f"/api/v1/visits/{visit}/conduct",
                        {"mode": "in_home", "occurred_at": s.ago(days=1).isoformat()})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/occurred-out-of-order")
    assert api.event_types(visit) == ["Scheduled"]
