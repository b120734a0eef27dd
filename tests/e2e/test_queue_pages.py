"""My queue (/queue) and raising a demand (/cases/new), through the real app on SQLite and PostgreSQL,
as staff signed in (the sign-in dependency overridden with their stored accounts)."""

from __future__ import annotations

import html
import re
from uuid import UUID

import httpx2
import pytest
from fastapi import Request

from api.pages import session
from api.pages.forms import CSRF_COOKIE
from domain.account import Account
from domain.application import SYSTEM
from domain.templates import TEMPLATES
from tests.e2e.support import (
    CELL,
    OUTSIDER,
    RESIDENT_PHONE,
    REVIEWER,
    SUPERVISOR,
    WORKER,
    Api,
    ago,
    raised,
)

COLLEAGUE, COLLEAGUE_NAME = "wang.fang", "王芳"   # a second worker of 东村, with a display name


def sign_in(api: Api, username: str) -> None:
    account = api.app.account(username)

    async def signed_in(request: Request) -> Account:
        request.state.account = account
        return account

    api.client.app.dependency_overrides[session.signed_in] = signed_in  # type: ignore[attr-defined]


def page(api: Api, who: str, path: str = "/queue", **params: str) -> httpx2.Response:
    sign_in(api, who)
    api.runtime.wait_for_views(api.head(), ["cases"])
    response = api.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


def titles(response: httpx2.Response) -> list[str]:
    """The case titles listed in the queue's table, in order."""
    return [html.unescape(title)
            for title in re.findall(r'<a href="/cases/[0-9a-f-]{36}">([^<]*)</a>', response.text)]


@pytest.fixture
def queue(api: Api) -> Api:
    """东村 (Dongcun): a case raised three days ago and never triaged (past due); an environment case
    triaged six days ago, its resolution due in a day, assigned to a colleague; a public works case
    raised now, in deliberation, assigned to the worker; and a case of 西村 (Xicun), another village."""
    app = api.app
    app.open_account(actor=SYSTEM, username=COLLEAGUE, display_name=COLLEAGUE_NAME)
    app.grant_role(actor=SYSTEM, username=COLLEAGUE, role="worker", cell_id="qingshui.dongcun")
    raised(app, occurred_at=ago(days=3), title="三天前的诉求 Raised three days ago",
           description="水渠堵塞 ditch blocked")
    soon = raised(app, occurred_at=ago(days=6), title="垃圾清运 Rubbish", resident_phone="13900001111")
    app.triage(soon, actor=WORKER, category="environment", occurred_at=ago(days=5, hours=23))
    app.assign(soon, actor=WORKER, assignee=COLLEAGUE)
    mine = raised(app, title="修建便桥 A footbridge", resident_phone=RESIDENT_PHONE)
    app.triage(mine, actor=WORKER, category="public_works")
    app.assign(mine, actor=WORKER, assignee=WORKER)
    raised(app, actor=OUTSIDER, cell_id="qingshui.xicun.g1", title="西村的诉求 Another village's case")
    return api


def test_a_worker_sees_the_open_cases_of_her_cells_past_due_first(queue: Api) -> None:
    shown = page(queue, WORKER, tab="cells")
    assert titles(shown)[0] == "三天前的诉求 Raised three days ago"
    assert set(titles(shown)) == {"三天前的诉求 Raised three days ago", "垃圾清运 Rubbish",
                                  "修建便桥 A footbridge"}
    assert "西村" not in shown.text
    assert titles(page(queue, OUTSIDER, tab="cells")) == ["西村的诉求 Another village's case"]


def test_the_tabs_narrow_the_queue(queue: Api) -> None:
    assert titles(page(queue, WORKER, tab="mine")) == ["修建便桥 A footbridge"]
    assert titles(page(queue, COLLEAGUE)) == ["垃圾清运 Rubbish"]  # 待我处理 is the first tab
    assert titles(page(queue, WORKER, tab="late")) == ["三天前的诉求 Raised three days ago"]
    assert titles(page(queue, WORKER, tab="soon")) == ["垃圾清运 Rubbish"]


