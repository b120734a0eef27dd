"""History, state as of a time, the accountability trace, chain verification, and masking."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from api import auth
from domain.application import SYSTEM
from tests.e2e import support as s
from tests.e2e.support import Api
from tests.integration.test_tamper import StoredRows

VILLAGE_REVIEWER = "ma.reviewer"       # reviewer over 东村 qingshui.dongcun only
ELSEWHERE = "qingshui.xicun.g1"        # a villager group of 西村


def flagged_case(api: Api, assignee: str = s.WORKER):
    """Raised three days ago, triaged, escalated, missed deadline recorded, assigned, flagged."""
    case = s.raised(api.app, occurred_at=s.ago(days=3))
    api.app.record_missed_deadlines(case)
    api.app.triage(case, actor=s.WORKER, category="repairs")
    api.app.assign(case, actor=s.WORKER, assignee=assignee)
    api.app.flag(case, actor=s.SUPERVISOR, responsible="东村村委会", finding="首次响应超时")
    return case


def test_the_history_lists_every_event_with_who_when_what_and_its_hash(api: Api) -> None:
    case = s.raised(api.app, occurred_at=s.ago(days=2))  # raised before the meeting the note records
    api.app.triage(case, actor=s.WORKER, category="repairs")
    met = s.ago(days=1).replace(microsecond=0)
    api.command(case, "note", {"text": "已上门查看", "occurred_at": met.isoformat()}, s.SUPERVISOR)
    history = api.get(f"/api/v1/demands/{case}/history").json()
    assert [(e["version"], e["type"], e["actor"]) for e in history] == [
        (1, "Raised", s.WORKER), (2, "Triaged", s.WORKER), (3, "NoteAdded", s.SUPERVISOR)]
    assert all(set(e) == {"version", "type", "actor", "recorded_at", "occurred_at", "data", "hash"}
               for e in history)
    assert datetime.fromisoformat(history[2]["occurred_at"]) == met
    assert datetime.fromisoformat(history[2]["recorded_at"]) > met + timedelta(hours=23)
    assert history[2]["data"] == {"text": "已上门查看"}
    assert history[0]["data"]["title"] == "东村一组路灯不亮 Street lights out"
    assert len({e["hash"] for e in history}) == 3
    assert history[-1]["hash"] == api.app.history(case)[-1].chain


def raised_then_triaged_and_assigned_late(api: Api) -> tuple[UUID, list[datetime]]:
    """Raised three days ago, triaged two days ago (both recorded now), and an assignment made a day ago
    recorded now: the occurred times are the past's, the recorded ones the present's."""
    occurred = [s.ago(days=3).replace(microsecond=0), s.ago(days=2).replace(microsecond=0),
                s.ago(days=1).replace(microsecond=0)]
    case = s.raised(api.app, occurred_at=occurred[0])
    api.app.triage(case, actor=s.WORKER, category="repairs", occurred_at=occurred[1])
    api.app.assign(case, actor=s.WORKER, assignee=s.WORKER, occurred_at=occurred[2])
    return case, occurred


def test_the_state_as_of_a_time_is_every_fact_that_had_happened_by_then(api: Api) -> None:
    case, occurred = raised_then_triaged_and_assigned_late(api)
    then = api.get(f"/api/v1/demands/{case}", as_of=(occurred[1] + timedelta(hours=1)).isoformat())
    assert then.status_code == 200
    body = then.json()
    assert (body["version"], body["status"], body["assignee"]) == (2, "in_progress", None)
    assert datetime.fromisoformat(body["as_of"]) == occurred[1] + timedelta(hours=1)
    assert body["known_at"] is None and body["left_out"] == []
    assert "allowed_actions" not in body                     # no action is taken on the past
    listed = api.get(f"/api/v1/demands/{case}/history", as_of=occurred[1].isoformat()).json()
    assert [e["type"] for e in listed] == ["Raised", "Triaged"]


def test_the_state_as_known_at_a_time_is_what_had_been_recorded_by_then(api: Api) -> None:
    case, occurred = raised_then_triaged_and_assigned_late(api)
    recorded = [e.recorded_at for e in api.app.history(case)]
    known = api.get(f"/api/v1/demands/{case}", known_at=recorded[1].isoformat()).json()
    assert (known["version"], known["status"], known["assignee"]) == (2, "in_progress", None)
    both = api.get(f"/api/v1/demands/{case}", as_of=occurred[0].isoformat(),
                   known_at=recorded[2].isoformat()).json()
    assert (both["version"], both["status"]) == (1, "raised")
    listed = api.get(f"/api/v1/demands/{case}/history", known_at=recorded[0].isoformat()).json()
    assert [e["type"] for e in listed] == ["Raised"]


def test_a_fact_recorded_after_a_later_one_is_listed_but_left_out_of_the_state(api: Api) -> None:
    case, occurred = raised_then_triaged_and_assigned_late(api)
    visited = occurred[0] + timedelta(hours=3)               # before the triage, entered after it
    api.app.add_note(case, actor=s.WORKER, text="上门查看", occurred_at=visited)
    at = (visited + timedelta(hours=1)).isoformat()
    body = api.get(f"/api/v1/demands/{case}", as_of=at).json()
    assert (body["version"], body["status"]) == (1, "raised")
    assert [(e["version"], e["type"]) for e in body["left_out"]] == [(4, "NoteAdded")]
    listed = api.get(f"/api/v1/demands/{case}/history", as_of=at).json()
    assert [(e["version"], e["type"]) for e in listed] == [(1, "Raised"), (4, "NoteAdded")]


def test_before_the_case_existed_or_was_recorded_the_answer_says_so_unlike_an_unknown_id(api: Api) -> None:
    case, occurred = raised_then_triaged_and_assigned_late(api)
    before = (occurred[0] - timedelta(seconds=1)).isoformat()
    unrecorded = (api.app.history(case)[0].recorded_at - timedelta(seconds=1)).isoformat()
    for path in (f"/api/v1/demands/{case}", f"/api/v1/demands/{case}/history"):
        happened = api.get(path, as_of=before)
        assert (happened.status_code, s.problem_type(happened)) == (404, "/problems/not-yet-existing")
        assert "尚未发生任何事项" in happened.json()["detail"]
        recorded = api.get(path, known_at=unrecorded)
        assert (recorded.status_code, s.problem_type(recorded)) == (404, "/problems/not-yet-recorded")
        assert "尚无" in recorded.json()["detail"] and "任何记录" in recorded.json()["detail"]
    english = api.get(f"/api/v1/demands/{case}", as_of=before, headers={"Accept-Language": "en"})
    assert "had happened yet" in english.json()["detail"]
    unknown = api.get(f"/api/v1/demands/{uuid4()}", as_of=before)
    assert (unknown.status_code, s.problem_type(unknown)) == (404, "/problems/not-found")


def test_an_as_of_or_known_at_time_must_be_an_iso_time_with_a_zone(api: Api) -> None:
    case = s.raised(api.app)
    for name in ("as_of", "known_at"):
        for value in ("yesterday", "2026-03-01T10:00:00", "2026-02-30T10:00:00+08:00"):
            for path in (f"/api/v1/demands/{case}", f"/api/v1/demands/{case}/history"):
                response = api.get(path, **{name: value})
                assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-input")
                assert value in response.json()["detail"] and "时区" in response.json()["detail"]
                assert [e["path"] for e in response.json()["errors"]] == [f"query.{name}"]
    english = api.get(f"/api/v1/demands/{case}", as_of="yesterday", headers={"Accept-Language": "en"})
    assert "is not an ISO date and time with its time zone" in english.json()["detail"]


def test_the_trace_says_who_held_the_case_what_was_missed_and_who_flagged_it(api: Api) -> None:
    api.app.open_account(actor=SYSTEM, username="li.worker", display_name="李娜")
    api.app.grant_role(actor=SYSTEM, username="li.worker", role="worker", cell_id="qingshui.dongcun")
    case = flagged_case(api, assignee="li.worker")
    trace = api.get(f"/api/v1/demands/{case}/trace", s.REVIEWER).json()
    assert trace["id"] == str(case)
    assert [(p["kind"], p["holder"], p["to"] is None) for p in trace["periods"]] == [
        ("responsible_cell", s.CELL, False), ("step", "raised", False),
        ("responsible_cell", "qingshui.dongcun", True),    # triage keeps the escalation
        ("step", "in_progress", True), ("assignee", "li.worker", True)]  # the step the case itself says
    assert [p["holder_name"] for p in trace["periods"]] == ["东村一组", "已登记", "东村", "办理中", "李娜"]
    raised = trace["periods"][0]
    assert raised["duration"] == {"days": 3, "hours": 0} and raised["hours"] == 72.0
    assert [m["deadline"] for m in trace["deadlines_missed"]] == ["first_response"]
    assert [(x["from"], x["to"], x["automatic"]) for x in trace["escalations"]] == [
        (s.CELL, "qingshui.dongcun", True)]
    assert [(x["from_name"], x["to_name"], x["by_name"]) for x in trace["escalations"]] == [
        ("东村一组", "东村", "系统")]
    flags = trace["accountability_flags"]
    assert [(f["by"], f["responsible"]) for f in flags] == [(s.SUPERVISOR, "东村村委会")]


def test_the_trace_as_csv_has_a_row_per_period_missed_deadline_escalation_and_flag(api: Api) -> None:
    case = flagged_case(api)
    response = api.get(f"/api/v1/demands/{case}/trace", s.REVIEWER, format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["事项", "责任人或内容", "起", "止", "历时", "小时", "说明"]
    kinds = ["责任网格", "所处步骤", "责任网格", "所处步骤", "承办人", "超期", "上报", "问责标记"]
    assert sorted(r["事项"] for r in rows) == sorted(kinds)
    first = [(r["事项"], r["责任人或内容"], r["历时"]) for r in rows[:2]]
    assert first == [("责任网格", "东村一组", "3天0小时"), ("所处步骤", "已登记", "3天0小时")]


def test_an_admin_verifies_every_chain_in_the_store(api: Api) -> None:
    flagged_case(api)
    result = api.get("/api/v1/audit/verify", s.ADMIN).json()
    assert result["intact"] is True
    assert result["breaks"] == []
    assert result["aggregates"] == 1 + 6          # the case and the six staff accounts
    assert result["events"] == api.head()
    assert result["scope"] == "everything"


@pytest.fixture
def two_villages(api: Api) -> dict[str, UUID]:
    """In 东村 a case, a household and its visit; in 西村 the same; and a reviewer of 东村 alone."""
    api.app.open_account(actor=SYSTEM, username=VILLAGE_REVIEWER)
    api.app.grant_role(actor=SYSTEM, username=VILLAGE_REVIEWER, role="reviewer", cell_id="qingshui.dongcun")
    api.tokens[VILLAGE_REVIEWER] = auth.issue_token(api.app, actor=SYSTEM, username=VILLAGE_REVIEWER)[1]
    found = {"case": s.triaged(api.app), "visit": s.scheduled_visit(api.app),
             "elsewhere_case": s.raised(api.app, actor=s.OUTSIDER, cell_id=ELSEWHERE)}
    found["household"] = api.app.visit(found["visit"]).household_id
    elsewhere_home = api.app.register_household(actor=s.OUTSIDER, cell_id=ELSEWHERE, address="西村一组2号",
                                                categories=["hardship"]).id
    found["elsewhere_visit"] = api.app.schedule_visit(elsewhere_home, actor=s.OUTSIDER, visitor=s.OUTSIDER,
                                                      purpose="routine", due_at=s.ago(days=-3)).id
    return found


def test_a_village_reviewer_verifies_the_cases_households_and_visits_of_the_village_only(
        api: Api, two_villages: dict[str, UUID]) -> None:
    result = api.get("/api/v1/audit/verify", VILLAGE_REVIEWER, after=api.head()).json()
    in_village = [two_villages[name] for name in ("case", "household", "visit")]
    assert (result["intact"], result["aggregates"]) == (True, 3)
    assert result["events"] == sum(len(api.app.history(aggregate)) for aggregate in in_village)
    assert result["scope"] == sorted(api.app.deployment.subtree("qingshui.dongcun"))


def test_a_village_reviewers_verify_detects_a_tampered_event_in_the_village(
        api: Api, two_villages: dict[str, UUID], database_url: str) -> None:
    rows, case = StoredRows(database_url), two_villages["case"]
    rows.set_state(case, 2, rows.state(case, 2).replace(b"repairs", b"welfare"))
    result = api.get("/api/v1/audit/verify", VILLAGE_REVIEWER, after=api.head()).json()
    assert result["intact"] is False
    assert [(b["aggregate_id"], b["version"]) for b in result["breaks"]] == [(str(case), 2)]


def test_a_tampered_visit_in_the_village_is_detected_too(
        api: Api, two_villages: dict[str, UUID], database_url: str) -> None:
    rows, visit = StoredRows(database_url), two_villages["visit"]
    rows.set_state(visit, 1, rows.state(visit, 1).replace(b"welfare_call", b"routine"))
    result = api.get("/api/v1/audit/verify", VILLAGE_REVIEWER, after=api.head()).json()
    assert [(b["aggregate_id"], b["version"]) for b in result["breaks"]] == [(str(visit), 1)]


def test_a_case_whose_events_were_all_deleted_is_reported_by_a_scoped_verify(
        api: Api, two_villages: dict[str, UUID], database_url: str) -> None:
    rows, case = StoredRows(database_url), two_villages["case"]
    api.runtime.wait_for_views(api.head())
    for version in (1, 2):
        rows.delete(case, version)
    result = api.get("/api/v1/audit/verify", VILLAGE_REVIEWER).json()
    assert [(b["aggregate_id"], b["version"]) for b in result["breaks"]] == [(str(case), 1)]


def test_tampering_in_another_village_is_not_the_village_reviewers_to_see(
        api: Api, two_villages: dict[str, UUID], database_url: str) -> None:
    rows, case = StoredRows(database_url), two_villages["elsewhere_case"]
    rows.set_state(case, 1, rows.state(case, 1).replace(b"reception_day", b"phone"))
    mine = api.get("/api/v1/audit/verify", VILLAGE_REVIEWER, after=api.head()).json()
    everything = api.get("/api/v1/audit/verify", s.ADMIN).json()
    assert (mine["intact"], everything["intact"]) == (True, False)


def test_a_verify_while_another_runs_in_the_process_is_a_503_with_retry_after(api: Api) -> None:
    with api.runtime.verifying:     # a verify in progress holds it
        response = api.get("/api/v1/audit/verify", s.ADMIN)
    assert (response.status_code, response.headers["content-type"], s.problem_type(response)) == (
        503, s.PROBLEM, "/problems/verify-in-progress")
    assert response.headers["retry-after"] == "2"
    assert api.get("/api/v1/audit/verify", s.ADMIN).status_code == 200     # and the next may run


def test_reviewers_see_the_residents_name_and_phone_masked(api: Api) -> None:
    case = s.raised(api.app)
    state = api.get(f"/api/v1/demands/{case}", s.REVIEWER).json()
    raised = api.get(f"/api/v1/demands/{case}/history", s.REVIEWER).json()[0]["data"]
    assert (state["resident_name"], state["resident_phone"]) == ("李**", "*******5678")
    assert (raised["resident_name"], raised["resident_phone"]) == ("李**", "*******5678")
    as_of = api.get(f"/api/v1/demands/{case}", s.REVIEWER, as_of=s.ago().isoformat()).json()
    assert (as_of["resident_name"], as_of["resident_phone"]) == ("李**", "*******5678")


def test_reviewers_see_phone_and_id_numbers_written_into_free_text_masked(api: Api) -> None:
    case = s.raised(api.app, title="回电 13912345678",
                    description="身份证 11010519491231002X，电话13912345678")
    api.app.triage(case, actor=s.WORKER, category="repairs")
    api.app.add_note(case, actor=s.WORKER, text="住户说晚上打 13912345678")
    state = api.get(f"/api/v1/demands/{case}", s.REVIEWER).json()
    history = api.get(f"/api/v1/demands/{case}/history", s.REVIEWER).json()
    listed = api.get("/api/v1/demands", s.REVIEWER, after=api.head()).json()["items"]
    assert (state["title"], state["description"]) == ("回电 *******5678",
                                                      "身份证 **************002X，电话*******5678")
    assert history[0]["data"]["description"] == state["description"]
    assert history[-1]["data"]["text"] == "住户说晚上打 *******5678"
    assert [item["title"] for item in listed if item["id"] == str(case)] == ["回电 *******5678"]
    worked = api.get(f"/api/v1/demands/{case}", s.WORKER).json()
    assert worked["description"] == "身份证 11010519491231002X，电话13912345678"


def test_workers_in_scope_see_the_residents_name_and_phone(api: Api) -> None:
    case = s.raised(api.app)
    state = api.get(f"/api/v1/demands/{case}", s.WORKER).json()
    raised = api.get(f"/api/v1/demands/{case}/history", s.WORKER).json()[0]["data"]
    assert (state["resident_name"], state["resident_phone"]) == (s.RESIDENT_NAME, s.RESIDENT_PHONE)
    assert (raised["resident_name"], raised["resident_phone"]) == (s.RESIDENT_NAME, s.RESIDENT_PHONE)


def test_reviewers_see_a_households_head_and_phone_masked(api: Api) -> None:
    home = s.household(api.app)
    reviewed = api.get(f"/api/v1/households/{home}", s.REVIEWER).json()
    visited = api.get(f"/api/v1/households/{home}", s.WORKER).json()
    assert (reviewed["head_name"], reviewed["phone"]) == ("李**", "*******5678")
    assert (visited["head_name"], visited["phone"]) == (s.RESIDENT_NAME, s.RESIDENT_PHONE)


def test_a_case_says_which_actions_the_caller_may_take_next(api: Api) -> None:
    case = s.resolved(api.app)
    allowed = {who: api.get(f"/api/v1/demands/{case}", who).json()["allowed_actions"]
               for who in (s.WORKER, s.SUPERVISOR, s.REVIEWER)}
    assert allowed == {s.WORKER: ["feedback"], s.SUPERVISOR: ["feedback", "reopen"], s.REVIEWER: []}


def test_a_case_gives_the_choices_that_make_each_next_action_succeed(api: Api) -> None:
    case = s.objection_lodged(api.app)
    state = api.get(f"/api/v1/demands/{case}", s.SUPERVISOR).json()
    offered = {action["name"]: action["choices"] for action in state["next_actions"]}
    assert list(offered) == state["allowed_actions"]
    assert offered["object"] == {"notice_id": ["resolution-1-1"]}
    assert offered["answer_objection"] == {"objection_id": ["objection-1"]}
    assert offered["close"] == {"outcome": ["not_resolvable", "withdrawn", "merged"]}
    assert offered["escalate"] == {"to_cell_id": ["qingshui.dongcun", "qingshui"]}
    assert "resolve" not in offered    # the resolution notice is still up, its objection unanswered
