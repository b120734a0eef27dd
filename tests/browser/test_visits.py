"""Households and visits in a browser, as the worker of 东村 uses them on a phone and at a desk: a household
registered, a visit scheduled and recorded, a need found on it raised as a demand linked to the visit in one
step; and the household list narrowed by category and to the visits overdue."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.cases import GROUP_1, PASSWORD, WORKER, WORKER_NAME, Api, tagged
from tests.browser.conftest import LiveServer
from tests.browser.support import sign_in

pytestmark = pytest.mark.timeout(120)
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def rows_of(page: Page) -> Locator:
    return page.locator("table.listing tbody tr")


def test_a_need_found_on_a_visit_becomes_a_demand_linked_to_the_visit_in_one_step(page: Page) -> None:
    sign_in(page, WORKER, PASSWORD)
    page.goto("/households")
    page.get_by_role("button", name="登记住户").click()  # a link drawn as a button

    address = tagged("东村一组槐树巷")
    page.get_by_label("网格").select_option(GROUP_1)
    page.get_by_label("住址").fill(address)
    page.get_by_label("孤寡老人").check()
    page.get_by_label("家庭人口").fill("1")
    page.get_by_label("户主").fill("赵桂英")
    page.get_by_label("电话").fill("13700001234")
    page.get_by_role("button", name="登记", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/households/{UUID_PATTERN}"))
    household_url = page.url.split("?")[0]
    expect(page.locator("h1")).to_have_text(address)
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("孤寡老人")
    expect(facts).to_contain_text("每 14 天")       # the cadence of elderly people living alone
    expect(facts).to_contain_text("尚未走访")

    schedule = page.locator("form", has=page.get_by_role("button", name="安排走访"))
    expect(schedule.get_by_label("走访人")).to_have_value(WORKER)
    schedule.get_by_label("走访事由").select_option(label="慰问")
    schedule.get_by_role("button", name="安排走访").click()

    visits = page.locator("section", has=page.get_by_role("heading", name="走访", exact=True))
    expect(visits.locator("tbody tr")).to_have_count(1)
    expect(visits.locator("tbody tr")).to_contain_text("慰问")
    expect(visits.locator("tbody tr")).to_contain_text("已安排")
    visits.locator("tbody tr a").click()

    expect(page).to_have_url(re.compile(rf"/visits/{UUID_PATTERN}"))
    visit_path = "/" + page.url.split("/", 3)[3].split("?")[0]
    expect(page.locator("h1")).to_contain_text(address)
    record = page.locator("form", has=page.get_by_role("button", name="记录走访"))
    record.get_by_label("电话").check()
    record.get_by_label("走访记录").fill("电话联系赵大娘，身体尚好，反映两件事。")
    record.get_by_label("发现需求（每行一条）").fill("屋后排水沟堵了，下雨漫进院子\n想申请居家养老上门服务")
    record.get_by_role("button", name="记录走访").click()

    expect(page.locator("hgroup")).to_contain_text("已走访")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("电话")
    expect(facts).to_contain_text("电话联系赵大娘，身体尚好，反映两件事。")
    needs = page.locator("ul.needs > li")
    expect(needs).to_have_count(2)
    expect(needs.nth(0).get_by_label("诉求标题")).to_have_value("屋后排水沟堵了，下雨漫进院子")
    expect(needs.nth(1).get_by_label("诉求标题")).to_have_value("想申请居家养老上门服务")

    needs.nth(0).get_by_role("button", name="登记为诉求").click()

    expect(needs.nth(0)).to_contain_text("屋后排水沟堵了，下雨漫进院子 — 已登记为诉求")
    expect(needs.nth(1).get_by_role("button", name="登记为诉求")).to_be_visible()  # the other is still a need
    raised = page.locator("section", has=page.get_by_role("heading", name="本次走访登记的诉求"))
    expect(raised.locator("li")).to_have_count(1)
    expect(raised.locator("li")).to_contain_text("屋后排水沟堵了，下雨漫进院子")
    needs.nth(0).get_by_role("link").click()

    expect(page).to_have_url(re.compile(rf"/cases/{UUID_PATTERN}"))
    expect(page.locator("h1")).to_have_text("屋后排水沟堵了，下雨漫进院子")
    case_facts = page.locator("dl.case-facts")
    expect(case_facts).to_contain_text("东村一组")
    expect(case_facts).to_contain_text("已登记")
    expect(page.locator("#timeline")).to_contain_text(f"{WORKER_NAME} 登记了诉求（入户走访）")
    link = case_facts.get_by_role("link", name="此诉求来自的走访")
    expect(link).to_have_attribute("href", visit_path)
    link.click()

    expect(page).to_have_url(re.compile(re.escape(visit_path) + "$"))
    visitor = page.locator("dl.facts dt", has_text="走访人").locator("xpath=following-sibling::dd[1]")
    page.goto(household_url)
    demands = page.locator("section", has=page.get_by_role("heading", name="走访中登记的未办结诉求"))
    expect(demands.get_by_role("link", name="屋后排水沟堵了，下雨漫进院子")).to_be_visible()

    # Names, not ids: who visited, by name on the household's page and the visit's
    expect(visits.locator("tbody tr td").nth(2)).to_have_text(WORKER_NAME)
    page.goto(visit_path)
    expect(visitor).to_have_text(WORKER_NAME)


def household_count(page: Page) -> int:
    """The number of households the list says match ("12 户")."""
    said = page.locator("hgroup p").inner_text()
    found = re.fullmatch(r"(\d+) 户", said.strip())
    assert found, said
    return int(found.group(1))


def test_the_household_list_narrows_to_a_category_and_to_the_visits_overdue(page: Page,
                                                                            live_server: LiveServer) -> None:
    address = tagged("东村二组卫生院后街")
    home = Api(page, live_server, WORKER).post("/households", {
        "cell_id": "qingshui.dongcun.g2", "address": address, "categories": ["hospitalised"]})
    sign_in(page, WORKER, PASSWORD)
    page.goto(f"/households?after={home['position']}")
    everyone = household_count(page)
    filters = page.get_by_role("form", name="筛选住户")

    filters.get_by_label("网格").select_option(label="东村二组")
    filters.get_by_label("住户类别").select_option(label="住院")
    filters.get_by_role("button", name="筛选").click()

    expect(page).to_have_url(re.compile(r"category=hospitalised"))
    expect(filters.get_by_label("住户类别")).to_have_value("hospitalised")
    rows = rows_of(page)
    assert 0 < rows.count() == household_count(page) < everyone
    for row in rows.all():
        expect(row.locator("td").nth(1)).to_have_text("东村二组")
        expect(row.locator("td").nth(2)).to_contain_text("住院")
    expect(page.get_by_role("link", name=address)).to_be_visible()

    filters.get_by_label("住户类别").select_option(label="全部类别")
    filters.get_by_label("网格").select_option(label="我的全部网格")
    filters.get_by_label("只看逾期未访").check()
    filters.get_by_role("button", name="筛选").click()

    expect(page).to_have_url(re.compile(r"overdue=true"))
    expect(filters.get_by_label("只看逾期未访")).to_be_checked()
    assert 0 < rows.count() == household_count(page) < everyone
    for row in rows.all():
        expect(row.locator("td").nth(4)).to_contain_text("逾期未访")
        expect(row.locator("td").nth(4)).to_contain_text("已超期")
    expect(page.get_by_role("link", name=address)).to_have_count(0)   # registered today: not due yet
