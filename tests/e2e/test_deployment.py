"""What the pages need to know, over HTTP: the deployment, its grid tree, categories, templates, vote bodies
and vocabulary (readable without an account), and the staff directory (staff only)."""

from __future__ import annotations

import uuid
from typing import Any

from domain.application import SYSTEM
from tests.conftest import STAFF
from tests.e2e.support import ADMIN, NO_TOKEN, OUTSIDER, SUPERVISOR, WORKER, Api, problem_type

BASE = "/api/v1/deployment"


def flatten(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [found for cell in cells for found in (cell, *flatten(cell["children"]))]


def directory(api: Api, who: str, **params: Any) -> list[dict[str, Any]]:
    """The staff directory as `who` sees it, once the views hold every account opened so far."""
    response = api.get(f"{BASE}/staff", who, after=api.head(), **params)
    assert response.status_code == 200, response.text
    members: list[dict[str, Any]] = response.json()
    return members


def usernames(api: Api, who: str, **params: Any) -> list[str]:
    return [member["username"] for member in directory(api, who, **params)]


def test_the_deployment_names_itself_in_both_languages_and_links_to_the_rest(module_api: Api) -> None:
    response = module_api.get(BASE, NO_TOKEN)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["title"] == {"zh": "清水镇", "en": "Qingshui Township"}
    assert (found["timezone"], found["notice_days"], found["root_cell"]) == ("Asia/Shanghai", 7, "qingshui")
    for name, link in found["links"].items():
        assert module_api.get(link, SUPERVISOR).status_code == 200, name


def test_the_grid_is_a_tree_of_every_cell_with_its_names_and_level(module_api: Api) -> None:
    response = module_api.get(f"{BASE}/cells", NO_TOKEN)
    assert response.status_code == 200, response.text
    (township,) = response.json()
    assert (township["id"], township["title"]["zh"], township["parent"]) == ("qingshui", "清水镇", None)
    cells = {cell["id"]: cell for cell in flatten([township])}
    assert set(cells) == set(module_api.app.deployment.cells)
    dongcun = cells["qingshui.dongcun"]
    assert (dongcun["title"], dongcun["level"], dongcun["level_name"], dongcun["parent"]) == (
        {"zh": "东村", "en": "Dongcun Village"}, "village", {"zh": "行政村", "en": "village"}, "qingshui")
    assert [c["title"]["zh"] for c in dongcun["children"]] == ["东村一组", "东村二组", "东村三组"]
    assert all(child["parent"] == cell["id"] for cell in cells.values() for child in cell["children"])


def test_a_category_gives_its_names_track_template_and_deadlines(module_api: Api) -> None:
    response = module_api.get(f"{BASE}/categories", NO_TOKEN)
    assert response.status_code == 200, response.text
    categories = {c["key"]: c for c in response.json()}
    works, repairs = categories["public_works"], categories["repairs"]
    assert works["title"] == {"zh": "村级公共工程（重大事项）", "en": "Village public works (major matter)"}
    assert (works["track"], works["track_name"]["zh"], works["template"]) == (
        "deliberation", "民主议事（重大事项）", "four_deliberations_two_disclosures")
    assert works["deadlines"]["deliberation_total_days"] == 120
    assert (repairs["template"], repairs["deadlines"]["direct_resolution_days"]) == (None, 5)


def test_the_templates_give_their_steps_in_order_named_in_both_languages(module_api: Api) -> None:
    response = module_api.get(f"{BASE}/templates", NO_TOKEN)
    assert response.status_code == 200, response.text
    templates = {t["key"]: t for t in response.json()}
    four = templates["four_deliberations_two_disclosures"]
    assert four["title"]["zh"] == "四议两公开"
    assert [s["key"] for s in four["steps"]] == ["branch_proposal", "two_committees", "members_assembly",
                                                 "resolution_vote", "resolution_notice"]
    vote = four["steps"][3]
    assert (vote["kind"], vote["title"], vote["vote_bodies"]) == (
        "vote", {"zh": "村民代表会议或村民会议决议", "en": "villagers' resolution"},
        ["representatives", "assembly"])
    assert (four["steps"][1]["may_return"], four["steps"][4]["notice_kind"]) == (True, "resolution")
    assert four["result_notice"] == {"zh": "实施结果公开", "en": "result made public"}
    six = templates["six_step_deliberation"]
    assert (six["title"]["zh"], len(six["steps"]), six["result_notice"]) == ("六步议事", 6, None)


def test_each_vote_body_gives_its_statute_rule_in_words(module_api: Api) -> None:
    response = module_api.get(f"{BASE}/vote-bodies", NO_TOKEN)
    assert response.status_code == 200, response.text
    bodies = {b["key"]: b for b in response.json()}
    assert set(bodies) == {"representatives", "assembly", "residents_representatives"}
    representatives = bodies["representatives"]
    assert representatives["name"] == {"zh": "村民代表会议", "en": "villagers' representative meeting"}
    assert representatives["quorum"]["en"] == "two thirds of members or more present"
    assert bodies["residents_representatives"]["majority"]["zh"] == "到会人员三分之二以上同意"


def test_the_vocabulary_names_statuses_and_channels_in_both_languages(module_api: Api) -> None:
    response = module_api.get(f"{BASE}/vocabulary", NO_TOKEN)
    assert response.status_code == 200, response.text
    words = response.json()
    assert words["statuses"]["closed"] == {"zh": "已办结", "en": "closed"}
    assert words["channels"]["open311"] == {"zh": "第三方应用", "en": "third-party app (Open311)"}
    assert words["vote_outcomes"]["invalid"]["zh"] == "不足法定人数，表决无效"


def test_the_staff_directory_is_for_signed_in_staff_only(module_api: Api) -> None:
    response = module_api.get(f"{BASE}/staff", NO_TOKEN)
    assert response.status_code == 401 and problem_type(response) == "/problems/unknown-actor"


def test_a_worker_sees_the_staff_of_her_village_and_those_above_it_by_name(module_api: Api) -> None:
    seen = directory(module_api, WORKER)
    assert [m["username"] for m in seen if m["username"] in STAFF] == [
        "admin", "chen.supervisor", "sun.reviewer", "wang.worker"]
    supervisor = next(m for m in seen if m["username"] == SUPERVISOR)
    assert supervisor["grants"] == [{
        "role": "supervisor", "role_name": {"zh": "督办负责人", "en": "supervisor"},
        "cell_id": "qingshui", "cell": {"zh": "清水镇", "en": "Qingshui Township"}}]
    assert supervisor["active"] is True
    assert OUTSIDER not in usernames(module_api, WORKER)  # 西村's worker is in no cell of hers


def test_an_administrator_sees_every_account_even_one_without_a_role(module_api: Api) -> None:
    username = f"new.{uuid.uuid4().hex[:8]}"
    module_api.app.open_account(actor=SYSTEM, username=username, display_name="新同事")
    new = next(m for m in directory(module_api, ADMIN) if m["username"] == username)
    assert (new["display_name"], new["active"], new["grants"]) == ("新同事", False, [])
    assert username not in usernames(module_api, SUPERVISOR)  # a role in no cell: only administrators see it


def test_a_role_granted_shows_in_the_directory_once_the_view_has_it(module_api: Api) -> None:
    username = f"li.{uuid.uuid4().hex[:8]}"
    module_api.app.open_account(actor=SYSTEM, username=username, display_name="李娜")
    module_api.app.grant_role(actor=SYSTEM, username=username, role="worker", cell_id="qingshui.dongcun.g2")
    assert username in usernames(module_api, WORKER)
    assert username not in usernames(module_api, OUTSIDER)


def test_the_staff_covering_a_cell_are_whom_a_case_there_may_be_assigned_to(module_api: Api) -> None:
    covering = usernames(module_api, SUPERVISOR, covering="qingshui.xicun.g1")
    assert covering == ["chen.supervisor", "zhao.worker"]
    assert usernames(module_api, WORKER, covering="qingshui.xicun.g1") == ["chen.supervisor"]


def test_the_staff_covering_an_unknown_cell_is_an_invalid_request(module_api: Api) -> None:
    response = module_api.get(f"{BASE}/staff", SUPERVISOR, covering="qingshui.atlantis")
    assert response.status_code == 422 and problem_type(response) == "/problems/invalid-input"