def test_a_supervisor_finds_the_cases_residents_were_dissatisfied_with_until_one_is_reopened(
        queue: Api) -> None:
    app = queue.app
    rated = {}
    for title, rating in (("不满意 Dissatisfied", "dissatisfied"), ("满意 Satisfied", "satisfied")):
        case = raised(app, title=title)
        app.triage(case, actor=WORKER, category="repairs")
        app.resolve(case, actor=WORKER, summary="已修好")
        app.give_feedback(case, actor="resident", rating=rating)
        rated[rating] = case
    assert titles(page(queue, SUPERVISOR, tab="dissatisfied")) == ["不满意 Dissatisfied"]
    assert "居民不满意" not in page(queue, WORKER).text   # the tab is a supervisor's
    assert titles(page(queue, WORKER, tab="dissatisfied")) == ["修建便桥 A footbridge"]  # 待我处理 instead
    app.reopen(rated["dissatisfied"], actor=SUPERVISOR, reason="回访复查")
    assert titles(page(queue, SUPERVISOR, tab="dissatisfied")) == []


def test_a_row_shows_names_due_time_and_warnings(queue: Api) -> None:
    shown = page(queue, WORKER, tab="cells")
    assert COLLEAGUE_NAME in shown.text and "已超期 2 天" in shown.text and "还剩 1 天" in shown.text
    steps = TEMPLATES["four_deliberations_two_disclosures"].steps
    assert f"{steps[0].title.zh} <small>1/{len(steps)}</small>" in shown.text
    assert re.search(r'<time datetime="[^"]+" title="\d{4}年\d+月\d+日 \d\d:\d\d">', shown.text)
    assert 'class="late"' in shown.text and 'class="soon"' in shown.text
    assert "一组" in shown.text  # the cell by its name, not qingshui.dongcun.g1


def test_the_filters_and_the_search_narrow_the_queue(queue: Api) -> None:
    assert titles(page(queue, WORKER, tab="cells", category="public_works")) == ["修建便桥 A footbridge"]
    assert titles(page(queue, WORKER, tab="cells", status="deliberating")) == ["修建便桥 A footbridge"]
    assert titles(page(queue, WORKER, tab="cells", track="direct")) == ["垃圾清运 Rubbish"]
    assert titles(page(queue, WORKER, tab="cells", q="DITCH")) == ["三天前的诉求 Raised three days ago"]
    receipt = queue.get("/api/v1/demands", WORKER, q="footbridge").json()["items"][0]["receipt"]
    assert titles(page(queue, WORKER, tab="cells", q=receipt)) == ["修建便桥 A footbridge"]
    assert titles(page(queue, WORKER, tab="cells", cell="qingshui.dongcun.g2")) == []
    assert titles(page(queue, "chen.supervisor", tab="cells", cell="qingshui.xicun")) == \
        ["西村的诉求 Another village's case"]


def test_a_worker_searches_by_phone_and_a_reviewer_cannot(queue: Api) -> None:
    shown = page(queue, WORKER, tab="cells", phone="0001111")
    assert 'name="phone"' in shown.text and titles(shown) == ["垃圾清运 Rubbish"]
    reviewed = page(queue, REVIEWER, tab="cells", phone="0001111")
    assert 'name="phone"' not in reviewed.text and len(titles(reviewed)) == 4
    assert queue.get("/api/v1/demands", WORKER, phone="0001111").json()["total"] == 1
    assert queue.get("/api/v1/demands", REVIEWER, phone="0001111").status_code == 403


def test_numbers_typed_into_a_title_are_listed_masked_and_shown_on_the_case_to_a_worker(queue: Api) -> None:
    case = raised(queue.app, title=f"请回电 {RESIDENT_PHONE}")
    # The events are encrypted at rest (the default), so the views keep such numbers masked for everyone.
    assert "请回电 *******5678" in titles(page(queue, WORKER, tab="cells"))
    assert "请回电 *******5678" in titles(page(queue, REVIEWER, tab="cells"))
    assert RESIDENT_PHONE not in page(queue, REVIEWER, "/cases/new/similar", cell_id=CELL).text
    assert f"请回电 {RESIDENT_PHONE}" in html.unescape(page(queue, WORKER, f"/cases/{case}").text)


