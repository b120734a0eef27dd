"""Every error leaves the API as application/problem+json, with a `type` naming the rule broken."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable

import pytest

from api.compose import initialise
from api.settings import Settings
from projections.core import versions
from projections.db import make_engine
from tests.e2e import support as s
from tests.e2e.support import Api


def test_a_deliberation_step_out_of_order_is_a_409_naming_the_rule(api: Api) -> None:
    case = s.deliberating(api.app)
    response = api.command(case, "discuss", {"step": "members_assembly"})
    assert response.status_code == 409
    assert response.headers["content-type"] == s.PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/step-out-of-order"
    assert problem["status"] == 409
    assert "党支部会提议" in problem["detail"] and "党员大会审议" in problem["detail"]  # the steps, named
    assert problem["instance"] == f"/api/v1/demands/{case}/discuss"
    assert api.event_types(case) == ["Raised", "Triaged"]


def test_vote_counts_that_cannot_be_are_a_422(api: Api) -> None:
    case = s.awaiting_vote(api.app)
    impossible = s.ADOPTING_VOTE | {"members": 30, "present": 24, "in_favour": 20, "against": 10}
    response = api.command(case, "vote", impossible)
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/impossible-vote-counts")
    assert "Voted" not in api.event_types(case)


def test_the_vote_outcome_is_computed_by_the_domain_whatever_the_caller_expects(api: Api) -> None:
    case = s.awaiting_vote(api.app)
    without_quorum = s.ADOPTING_VOTE | {"present": 19, "in_favour": 19, "against": 0, "abstained": 0}
    response = api.command(case, "vote", without_quorum)
    assert response.status_code == 200, response.text
    assert api.app.history(case)[-1].data["outcome"] == "invalid"


@pytest.mark.parametrize(("command", "state", "body", "rule"), [
    ("triage", s.triaged, {"category": "repairs"}, "already-triaged"),
    ("resolve", s.raised, {"summary": "done"}, "not-triaged"),
    ("discuss", s.triaged, {"step": "branch_proposal"}, "wrong-track"),
    ("note", s.resolved, {"text": "too late"}, "case-closed"),
    ("reopen", s.triaged, {"reason": "why not"}, "case-not-closed"),
    ("escalate", s.triaged, {"to_cell_id": "qingshui.xicun", "reason": "sideways"}, "escalation-not-upward"),
    ("flag", s.triaged, {"responsible": "东村", "finding": "none"}, "not-overdue"),
    ("feedback", s.triaged, {"rating": "satisfied"}, "feedback-not-expected"),
    ("close", s.triaged, {"outcome": "not_resolvable", "explanation": ""}, "closing-not-allowed"),
    ("object", s.triaged, {"notice_id": "resolution-1-1", "text": "no"}, "not-found"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_command_the_case_does_not_allow_is_refused_with_the_rules_type(
        api: Api, command: str, state, body: dict, rule: str) -> None:
    case = state(api.app)
    before = api.event_types(case)
    who = s.SUPERVISOR if command in ("reopen", "flag", "close") else s.WORKER
    response = api.command(case, command, body, who)
    status = 404 if rule == "not-found" else 409
    assert (response.status_code, s.problem_type(response)) == (status, f"/problems/{rule}"), response.text
    assert api.event_types(case) == before


def test_a_time_in_the_future_is_refused(api: Api) -> None:
    case = s.raised(api.app)
    response = api.command(case, "note", {"text": "later", "occurred_at": s.ago(days=-1).isoformat()})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/occurred-in-future")


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_the_views_could_not_hold_is_refused_and_the_views_keep_up(api: Api, when: str) -> None:
    raised = api.post("/api/v1/demands", {"channel": "phone", "title": "路灯", "cell_id": s.CELL,
                                          "occurred_at": when})
    home = s.household(api.app)
    scheduled = api.post(f"/api/v1/households/{home}/visits", {"visitor": s.WORKER, "purpose": "routine",
                                                                "due_at": when})
    assert [(r.status_code, [e["path"] for e in r.json()["errors"]]) for r in (raised, scheduled)] == [
        (422, ["body.occurred_at"]), (422, ["body.due_at"])]
    assert api.get("/api/v1/households", after=api.head()).json()["total"] == 1


def test_text_holding_a_nul_character_is_refused_and_the_views_keep_up(api: Api) -> None:
    raised = api.post("/api/v1/demands", {"channel": "phone", "title": "路\u0000灯", "cell_id": s.CELL})
    case = s.deliberating(api.app)
    discussed = api.command(case, "discuss", {"step": "branch_proposal", "attendees": ["党支部", "\u0000"]})
    assert [(r.status_code, [e["path"] for e in r.json()["errors"]]) for r in (raised, discussed)] == [
        (422, ["body.title"]), (422, ["body.attendees"])]
    assert api.get("/api/v1/demands", after=api.head()).json()["total"] == 1


@pytest.mark.parametrize("query", [{"q": "路\u0000灯"}, {"assignee": "\u0000"}, {"status": "\u0000"}])
def test_a_search_for_a_nul_character_finds_nothing_where_the_database_cannot_hold_one(
        api: Api, database_url: str, query: dict) -> None:
    response = api.get("/api/v1/demands", **query)
    if database_url.startswith("sqlite"):
        assert (response.status_code, response.json()["total"]) == (200, 0)
    else:  # PostgreSQL text cannot hold NUL: the query cannot even be asked
        assert (response.status_code, s.problem_type(response)) == (422, "/problems/bad-query")


def test_an_offset_beyond_a_million_is_refused(api: Api) -> None:
    response = api.get("/api/v1/demands", offset=2**63)
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["query.offset"]


def test_an_invalid_body_is_a_422_listing_each_field_by_its_path(api: Api) -> None:
    response = api.post("/api/v1/demands", {"channel": "carrier_pigeon", "cell_id": s.CELL, "colour": "red"})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    paths = {e["path"]: e["type"] for e in response.json()["errors"]}
    assert paths == {"body.title": "missing", "body.channel": "literal_error",
                     "body.colour": "extra_forbidden"}


def test_a_time_without_a_zone_is_refused_by_its_path(api: Api) -> None:
    case = s.raised(api.app)
    response = api.command(case, "note", {"text": "met", "occurred_at": "2026-03-01T10:00:00"})
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["body.occurred_at"]


def test_a_body_that_is_not_json_is_a_422(api: Api) -> None:
    response = api.client.post("/api/v1/demands", content=b"{not json",
                               headers=api.headers(s.WORKER, **{"Content-Type": "application/json"}))
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")


def test_a_cell_the_deployment_does_not_have_is_a_422_naming_the_field(api: Api) -> None:
    response = api.post("/api/v1/demands", {"channel": "phone", "title": "路灯",
                                            "cell_id": "qingshui.atlantis"})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/unknown-reference")
    named = [(e["path"], e["type"]) for e in response.json()["errors"]]
    assert named == [("body.cell_id", "unknown-reference")]


@pytest.mark.parametrize("path", ["/api/v1/demands/{id}", "/api/v1/demands/{id}/history",
                                  "/api/v1/demands/{id}/trace", "/api/v1/households/{id}",
                                  "/api/v1/visits/{id}"])
def test_an_unknown_id_is_a_404(api: Api, path: str) -> None:
    response = api.get(path.format(id=uuid.uuid4()))
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")


def test_a_command_on_an_unknown_case_is_a_404(api: Api) -> None:
    response = api.command(uuid.uuid4(), "note", {"text": "anyone there?"})
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")


def test_an_id_that_is_not_a_uuid_is_a_422_naming_the_path_parameter(api: Api) -> None:
    response = api.get("/api/v1/demands/42")
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["path.demand_id"]


def test_an_unknown_route_is_a_404_problem(api: Api) -> None:
    response = api.get("/api/v1/nowhere")
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")


def test_a_method_a_route_does_not_answer_is_a_405_problem(api: Api) -> None:
    response = api.client.delete("/api/v1/demands", headers=api.headers(s.WORKER))
    assert (response.status_code, s.problem_type(response)) == (405, "/problems/method-not-allowed")
    assert response.headers["allow"] == "GET, POST"


def test_an_unknown_sort_key_is_a_422_bad_query(api: Api) -> None:
    response = api.get("/api/v1/demands", sort="-favourite_colour")
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/bad-query")


def test_a_missing_token_is_a_401_problem(api: Api) -> None:
    response = api.post("/api/v1/demands", {"channel": "phone", "title": "路灯", "cell_id": s.CELL},
                        s.NO_TOKEN)
    assert (response.status_code, s.problem_type(response)) == (401, "/problems/unknown-actor")


def test_a_forbidden_command_is_a_403_problem(api: Api) -> None:
    case = s.raised(api.app)
    response = api.command(case, "note", {"text": "I only review"}, s.REVIEWER, {"Accept-Language": "en"})
    assert (response.status_code, s.problem_type(response)) == (403, "/problems/not-authorised")
    assert response.json()["title"] == "The actor's role does not allow this action."


def test_assigning_to_an_unknown_account_is_a_422_naming_the_field_not_a_401(api: Api) -> None:
    response = api.command(s.triaged(api.app), "assign", {"assignee": "nobody"})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/unknown-reference")
    assert [(e["path"], e["type"]) for e in response.json()["errors"]] == [
        ("body.assignee", "unknown-reference")]
    assert "www-authenticate" not in response.headers


def test_a_boolean_is_not_a_count(api: Api) -> None:
    response = api.command(s.awaiting_vote(api.app), "vote", s.ADOPTING_VOTE | {"present": True})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["body.present"]


def test_a_fact_about_a_case_does_not_happen_before_the_case_was_raised(api: Api) -> None:
    case = s.raised(api.app, occurred_at=s.ago(days=2))
    response = api.command(case, "note", {"text": "电话回访", "occurred_at": s.ago(days=3).isoformat()})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/occurred-before-case")
    assert api.event_types(case) == ["Raised"]


def test_healthz_and_readyz_answer_anyone_and_say_nothing_more(api: Api) -> None:
    alive, ready = (api.get(path, s.NO_TOKEN) for path in ("/healthz", "/readyz"))
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_health_tells_anonymous_callers_nothing(api: Api) -> None:
    response = api.get("/api/v1/health", s.NO_TOKEN)
    assert (response.status_code, s.problem_type(response)) == (401, "/problems/unknown-actor")
    assert "head" not in response.text


def test_health_tells_staff_of_any_role_how_far_the_log_and_the_views_have_got(api: Api) -> None:
    s.raised(api.app)
    for who in (s.WORKER, s.REVIEWER):
        health = api.get("/api/v1/health", who).json()
        assert health["head"] == api.head()
        assert set(health["views"]) >= {"cases", "case_words", "notice_board"}


def test_readyz_says_not_ready_while_the_views_lag(start_api: Callable[..., Api]) -> None:
    api = start_api(embedded_workers=False, ready_lag_seconds=0.0)
    s.raised(api.app, occurred_at=s.ago(minutes=1))  # recorded now: the views, not running, stay behind
    time.sleep(0.01)
    response = api.get("/readyz", s.NO_TOKEN)
    assert (response.status_code, s.problem_type(response)) == (503, "/problems/not-ready")
    assert response.headers["retry-after"] == "5"


def test_readyz_says_not_ready_while_a_view_is_stored_by_another_version(start_api: Callable[..., Api],
                                                                         database_url: str) -> None:
    api = start_api()
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:  # as an upgrade leaves the rollups until `minqing db init`
            conn.execute(versions.update().where(versions.c.view == "cases rollups").values(version="3 old"))
        response = api.get("/readyz", s.NO_TOKEN, headers={"Accept-Language": "zh-CN"})
        assert (response.status_code, s.problem_type(response)) == (503, "/problems/not-ready")
        assert "minqing db init" in response.json()["detail"] and "另一版本" in response.json()["detail"]
        initialise(Settings(database_url=database_url))  # sums the rollups afresh, at this version
        assert api.get("/readyz", s.NO_TOKEN).json() == {"status": "ready"}
    finally:
        engine.dispose()


# An exclusive lock held from outside the server is SQLite's way to make it busy.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_command_while_the_database_is_locked_is_a_quick_503_and_records_nothing(
        start_api: Callable[..., Api], database_url: str) -> None:
    api = start_api(lock_timeout_seconds=1)
    case = s.triaged(api.app)
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        response = api.command(case, "note", {"text": "锁住了"})
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert (response.status_code, s.problem_type(response)) == (503, "/problems/database-unavailable")
    assert response.headers["retry-after"] == "2" and waited < 2
    assert api.event_types(case) == ["Raised", "Triaged"]
    assert api.command(case, "note", {"text": "好了"}).status_code == 200  # and it recovers by itself


def test_a_problem_reads_in_chinese_by_default_and_in_english_when_asked(api: Api) -> None:
    case = s.deliberating(api.app)
    chinese = api.command(case, "discuss", {"step": "members_assembly"}).json()
    english = api.command(case, "discuss", {"step": "members_assembly"},
                          headers={"Accept-Language": "en"}).json()
    assert chinese["type"] == english["type"] == "/problems/step-out-of-order"
    assert (chinese["title"], chinese["detail"]) == (
        "议事步骤须按程序顺序进行，不得跳过。",
        f"案件 {case} 当前应进行步骤 党支部会提议（商议），而不是 党员大会审议")
    assert (english["title"], english["detail"]) == (
        "Deliberation steps happen in the template's order; none is skipped.",
        f"case {case} waits for step party branch proposal (discussion), not party members' assembly review")


def test_the_remembered_language_wins_over_accept_language(api: Api) -> None:
    api.client.cookies.set("minqing_lang", "en")
    try:
        response = api.get("/api/v1/nowhere", headers={"Accept-Language": "zh-CN"})
    finally:
        api.client.cookies.clear()
    assert (response.json()["title"], response.json()["detail"]) == ("Not found",
                                                                    "nothing is found at /api/v1/nowhere")


def test_an_invalid_body_says_so_in_chinese_and_keeps_the_paths_for_programs(api: Api) -> None:
    response = api.post("/api/v1/demands", {"channel": "phone", "cell_id": s.CELL})
    problem = response.json()
    assert (problem["type"], problem["title"]) == ("/problems/invalid-request", "请求内容有误")
    assert problem["detail"] == "以下内容填写有误：body.title"
    assert [e["path"] for e in problem["errors"]] == ["body.title"]


def test_a_time_in_a_problem_reads_in_the_deployment_zone(api: Api) -> None:
    case = s.raised(api.app)
    later = s.ago(days=-1)
    response = api.command(case, "note", {"text": "later", "occurred_at": later.isoformat()})
    assert response.json()["detail"].endswith(" 尚未到来")
    assert response.json()["detail"].startswith(f"{later.year}年")
