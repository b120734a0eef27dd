"""The households and visits pages, through the real app on each store: a worker of 东村 (Dongcun)
lists, registers and recategorises households, schedules and records visits, and raises a need found
on a visit as a linked demand with one tap; nothing outside her cells is shown or done."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx2
import pytest
from fastapi import Request

from api.pages import session
from api.pages.forms import CSRF_COOKIE
from domain.account import Account
from domain.application import SYSTEM
from projections import queries
from tests.e2e import support as s
from tests.e2e.support import Api

OUTSIDE_CELL = "qingshui.xicun.g1"


@pytest.fixture
def pages(module_api: Api) -> Iterator[Api]:
    """The app, with whoever a test signs in as (`sign_in`) signed in to its pages."""
    yield module_api
    module_api.client.app.dependency_overrides.pop(session.signed_in, None)  # type: ignore[attr-defined]
    module_api.client.cookies.clear()


def sign_in(api: Api, username: str) -> None:
    async def signed_in(request: Request) -> Account:
        account = api.app.account(username)
        request.state.account = account
        return account
    api.client.app.dependency_overrides[session.signed_in] = signed_in  # type: ignore[attr-defined]


def page(api: Api, path: str) -> httpx2.Response:
    return api.client.get(path)


def post(api: Api, path: str, data: dict[str, Any]) -> httpx2.Response:
    """A form sent from the page it is on (its CSRF token), following the redirect that answers it."""
    if CSRF_COOKIE not in api.client.cookies:
        api.client.get("/households")
    return api.client.post(path, data={**data, "csrf_token": api.client.cookies[CSRF_COOKIE]})


def household(api: Api, cell: str = s.CELL, categories: tuple[str, ...] = ("elderly_alone",),
              address: str = "东村一组7号", **fields: Any) -> UUID:
    return api.app.register_household(actor=s.WORKER if cell.startswith("qingshui.dongcun") else s.OUTSIDER,
                                      cell_id=cell, address=address, categories=list(categories), **fields).id


def visit(api: Api, home: UUID, due_in: timedelta = timedelta(hours=2), visitor: str = s.WORKER) -> UUID:
    actor = s.WORKER if visitor == s.WORKER else s.OUTSIDER
    return api.app.schedule_visit(home, actor=actor, visitor=visitor, purpose="welfare_call",
                                  due_at=api.app.clock() + due_in).id


def caught_up(api: Api) -> None:
    api.runtime.wait_for_views(api.head())


def visit_row(api: Api, visit_id: UUID) -> dict[str, Any]:
    caught_up(api)
    with api.runtime.reader.connect() as conn:
        found = queries.household_visit(conn, visit_id)
    assert found is not None
    return found


# ---------------------------------------------------------------- households
def test_the_households_page_is_in_chinese_and_lists_overdue_visits_first(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    late = household(pages, address="东村一组逾期1号", occurred_at=s.ago(days=20))
    household(pages, address="东村一组普通2号", categories=("ordinary",))
    caught_up(pages)
    listed = page(pages, "/households?overdue=true")
    assert listed.status_code == 200
    assert "<title>住户" in listed.text and "逾期未访" in listed.text
    assert "东村一组逾期1号" in listed.text and "东村一组普通2号" not in listed.text
    everything = page(pages, f"/households?cell={s.CELL}").text
    assert everything.index("东村一组逾期1号") < everything.index("东村一组普通2号")
    assert f'href="/households/{late}"' in everything


def test_households_are_filtered_by_category(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    household(pages, address="东村一组低保3号", categories=("minimum_living_allowance",))
    household(pages, address="东村一组困难4号", categories=("hardship",))
    caught_up(pages)
    listed = page(pages, "/households?category=minimum_living_allowance").text
    assert "东村一组低保3号" in listed and "东村一组困难4号" not in listed


def test_a_worker_lists_no_household_outside_her_cells_and_its_page_answers_as_missing(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    elsewhere = household(pages, cell=OUTSIDE_CELL, address="西村一组外1号")
    caught_up(pages)
    assert "西村一组外1号" not in page(pages, "/households").text
    assert "西村一组外1号" not in page(pages, f"/households?cell={OUTSIDE_CELL}").text
    assert page(pages, f"/households/{elsewhere}").status_code == 404
    refused = post(pages, f"/households/{elsewhere}/visits",
                   {"visitor": s.WORKER, "purpose": "routine", "due_at": "2026-12-01T09:00"})
    assert refused.status_code == 404
    assert pages.event_types(elsewhere) == ["Registered"]


def test_a_reviewer_sees_a_households_name_and_phone_masked(pages: Api) -> None:
    home = household(pages, head_name="李秀英", phone="13812345678")
    sign_in(pages, s.REVIEWER)
    shown = page(pages, f"/households/{home}").text
    assert "李**" in shown and "*******5678" in shown
    assert "李秀英" not in shown and "13812345678" not in shown
    assert f'action="/households/{home}/visits"' not in shown  # a reviewer schedules nothing
    sign_in(pages, s.WORKER)
    assert "李秀英" in page(pages, f"/households/{home}").text


def test_a_worker_registers_a_household_and_lands_on_its_page(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    form = page(pages, "/households/new")
    assert form.status_code == 200 and 'name="categories"' in form.text
    done = post(pages, "/households/new", {"cell_id": "qingshui.dongcun.g2", "address": "东村二组12号",
                                           "categories": ["hardship", "disabled"], "members": "3",
                                           "head_name": "", "phone": ""})
    assert done.status_code == 200
    found = re.search(r"/households/([0-9a-f-]{36})", str(done.url))
    assert found is not None
    registered = pages.app.household(UUID(found[1]))
    assert (registered.cell_id, registered.categories, registered.members, registered.head_name) == \
        ("qingshui.dongcun.g2", ["hardship", "disabled"], 3, None)
    assert registered.cadence_days == 30 and "东村二组12号" in done.text


def test_a_household_without_a_category_is_refused_beside_the_categories_keeping_what_was_typed(
        pages: Api) -> None:
    sign_in(pages, s.WORKER)
    refused = post(pages, "/households/new", {"cell_id": s.CELL, "address": "东村一组99号", "members": "2"})
    assert refused.status_code == 422
    assert 'id="categories-error"' in refused.text
    assert 'value="东村一组99号"' in refused.text
    assert "东村一组99号" not in page(pages, "/households").text


def test_a_worker_recategorises_a_household_and_its_cadence_follows(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    home = household(pages, categories=("ordinary",))
    done = post(pages, f"/households/{home}/categories", {"categories": ["elderly_alone"]})
    assert done.status_code == 200
    assert pages.app.household(home).cadence_days == 14


def test_a_worker_schedules_a_visit_due_at_a_time_of_the_deployments_zone(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    home = household(pages)
    shown = page(pages, f"/households/{home}").text
    assert f'<option value="{s.WORKER}"' in shown
    done = post(pages, f"/households/{home}/visits",
                {"visitor": s.WORKER, "purpose": "welfare_call", "due_at": "2026-12-08T09:30"})
    assert done.status_code == 200
    caught_up(pages)
    with pages.runtime.reader.connect() as conn:
        scheduled = queries.household_visits(conn, household=home).items
    assert len(scheduled) == 1
    assert scheduled[0]["due_at"].astimezone(ZoneInfo("Asia/Shanghai")).isoformat() == \
        "2026-12-08T09:30:00+08:00"
    assert f'href="/visits/{scheduled[0]["id"]}"' in done.text


def test_a_visit_without_a_due_time_is_refused_beside_the_field(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    home = household(pages)
    refused = post(pages, f"/households/{home}/visits", {"visitor": s.WORKER, "purpose": "routine",
                                                          "due_at": ""})
    assert refused.status_code == 422
    assert 'id="due_at-error"' in refused.text and 'aria-invalid="true"' in refused.text


# ---------------------------------------------------------------- visits
def test_my_visits_lists_mine_due_this_week_overdue_first(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    late = visit(pages, household(pages, address="东村一组迟到5号"), due_in=timedelta(hours=-3))
    soon = visit(pages, household(pages, address="东村一组马上6号"), due_in=timedelta(minutes=30))
    far = visit(pages, household(pages, address="东村一组下月7号"), due_in=timedelta(days=30))
    caught_up(pages)
    shown = page(pages, "/visits").text
    assert shown.index(f"/visits/{late}") < shown.index(f"/visits/{soon}")
    assert f"/visits/{far}" not in shown
    assert "东村一组迟到5号" in shown and "已超期" in shown


def test_a_worker_records_a_visit_with_needs_and_raises_one_as_a_linked_demand_in_one_step(
        pages: Api) -> None:
    sign_in(pages, s.WORKER)
    home = household(pages, cell="qingshui.dongcun.g3", address="东村三组8号")
    visit_id = visit(pages, home)
    recorded = post(pages, f"/visits/{visit_id}/conduct",
                    {"mode": "in_home", "notes": "老人独居", "needs_found": "屋顶漏雨\n需要助餐\n"})
    assert recorded.status_code == 200
    assert visit_row(pages, visit_id)["needs_found"] == [{"text": "屋顶漏雨"}, {"text": "需要助餐"}]
    assert recorded.text.count(f'action="/visits/{visit_id}/demands"') == 2

    raised = post(pages, f"/visits/{visit_id}/demands", {"need": "0", "title": "屋顶漏雨"})
    assert raised.status_code == 200
    demand_id = pages.app.visit(visit_id).demand_ids[0]
    demand = pages.app.demand(demand_id)
    assert (demand.visit_id, demand.cell_id, demand.channel, demand.title) == \
        (visit_id, "qingshui.dongcun.g3", "visit", "屋顶漏雨")
    assert raised.text.count(f'action="/visits/{visit_id}/demands"') == 1  # the other need is left
    assert f'href="/cases/{demand_id}"' in raised.text
    assert "屋顶漏雨" in page(pages, f"/households/{home}").text  # among its open demands


def test_a_visit_recorded_without_a_mode_is_refused_beside_the_mode_keeping_the_needs(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    visit_id = visit(pages, household(pages))
    caught_up(pages)
    assert page(pages, f"/visits/{visit_id}").status_code == 200
    refused = post(pages, f"/visits/{visit_id}/conduct", {"notes": "", "needs_found": "门锁坏了"})
    assert refused.status_code == 422
    assert 'id="mode-error"' in refused.text and "门锁坏了" in refused.text
    assert pages.app.visit(visit_id).status == "scheduled"


def test_a_worker_marks_a_visit_missed_with_the_reason(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    visit_id = visit(pages, household(pages))
    done = post(pages, f"/visits/{visit_id}/miss", {"reason": "家中无人"})
    assert done.status_code == 200 and "家中无人" in done.text
    assert pages.app.visit(visit_id).status == "missed"
    again = post(pages, f"/visits/{visit_id}/miss", {"reason": "再次"})
    assert again.status_code == 409  # the domain refuses: it was already missed


def test_a_visit_outside_her_cells_answers_as_missing_and_cannot_be_recorded(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    elsewhere = visit(pages, household(pages, cell=OUTSIDE_CELL), visitor=s.OUTSIDER)
    caught_up(pages)
    assert page(pages, f"/visits/{elsewhere}").status_code == 404
    assert post(pages, f"/visits/{elsewhere}/conduct", {"mode": "phone"}).status_code == 404
    assert post(pages, f"/visits/{elsewhere}/demands", {"need": "0", "title": "x"}).status_code == 404
    assert pages.app.visit(elsewhere).status == "scheduled"


def test_the_pages_speak_english_when_asked(pages: Api) -> None:
    sign_in(pages, s.WORKER)
    pages.client.cookies.set("minqing_lang", "en")
    shown = page(pages, "/visits").text
    assert "My visits" in shown and "我的走访" not in shown


def test_visitors_are_shown_by_their_display_names(pages: Api) -> None:
    pages.app.open_account(actor=SYSTEM, username="chen.visitor", display_name="陈走访")
    pages.app.grant_role(actor=SYSTEM, username="chen.visitor", role="worker", cell_id="qingshui.dongcun")
    sign_in(pages, s.WORKER)
    home = household(pages, address="东村一组陈访9号")
    visit_id = pages.app.schedule_visit(home, actor=s.WORKER, visitor="chen.visitor", purpose="welfare_call",
                                        due_at=pages.app.clock() + timedelta(days=1)).id
    caught_up(pages)
    for shown in (page(pages, f"/households/{home}").text, page(pages, f"/visits/{visit_id}").text):
        assert "陈走访" in shown
        assert ">chen.visitor<" not in shown