def test_the_api_searches_with_the_queues_filters(queue: Api) -> None:
    queue.runtime.wait_for_views(queue.head(), ["cases"])
    listed = queue.get("/api/v1/demands", WORKER, open="true", sort="urgency").json()["items"]
    assert [item["overdue"] for item in listed] == [True, False, False]
    late = queue.get("/api/v1/demands", WORKER, overdue="true").json()["items"]
    assert [item["title"] for item in late] == ["三天前的诉求 Raised three days ago"]
    soon = queue.get("/api/v1/demands", WORKER, due_within_days="2", open="true").json()["items"]
    assert [item["title"] for item in soon] == ["垃圾清运 Rubbish"]
    described = queue.get("/api/v1/demands", WORKER, q="blocked").json()["items"]
    assert [item["description"] for item in described] == ["水渠堵塞 ditch blocked"]


def test_the_queue_is_in_chinese_by_default_and_in_english_with_the_cookie(queue: Api) -> None:
    assert "<title>我的待办" in page(queue, WORKER).text
    queue.client.cookies.set("minqing_lang", "en")
    shown = page(queue, WORKER, tab="cells")
    assert "<title>My queue" in shown.text and "2 days overdue" in shown.text


def form(api: Api, who: str = WORKER, path: str = "/cases/new") -> str:
    """The form page's text, which sets the CSRF cookie; the token to send back."""
    shown = page(api, who, path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
    assert found and api.client.cookies.get(CSRF_COOKIE) == found.group(1)
    return found.group(1)


def test_raising_a_demand_records_it_and_goes_to_its_page(api: Api) -> None:
    token = form(api)
    sent = {"csrf_token": token, "channel": "phone", "cell_id": CELL, "category": "", "title": "桥栏杆松动",
            "description": "村口小桥栏杆松动", "location": "村口", "resident_name": "李秀英",
            "resident_phone": RESIDENT_PHONE, "visit_id": ""}
    answer = api.client.post("/cases/new", data=sent, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    case = api.app.demand(UUID(answer.headers["location"].removeprefix("/cases/")))
    assert (case.title, case.channel, case.cell_id, case.category_hint, case.location, case.resident_phone,
            case.raised_by) == ("桥栏杆松动", "phone", CELL, None, "村口", RESIDENT_PHONE, WORKER)


def test_the_raise_form_offers_names_and_lists_the_open_cases_of_the_cell(queue: Api) -> None:
    shown = page(queue, WORKER, "/cases/new", visit="3f2b6c9e-0000-4000-8000-000000000001")
    assert "<title>登记诉求" in shown.text and 'value="3f2b6c9e-0000-4000-8000-000000000001"' in shown.text
    assert ">接待日<" in shown.text or ">reception_day<" in shown.text  # the channel by names.term
    assert 'value="qingshui.dongcun.g1"' in shown.text and 'value="qingshui.xicun.g1"' not in shown.text
    similar = page(queue, WORKER, "/cases/new/similar", cell_id=CELL)
    assert "修建便桥 A footbridge" in similar.text and "西村" not in similar.text
    outside = page(queue, WORKER, "/cases/new/similar", cell_id="qingshui.xicun.g1")
    assert "西村" not in outside.text


def test_a_refused_demand_shows_the_error_beside_the_field_and_keeps_what_was_typed(api: Api) -> None:
    token = form(api)
    sent = {"csrf_token": token, "channel": "phone", "cell_id": CELL, "title": "  ",
            "description": "村口小桥栏杆松动"}
    answer = api.client.post("/cases/new", data=sent, follow_redirects=False)
    assert answer.status_code == 422
    assert re.search(r'<small class="field-error" id="title-error">', answer.text)
    assert "村口小桥栏杆松动</textarea>" in answer.text
    assert re.search(r'<option value="phone"\s+selected', answer.text)


def test_a_demand_in_a_cell_that_does_not_exist_is_refused_beside_the_cell(api: Api) -> None:
    token = form(api)
    sent = {"csrf_token": token, "channel": "phone", "cell_id": "qingshui.dongcun.g7", "title": "桥栏杆松动"}
    answer = api.client.post("/cases/new", data=sent, follow_redirects=False)
    assert answer.status_code == 422
    assert re.search(r'<small class="field-error" id="cell_id-error">', answer.text)
    assert 'value="桥栏杆松动"' in answer.text
