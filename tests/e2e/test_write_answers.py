"""What a write answers over HTTP: the new version, where the case stands and what the command produced (a
vote's outcome and counts, a notice and when it ends, a receipt code, a closing and its feedback window…),
each fact equal to what a following GET shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx2
import orjson
import pytest

from api.rest.written import CaseFlagged
from api.rest.written import answer as answer_of
from domain.application import Minqing
from tests.e2e import support as s
from tests.e2e.support import Api

# The answers of the writes on a case carry these facts of its state, named as its state names them.
CASE_FACTS = {"id", "version", "position", "status", "current_step", "outcome"}
NOTICE = "resolution-1-1"


def state(api: Api, case: UUID | str, who: str = s.WORKER) -> dict[str, Any]:
    response = api.get(f"/api/v1/demands/{case}", who)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert response.headers["etag"] == f'"{found["version"]}"'
    return found


def last_event(api: Api, case: UUID | str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = api.get(f"/api/v1/demands/{case}/history").json()
    return entries[-1]


def shown_alike(answer: dict[str, Any], shown: dict[str, Any]) -> None:
    """Every fact the answer shares with the state a GET shows is the same there."""
    common = answer.keys() & shown.keys()
    assert {k: answer[k] for k in common} == {k: shown[k] for k in common}


def moment(text: str) -> datetime:
    """A time as the API writes it: `…+00:00` in what it builds itself, `…Z` where pydantic writes it."""
    return datetime.fromisoformat(text)


def answered(response: httpx2.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def resolved_dissatisfied(app: Minqing) -> UUID:
    case = s.resolved(app)
    app.give_feedback(case, actor=s.WORKER, rating="dissatisfied")
    return case


@dataclass(frozen=True)
class Case:
    command: str
    state: Callable[[Minqing], UUID]
    body: dict[str, Any]
    who: str
    produced: set[str]      # the facts it answers besides those of every write on a case

    def __str__(self) -> str:
        return f"{self.command}:{self.body.get('outcome', '')}"


CASES = [
    Case("triage", s.raised, {"category": "public_works"}, s.WORKER,
         {"round", "deadlines", "category", "track", "template", "responsible_cell_id"}),
    Case("assign", s.triaged, {"assignee": s.WORKER}, s.WORKER, {"assignee"}),
    Case("escalate", s.triaged, {"to_cell_id": "qingshui", "reason": "需要镇里协调"}, s.WORKER,
         {"escalation", "responsible_cell_id"}),
    Case("discuss", s.deliberating, {"step": "branch_proposal"}, s.WORKER, {"round", "deadlines", "meeting"}),
    Case("publicize", s.awaiting_resolution_notice, {"kind": "resolution", "text": "决议 安装路灯12盏"},
         s.WORKER, {"round", "deadlines", "notice"}),
    Case("object", s.notice_up, {"notice_id": NOTICE, "text": "路灯位置不合理"}, s.WORKER, {"objection"}),
    Case("answer-objection", s.objection_lodged, {"objection_id": "objection-1", "answer": "已调整位置"},
         s.SUPERVISOR, {"objection"}),
    Case("progress", s.triaged, {"percent": 40, "summary": "材料已到"}, s.WORKER, {"percent"}),
    Case("resolve", s.triaged, {"summary": "灯已修好 Lights repaired"}, s.WORKER,
         {"feedback_state", "feedback_due", "rating", "merged_into"}),
    Case("close", s.triaged, {"outcome": "not_resolvable", "explanation": "资金不足"}, s.SUPERVISOR,
         {"feedback_state", "feedback_due", "rating", "merged_into"}),
    Case("close", s.raised, {"outcome": "withdrawn"}, s.WORKER,
         {"feedback_state", "feedback_due", "rating", "merged_into"}),
    Case("feedback", s.resolved, {"rating": "basically_satisfied"}, s.WORKER,
         {"feedback_state", "feedback_due", "rating"}),
    Case("reopen", resolved_dissatisfied, {"reason": "居民反映仍未修好"}, s.SUPERVISOR,
         {"round", "deadlines", "reopen_count"}),
    Case("flag", s.overdue, {"responsible": "东村网格员", "finding": "逾期未处理"}, s.SUPERVISOR, {"flag"}),
    Case("note", s.raised, {"text": "已电话联系居民"}, s.WORKER, set()),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_command_answers_what_it_left_as_the_case_shows_it_then(module_api: Api, case: Case) -> None:
    demand = case.state(module_api.app)
    before = state(module_api, demand)["version"]
    answer = answered(module_api.command(demand, case.command, case.body, case.who))
    assert set(answer) == CASE_FACTS | case.produced
    assert (answer["id"], answer["version"]) == (str(demand), before + 1)
    shown_alike(answer, state(module_api, demand, case.who))


def test_a_raised_demand_answers_its_receipt_code_and_first_deadline(module_api: Api) -> None:
    body = {"channel": "phone", "title": "井盖丢失 Manhole cover missing", "cell_id": s.CELL,
            "resident_name": s.RESIDENT_NAME, "resident_phone": s.RESIDENT_PHONE}
    response = module_api.post("/api/v1/demands", body)
    answer = answered(response, 201)
    assert response.headers["location"] == f"/api/v1/demands/{answer['id']}"
    assert (answer["version"], answer["status"], answer["current_step"]) == (1, "raised", "raised")
    assert len(answer["receipt"]) == 10 and set(answer["deadlines"]) == {"first_response"}
    shown_alike(answer, state(module_api, answer["id"]))
    assert s.RESIDENT_NAME not in response.text and s.RESIDENT_PHONE not in response.text  # not echoed
    followed = module_api.get(f"/api/v1/public/demands/{answer['receipt']}", s.NO_TOKEN)
    assert followed.json()["receipt"] == answer["receipt"]


VOTES = {
    "adopted": s.ADOPTING_VOTE,
    "rejected": s.ADOPTING_VOTE | {"in_favour": 10, "against": 12},
    "invalid": s.ADOPTING_VOTE | {"present": 19, "in_favour": 15, "against": 2},  # under two thirds present
}


@pytest.mark.parametrize("outcome", VOTES)
def test_a_vote_answers_its_outcome_and_counts_as_recorded(module_api: Api, outcome: str) -> None:
    case = s.awaiting_vote(module_api.app)
    answer = answered(module_api.command(case, "vote", VOTES[outcome]))
    assert answer["vote"]["outcome"] == outcome
    assert answer["vote"] | VOTES[outcome] == answer["vote"]  # the counts as given
    recorded = last_event(module_api, case)
    assert recorded["type"] == "Voted"
    assert answer["vote"] == {k: recorded["data"][k] for k in answer["vote"]}
    shown_alike(answer, state(module_api, case))


def test_an_inquorate_vote_leaves_the_case_at_the_step_it_waits_for(module_api: Api) -> None:
    case = s.awaiting_vote(module_api.app)
    waiting = state(module_api, case)
    answer = answered(module_api.command(case, "vote", VOTES["invalid"]))
    assert (answer["current_step"], answer["deadlines"]) == (waiting["current_step"], waiting["deadlines"])


def test_a_meeting_answers_its_step_and_outcome_as_recorded(module_api: Api) -> None:
    case = s.deliberating(module_api.app)
    answer = answered(module_api.command(case, "discuss", {"step": "branch_proposal"}))
    assert answer["meeting"] == {"step": "branch_proposal", "round": 1, "outcome": "endorsed"}
    assert answer["meeting"] == {k: last_event(module_api, case)["data"][k] for k in answer["meeting"]}
    assert answer["current_step"] == "two_committees" == state(module_api, case)["current_step"]


def test_a_notice_answers_its_id_and_end_as_the_case_and_the_board_show_them(module_api: Api) -> None:
    case = s.awaiting_resolution_notice(module_api.app)
    answer = answered(module_api.command(case, "publicize", {"kind": "resolution", "text": "决议 安装路灯",
                                                             "channels": ["notice_board", "sms"]}))
    notice = answer["notice"]
    shown = state(module_api, case)["notices"][notice["notice_id"]]
    assert {k: notice[k] for k in shown} == shown
    assert notice["channels"] == ["notice_board", "sms"]
    module_api.runtime.wait_for_views(answer["position"], ["notice_board"])
    board = module_api.get("/api/v1/notices", s.NO_TOKEN).json()["items"]
    posted = [item for item in board
              if (item["case_id"], item["notice_id"]) == (str(case), notice["notice_id"])]
    assert [moment(item["ends_at"]) for item in posted] == [moment(notice["ends_at"])]


def test_an_objection_answers_its_receipt_as_recorded(module_api: Api) -> None:
    case = s.notice_up(module_api.app)
    answer = answered(module_api.command(case, "object", {"notice_id": NOTICE, "text": "路灯位置不合理"}))
    objection = answer["objection"]
    assert objection["notice_id"] == NOTICE and not objection["answered"]
    assert objection["receipt"] == last_event(module_api, case)["data"]["receipt"]
    shown = state(module_api, case)["objections"][objection["objection_id"]]
    assert {k: objection[k] for k in shown} == shown


def test_closing_as_not_resolvable_answers_the_feedback_window_it_opened(module_api: Api) -> None:
    case = s.triaged(module_api.app)
    answer = answered(module_api.command(case, "close", {"outcome": "not_resolvable",
                                                         "explanation": "资金不足"}, s.SUPERVISOR))
    assert (answer["status"], answer["outcome"], answer["feedback_state"]) == (
        "closed", "not_resolvable", "asked")
    assert answer["feedback_due"] == state(module_api, case)["feedback_due"] is not None


def test_a_merged_case_answers_the_case_it_was_merged_into(module_api: Api) -> None:
    case, survivor = s.raised(module_api.app), s.raised(module_api.app)
    answer = answered(module_api.command(case, "close", {"outcome": "merged", "merged_into": str(survivor)}))
    assert (answer["outcome"], answer["merged_into"]) == ("merged", str(survivor))
    assert answer["feedback_due"] is None
    shown_alike(answer, state(module_api, case))


def test_a_write_answers_personal_data_only_as_its_caller_may_read_it(module_api: Api) -> None:
    finding = f"未回访居民 {s.RESIDENT_PHONE} Resident not called back"
    flag = {"responsible": "东村网格员", "finding": finding}
    supervised = answered(module_api.command(s.overdue(module_api.app), "flag", flag, s.SUPERVISOR))
    assert supervised["flag"]["finding"] == finding  # a supervisor reads phone numbers
    case = s.overdue(module_api.app)
    done = module_api.app.flag(case, actor=s.SUPERVISOR, **flag)
    as_masked = orjson.loads(answer_of(CaseFlagged.of(done), hide=True).body)
    assert as_masked["flag"] == state(module_api, case, s.REVIEWER)["flags"][-1]  # as a reviewer reads it
    assert s.RESIDENT_PHONE not in str(as_masked)


def test_a_retried_vote_answers_the_same_outcome_again(module_api: Api) -> None:
    case = s.awaiting_vote(module_api.app)
    key = {"Idempotency-Key": f"vote-{case}"}
    first = module_api.command(case, "vote", VOTES["rejected"], headers=key)
    again = module_api.command(case, "vote", VOTES["rejected"], headers=key)
    assert again.content == first.content
    assert answered(again)["vote"]["outcome"] == "rejected"
    assert [e.type for e in module_api.app.history(case)].count("Voted") == 1


# ---------------------------------------------------------------- households and visits
def test_registering_a_household_answers_its_categories_and_visiting_cadence(module_api: Api) -> None:
    home = {"cell_id": s.CELL, "address": "东村一组9号", "categories": ["elderly_alone"],
            "head_name": s.RESIDENT_NAME, "phone": s.RESIDENT_PHONE}
    response = module_api.post("/api/v1/households", home)
    answer = answered(response, 201)
    assert set(answer) == {"id", "version", "position", "cell_id", "categories", "cadence_days"}
    assert answer["cadence_days"] is not None
    assert s.RESIDENT_NAME not in response.text and s.RESIDENT_PHONE not in response.text
    shown_alike(answer, module_api.get(f"/api/v1/households/{answer['id']}").json())
    changed = answered(module_api.post(f"/api/v1/households/{answer['id']}/categories",
                                       {"categories": ["ordinary"]}))
    assert (changed["version"], changed["categories"]) == (2, ["ordinary"])
    shown_alike(changed, module_api.get(f"/api/v1/households/{answer['id']}").json())


@pytest.mark.parametrize(("path", "body", "status"), [
    ("conduct", {"mode": "in_home", "notes": "老人身体尚好"}, "conducted"),
    ("miss", {"reason": "家中无人"}, "missed"),
])
def test_a_visit_answers_where_it_stands(module_api: Api, path: str, body: dict[str, Any],
                                         status: str) -> None:
    home = s.household(module_api.app)
    scheduled = answered(module_api.post(f"/api/v1/households/{home}/visits",
                                         {"visitor": s.WORKER, "purpose": "welfare_call",
                                          "due_at": s.ago(days=-3).isoformat()}), 201)
    assert (scheduled["status"], scheduled["household_id"]) == ("scheduled", str(home))
    shown_alike(scheduled, module_api.get(f"/api/v1/visits/{scheduled['id']}").json())
    answer = answered(module_api.post(f"/api/v1/visits/{scheduled['id']}/{path}", body))
    assert (answer["version"], answer["status"]) == (2, status)
    shown_alike(answer, module_api.get(f"/api/v1/visits/{scheduled['id']}").json())


# ---------------------------------------------------------------- residents
PUBLIC_DEMAND = {"title": "路灯不亮 Street light out", "cell_id": s.CELL, "resident_name": s.RESIDENT_NAME,
                 "resident_phone": s.RESIDENT_PHONE}


def no_personal_data(response: httpx2.Response) -> bool:
    return s.RESIDENT_NAME not in response.text and s.RESIDENT_PHONE not in response.text


def test_a_resident_raising_a_demand_gets_where_it_stands_as_following_it_shows(module_api: Api) -> None:
    response = module_api.post("/api/v1/public/demands", PUBLIC_DEMAND, s.NO_TOKEN)
    answer = answered(response, 201)
    assert no_personal_data(response) and "id" not in answer
    shown_alike(answer, module_api.get(f"/api/v1/public/demands/{answer['receipt']}", s.NO_TOKEN).json())


def test_a_residents_feedback_answers_the_rating_as_following_the_demand_shows_it(module_api: Api) -> None:
    case = s.resolved(module_api.app)
    receipt = module_api.app.demand(case).receipt
    response = module_api.post(f"/api/v1/public/demands/{receipt}/feedback", {"rating": "satisfied"},
                               s.NO_TOKEN)
    answer = answered(response)
    assert (answer["id"], answer["rating"], answer["feedback_state"]) == (str(case), "satisfied", "given")
    assert no_personal_data(response)
    shown_alike(answer, module_api.get(f"/api/v1/public/demands/{receipt}", s.NO_TOKEN).json())


def test_a_residents_objection_answers_its_receipt_and_the_notices_end(module_api: Api) -> None:
    case = s.notice_up(module_api.app)
    response = module_api.post(f"/api/v1/public/notices/{case}/{NOTICE}/objections",
                               {"text": "路灯位置不合理", "phone": "139 0000 1111"}, s.NO_TOKEN)
    answer = answered(response, 201)
    assert "13900001111" not in response.text and "139 0000 1111" not in response.text
    assert answer["notice_id"] == NOTICE
    shown = module_api.get(f"/api/v1/public/objections/{answer['receipt']}", s.NO_TOKEN).json()
    assert shown["receipt"] == answer["receipt"]
    assert [moment(answer[k]) for k in ("lodged_at", "notice_ends_at")] == [
        moment(shown[k]) for k in ("lodged_at", "notice_ends_at")]
    assert answer["notice_ends_at"] == state(module_api, case)["notices"][NOTICE]["ends_at"]
