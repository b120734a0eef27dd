"""Who may call what, over HTTP: every role against every family of endpoints (DOMAIN.md, "Who uses it").

A role the table allows gets a 2xx, the case being in a state that allows the command; a role it
does not gets 403 /problems/not-authorised; a worker outside the cells of a case, household or visit
gets 404 /problems/not-found, as for one that does not exist, and one raising or registering in a cell
outside their own gets 403 /problems/outside-scope; a caller without a valid token gets 401. The
table's rows share one API per store (`module_api`), each row acting on cases, households and visits
of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx2
import pytest

from tests.e2e import support as s
from tests.e2e.support import Api

ROLE_OF = {s.WORKER: "worker", s.OUTSIDER: "worker", s.SUPERVISOR: "supervisor", s.REVIEWER: "reviewer",
           s.ADMIN: "admin"}
WORK = ("worker", "supervisor")
SUPERVISE = ("supervisor",)
EVERY_ROLE = ("worker", "supervisor", "reviewer", "admin")
CALLERS = [s.WORKER, s.OUTSIDER, s.SUPERVISOR, s.REVIEWER, s.ADMIN, s.NO_TOKEN, s.BAD_TOKEN]
CALLER_IDS = ["worker in scope", "worker out of scope", "supervisor", "reviewer", "admin", "no token",
              "bad token"]


NOT_FOUND = (404, "/problems/not-found")          # a case, household or visit outside one's cells
OUTSIDE_CELLS = (403, "/problems/outside-scope")  # a cell outside one's own, to raise or register in


@dataclass(frozen=True)
class Family:
    name: str
    permitted: tuple[str, ...]
    # what a caller outside the cells gets; None: not refused, but sees only their own cells
    outside: tuple[int, str] | None
    call: Callable[[Api, str], list[httpx2.Response]]


def command(name: str, state: Callable[..., object], body: dict[str, object],
            permitted: tuple[str, ...] = WORK) -> Family:
    def call(api: Api, who: str) -> list[httpx2.Response]:
        case = state(api.app)
        return [api.command(case, name, body, who)]  # type: ignore[arg-type]
    return Family(name, permitted, NOT_FOUND, call)


def raise_demand(api: Api, who: str) -> list[httpx2.Response]:
    return [api.post("/api/v1/demands", {"channel": "phone", "title": "井盖丢失 Manhole cover missing",
                                         "cell_id": s.CELL}, who)]


def read_case(api: Api, who: str) -> list[httpx2.Response]:
    case = s.triaged(api.app)
    return [api.get(f"/api/v1/demands/{case}{part}", who) for part in ("", "/history", "/trace")]


def search(api: Api, who: str) -> list[httpx2.Response]:
    s.raised(api.app)
    return [api.get("/api/v1/demands", who, after=api.head())]


def views(api: Api, who: str) -> list[httpx2.Response]:
    s.resolved(api.app)
    return [api.get(f"/api/v1/views/{view}", who, after=api.head())
            for view in ("response-times", "satisfaction", "unresolved", "visit-coverage")]


def register_household(api: Api, who: str) -> list[httpx2.Response]:
    body = {"cell_id": s.CELL, "address": "东村一组9号", "categories": ["hardship"]}
    return [api.post("/api/v1/households", body, who)]


def recategorise_household(api: Api, who: str) -> list[httpx2.Response]:
    home = s.household(api.app)
    return [api.post(f"/api/v1/households/{home}/categories", {"categories": ["elderly_alone"]}, who)]


def schedule_visit(api: Api, who: str) -> list[httpx2.Response]:
    home = s.household(api.app)
    due = (s.ago(days=-7)).isoformat()
    return [api.post(f"/api/v1/households/{home}/visits", {"visitor": s.WORKER, "purpose": "routine",
                                                           "due_at": due}, who)]


def conduct_visit(api: Api, who: str) -> list[httpx2.Response]:
    return [api.post(f"/api/v1/visits/{s.scheduled_visit(api.app)}/conduct", {"mode": "in_home"}, who)]


def miss_visit(api: Api, who: str) -> list[httpx2.Response]:
    return [api.post(f"/api/v1/visits/{s.scheduled_visit(api.app)}/miss", {"reason": "nobody home"}, who)]


def read_household_and_visit(api: Api, who: str) -> list[httpx2.Response]:
    visit = s.scheduled_visit(api.app)
    home = api.app.visit(visit).household_id
    return [api.get(f"/api/v1/households/{home}", who), api.get(f"/api/v1/visits/{visit}", who)]


def list_households(api: Api, who: str) -> list[httpx2.Response]:
    s.household(api.app)
    return [api.get("/api/v1/households", who, after=api.head())]


def verify(api: Api, who: str) -> list[httpx2.Response]:
    s.raised(api.app)
    return [api.get("/api/v1/audit/verify", who)]


FAMILIES = [
    Family("raise demand", WORK, OUTSIDE_CELLS, raise_demand),
    command("triage", s.raised, {"category": "repairs"}),
    command("assign", s.triaged, {"assignee": s.WORKER}),
    command("escalate", s.triaged, {"to_cell_id": "qingshui.dongcun", "reason": "需要村里协调"}),
    command("discuss", s.deliberating, {"step": "branch_proposal", "attendees": ["党支部"]}),
    command("vote", s.awaiting_vote, s.ADOPTING_VOTE),
    command("publicize", s.awaiting_resolution_notice, {"kind": "resolution", "text": "决议 安装路灯"}),
    command("object", s.notice_up, {"notice_id": "resolution-1-1", "text": "位置不合理"}),
    command("answer-objection", s.objection_lodged, {"objection_id": "objection-1", "answer": "已调整"},
            SUPERVISE),
    command("progress", s.triaged, {"percent": 40, "summary": "材料已到"}),
    command("resolve", s.triaged, {"summary": "灯已修好"}),
    command("close", s.triaged, {"outcome": "withdrawn", "explanation": "居民撤回"}),
    command("feedback", s.resolved, {"rating": "satisfied"}),
    command("reopen", s.resolved, {"reason": "回访复查 灯又坏了"}, SUPERVISE),
    command("flag", s.overdue, {"responsible": "东村村委会", "finding": "首次响应超时"}, SUPERVISE),
    command("note", s.raised, {"text": "已电话联系居民"}),
    Family("read demand, history and trace", EVERY_ROLE, NOT_FOUND, read_case),
    Family("search", EVERY_ROLE, None, search),
    Family("views", EVERY_ROLE, None, views),
    Family("register household", WORK, OUTSIDE_CELLS, register_household),
    Family("recategorise household", WORK, NOT_FOUND, recategorise_household),
    Family("schedule visit", WORK, NOT_FOUND, schedule_visit),
    Family("conduct visit", WORK, NOT_FOUND, conduct_visit),
    Family("miss visit", WORK, NOT_FOUND, miss_visit),
    Family("read household and visit", EVERY_ROLE, NOT_FOUND, read_household_and_visit),
    Family("list households", EVERY_ROLE, None, list_households),
    Family("audit verify", ("reviewer", "supervisor", "admin"), None, verify),
]


def expected(family: Family, who: str) -> tuple[int, str | None]:
    """(status, problem type) the table gives; status 200 stands for any 2xx."""
    if who in (s.NO_TOKEN, s.BAD_TOKEN):
        return 401, "/problems/unknown-actor"
    if ROLE_OF[who] not in family.permitted:
        return 403, "/problems/not-authorised"
    if who == s.OUTSIDER and family.outside is not None:
        return family.outside
    return 200, None


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_each_role_is_allowed_or_refused_each_family_of_endpoints_as_the_role_table_says(
        module_api: Api, family: Family, who: str) -> None:
    status, problem = expected(family, who)
    for response in family.call(module_api, who):
        if problem is None:
            assert 200 <= response.status_code < 300, (response.request.url, response.text)
        else:
            assert (response.status_code, s.problem_type(response)) == (status, problem), response.text


def test_a_worker_searching_sees_only_the_cases_in_their_cells(api: Api) -> None:
    mine = s.raised(api.app)
    theirs = s.raised(api.app, actor=s.OUTSIDER, cell_id="qingshui.xicun.g1")
    listed = {role: {item["id"] for item in api.get("/api/v1/demands", who, after=api.head()).json()["items"]}
              for role, who in (("worker", s.WORKER), ("outsider", s.OUTSIDER), ("supervisor", s.SUPERVISOR))}
    assert listed == {"worker": {str(mine)}, "outsider": {str(theirs)},
                      "supervisor": {str(mine), str(theirs)}}


def test_a_request_without_a_token_is_asked_for_a_bearer_token(api: Api) -> None:
    response = api.get("/api/v1/demands", s.NO_TOKEN)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_is_refused(api: Api) -> None:
    token = api.tokens[s.WORKER]
    username, token_id = token.rsplit(".", 2)[:2]
    api.app.revoke_token(actor="system", username=username, token_id=token_id)
    response = api.get("/api/v1/demands", s.WORKER)
    assert (response.status_code, s.problem_type(response)) == (401, "/problems/unknown-actor")



def test_an_expired_token_is_refused(start_api: Callable[..., Api]) -> None:
    api = start_api(token_days=0)  # every token expires as it is issued
    response = api.get("/api/v1/demands", s.WORKER, headers={"Accept-Language": "en"})
    assert (response.status_code, s.problem_type(response)) == (401, "/problems/unknown-actor")
    assert "expired" in response.json()["detail"]
