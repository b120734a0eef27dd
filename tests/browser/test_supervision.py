"""A supervisor's work on the case page, in a browser: reassigning (only to staff whose cells cover the
case), escalating past the next level, reopening a resolved case, closing one as not resolvable, flagging
accountability and answering an objection, each through the form the page offers. And scope: a worker
neither finds, opens nor acts on a case outside her cells.

Each test puts a case of its own into the state it needs through the REST API (tests.browser.cases)."""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.cases import (
    OUTSIDER,
    PASSWORD,
    SUPERVISOR,
    SUPERVISOR_NAME,
    WORKER,
    WORKER_NAME,
    Api,
    assigned,
    objection_lodged,
    past_its_deadline,
    resolved,
    tagged,
    triaged,
)
from tests.browser.conftest import LiveServer
from tests.browser.support import sign_in

pytestmark = pytest.mark.timeout(120)


def open_case(page: Page, case: UUID) -> None:
    response = page.goto(f"/cases/{case}")
    assert response is not None and response.status == 200, response


def action(page: Page, name: str) -> Locator:
    """The form of one action in the case page's actions panel, its <details> opened if it was closed."""
    details = page.locator(f"details#action-{name}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    form = details.locator("form")
    expect(form).to_be_visible()
    return form


def send(page: Page, form: Locator, button: str, case: UUID) -> None:
    """Submit the form and land back on the case's history (Post/Redirect/Get)."""
    form.get_by_role("button", name=button, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/cases/{case}#timeline$"))


def fact(page: Page, term: str) -> Locator:
    """The value beside `term` in the case's header."""
    term_shown = page.locator("dl.case-facts dt", has_text=re.compile(f"^{term}$"))
    return term_shown.locator("xpath=following-sibling::dd[1]")


def options_of(select: Locator) -> list[str]:
    return [text.strip() for text in select.locator("option").all_inner_texts()]


# ---------------------------------------------------------------- a supervisor's actions
def test_a_supervisor_reassigns_a_case_only_to_staff_whose_cells_cover_it(page: Page,
                                                                          live_server: LiveServer) -> None:
    """A case of 5号楼 (清水社区, 一级管片一): 马静 (the community's worker) holds it; 宋宇, a worker of the
    community's second patch only, and the village workers may not be given it."""
    title = tagged("5号楼楼道灯坏了，晚上上下楼摸黑")
    case = assigned(Api(page, live_server, "ma.jing"), title, assignee="ma.jing",
                    cell_id="qingshui.community.p1.a.b5")
    sign_in(page, SUPERVISOR, PASSWORD)
    open_case(page, case)
    expect(fact(page, "承办人")).to_have_text("马静（清水社区工作者）")

    form = action(page, "assign")
    offered = options_of(form.get_by_label("承办人"))
    assert "顾红梅（清水社区党委书记）" in offered and SUPERVISOR_NAME in offered, offered
    for outside in ("宋宇（清水社区第二网格网格员）", WORKER_NAME, "何文斌（西村网格员）",
                    "唐丽华（南岭村网格员）", "高平（镇纪委督查）", "系统管理员"):
        assert outside not in offered, f"{outside} is offered a case outside their cells: {offered}"
    assert "马静（清水社区工作者）" not in offered, "the case is offered to the one who holds it"

    form.get_by_label("承办人").select_option(label="顾红梅（清水社区党委书记）")
    send(page, form, "改派", case)

    expect(fact(page, "承办人")).to_have_text("顾红梅（清水社区党委书记）")
    expect(page.locator("#timeline li").last).to_contain_text(
        f"{SUPERVISOR_NAME} 将案件指派给 顾红梅（清水社区党委书记）")


def test_a_supervisor_escalates_a_case_past_the_village_to_the_township(page: Page,
                                                                        live_server: LiveServer) -> None:
    case = triaged(Api(page, live_server, WORKER), tagged("东村一组村道塌陷，三轮车过不去"))
    sign_in(page, SUPERVISOR, PASSWORD)
    open_case(page, case)
    expect(fact(page, "责任网格")).to_have_text("东村一组")

    form = action(page, "escalate")
    assert options_of(form.get_by_label("上报至")) == ["东村", "清水镇"]
    form.get_by_label("上报至").select_option(label="清水镇")
    form.get_by_label("原因").fill("塌陷路段需镇里协调交通部门修复")
    send(page, form, "上报", case)

    expect(fact(page, "责任网格")).to_have_text("清水镇")
    expect(page.locator("#timeline li").last).to_contain_text(
        f"{SUPERVISOR_NAME} 将案件从 东村一组 上报至 清水镇")
    expect(page.locator("details#action-escalate")).to_have_count(0)   # nothing lies above the township


def test_a_supervisor_reopens_a_resolved_case(page: Page, live_server: LiveServer) -> None:
    case = resolved(Api(page, live_server, WORKER), tagged("东村一组机井水泵烧了，地浇不上"))
    sign_in(page, SUPERVISOR, PASSWORD)
    open_case(page, case)
    expect(fact(page, "状态")).to_have_text("已办结 · 已解决")

    form = action(page, "reopen")
    form.get_by_label("重新办理的原因").fill("回访复查发现水泵仍不能正常出水")
    send(page, form, "重新办理", case)

    expect(fact(page, "状态")).to_have_text("办理中")
    expect(page.locator("#timeline li").last).to_contain_text(
        f"{SUPERVISOR_NAME} 重新办理：回访复查发现水泵仍不能正常出水")
    expect(page.locator("details#action-reopen")).to_have_count(0)


def test_only_a_supervisor_closes_a_case_as_not_resolvable(page: Page, live_server: LiveServer) -> None:
    case = triaged(Api(page, live_server, WORKER), tagged("希望把村道拓宽到六米"))
    sign_in(page, WORKER, PASSWORD)
    open_case(page, case)
    assert "暂不能解决（已说明）" not in options_of(action(page, "close").get_by_label("结果"))

    page.context.clear_cookies()
    sign_in(page, SUPERVISOR, PASSWORD)
    open_case(page, case)
    form = action(page, "close")
    form.get_by_label("结果").select_option(label="暂不能解决（已说明）")
    form.get_by_label("向居民所作的说明").fill("村道拓宽涉及基本农田，须报县里审批，已向居民说明。")
    send(page, form, "办结案件", case)

    expect(fact(page, "状态")).to_have_text("已办结 · 暂不能解决（已说明）")
    explained = "村道拓宽涉及基本农田，须报县里审批，已向居民说明。"
    expect(page.locator("#timeline li").last).to_contain_text(
        f"{SUPERVISOR_NAME} 办结案件（暂不能解决（已说明））：{explained}")
    expect(page.locator("details#action-reopen")).to_have_count(1)


def test_a_supervisor_flags_a_case_past_its_deadline_for_accountability(page: Page,
                                                                       live_server: LiveServer) -> None:
    case = past_its_deadline(Api(page, live_server, WORKER), tagged("东村一组阴井盖裂了，有人崴了脚"))
    sign_in(page, SUPERVISOR, PASSWORD)
    open_case(page, case)
    expect(fact(page, "办理时限")).to_contain_text("已超期")

    form = action(page, "flag")
    form.get_by_label("责任单位或责任人").fill("东村村委会")
    form.get_by_label("问题认定").fill("超过办理时限五天未修复，也未向居民说明")
    send(page, form, "问责标记", case)

    expect(page.locator("#timeline li").last).to_contain_text(
        f"{SUPERVISOR_NAME} 对 东村村委会 作问责标记：超过办理时限五天未修复，也未向居民说明")


def test_a_supervisor_answers_an_objection_to_a_notice(page: Page, live_server: LiveServer) -> None:
    case = objection_lodged(Api(page, live_server, WORKER), tagged("东村一组安装路灯12盏"))
    sign_in(page, SUPERVISOR, PASSWORD)
    open_case(page, case)
    objections = page.locator("ul.objections li")
    expect(objections).to_have_count(1)
    expect(objections).to_contain_text("尚未答复")

    form = action(page, "answer_objection")
    assert len(options_of(form.get_by_label("异议"))) == 1
    answer = "已与村民协商，路灯移至路口东侧十米，避开住户窗户。"
    form.get_by_label("答复").fill(answer)
    send(page, form, "答复异议", case)

    expect(objections).to_contain_text(f"{SUPERVISOR_NAME}): {answer}")
    expect(objections).not_to_contain_text("尚未答复")
    expect(page.locator("details#action-answer_objection")).to_have_count(0)


# ---------------------------------------------------------------- scope
def test_a_worker_neither_finds_opens_nor_acts_on_a_case_outside_her_cells(page: Page,
                                                                          live_server: LiveServer) -> None:
    title = tagged("西村一组灌溉渠被淤泥堵住")
    outsider = Api(page, live_server, OUTSIDER)
    raised = outsider.post("/demands", {"channel": "phone", "title": title, "cell_id": "qingshui.xicun.g1"})
    case = UUID(raised["id"])
    [listed] = Api(page, live_server, SUPERVISOR).listed(title, raised["position"])  # in the case list now
    sign_in(page, WORKER, PASSWORD)

    for tab in ("mine", "cells", "soon", "late"):
        for words in (title, listed["receipt"]):
            page.goto(f"/queue?tab={tab}")
            page.get_by_label("搜索标题、内容或受理回执码").fill(words)
            page.get_by_role("button", name="筛选").click()
            expect(page.locator("main")).to_contain_text("共 0 件")
            expect(page.locator("main")).not_to_contain_text(title)

    shown = page.goto(f"/cases/{case}")
    assert shown is not None and shown.status == 404
    expect(page.locator("h1")).to_have_text("没有这个案件")
    expect(page.locator("main")).to_contain_text("您负责的网格内没有这个案件。")
    expect(page.locator("main")).not_to_contain_text(title)
    expect(page.locator("form[action^='/cases/']")).to_have_count(0)

    page.goto("/account")
    token = page.locator("input[name=csrf_token]").first.input_value()
    sent = page.request.post(f"/cases/{case}/note", form={
        "csrf_token": token, "expected_version": "1", "text": "越权添加的工作记录"}, max_redirects=0)
    assert sent.status == 404, sent.status
    assert "没有这个案件" in sent.text() and title not in sent.text()
    assert outsider.event_types(case) == ["Raised"]
