"""Residents on a phone, without an account: raising a demand and following it by its receipt code, objecting
to a notice and reading the answer by the objection's receipt, giving dissatisfied feedback that a supervisor
then acts on by reopening the case. Staff do their part through the REST API (tests.browser.cases) or their
pages. Every residents' page is screenshot at 375 px, checked by axe-core, for sideways scrolling and for
Chinese drawn in a Chinese font; a tour does the same at both widths for the pages reached by a link."""

from __future__ import annotations

import re
import time
from uuid import UUID

import pytest
from playwright.sync_api import Page, expect

from tests.browser.cases import PASSWORD, SUPERVISOR, WORKER, Api, notice_up, tagged
from tests.browser.conftest import LiveServer
from tests.browser.support import (
    assert_accessible,
    assert_chinese_drawn,
    assert_no_horizontal_scroll,
    phone_only,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.timeout(120)

RESIDENT_NAME = "赵春梅"
RESIDENT_PHONE = "13698765432"
OBJECTOR_PHONE = "13587654321"


def checked(page: Page, name: str) -> None:
    """The page as every residents' page must be: screenshot, accessible, no sideways scroll, Chinese
    drawn."""
    screenshot(page, name)
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    assert_chinese_drawn(page, "h1")


def on_the_board(page: Page, case: UUID, seconds: float = 10) -> None:
    """Wait until the notice board's view holds the case's notice (views follow the log a moment later)."""
    deadline = time.monotonic() + seconds
    while not any(notice["case_id"] == str(case) for notice in
                  page.request.get("/api/v1/notices", params={"cell": "qingshui.dongcun"}).json()["items"]):
        assert time.monotonic() < deadline, f"{case}'s notice did not reach the notice board"
        time.sleep(0.2)


def listed_as(api: Api, title: str, seconds: float = 10, **wanted: str | None) -> None:
    """Wait until the case list shows the case titled `title` with these values."""
    deadline = time.monotonic() + seconds
    while True:
        items = api.get("/demands", q=title)["items"]
        if items and all(items[0][name] == value for name, value in wanted.items()):
            return
        assert time.monotonic() < deadline, f"{title} is not listed with {wanted}: {items}"
        time.sleep(0.2)


def no_personal_data(page: Page, *people: str) -> None:
    content = page.content()
    for shown in people:
        assert shown not in content, f"{shown} is shown on {page.url}"


# ---------------------------------------------------------------- raising and following
@phone_only
def test_a_resident_raises_a_demand_and_follows_it_by_its_receipt(page: Page) -> None:
    title = tagged("东村一组桥头护栏断了，孩子上学经过很危险")
    page.goto("/report")
    checked(page, "public-report")
    page.get_by_label("地点（村、社区或楼栋）").select_option("qingshui.dongcun.g1")
    page.get_by_label("事项类别（如果知道）").select_option(label="设施报修")
    page.get_by_label("一句话说明是什么事").fill(title)
    page.get_by_label("详细情况").fill("护栏断了两米多，晚上看不见。")
    page.get_by_label("您的姓名").fill(RESIDENT_NAME)
    page.get_by_label("您的电话").fill(RESIDENT_PHONE)
    page.get_by_role("button", name="提交").click()

    expect(page).to_have_url(re.compile(r"/report/[0-9A-Z]{10}$"))
    receipt = page.locator(".receipt-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{10}", receipt), receipt
    checked(page, "public-reported")

    page.get_by_role("button", name="现在查询进度").click()
    expect(page).to_have_url(re.compile(f"/track/{receipt}$"))
    expect(page.locator(".public-timeline li")).to_have_count(1)
    expect(page.locator(".public-timeline li").first).to_contain_text("诉求已登记（网上）")
    expect(page.locator("#feedback")).to_contain_text("诉求办结后，会在这里请您评价是否满意")
    no_personal_data(page, RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_PHONE[-4:])
    checked(page, "public-follow")

    page.goto("/track")
    checked(page, "public-track")
    page.get_by_label("回执码").fill(receipt.lower())
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(f"/track/{receipt}$"))


@phone_only
def test_a_mistyped_receipt_code_is_kept_in_the_form_with_the_reason_beside_it(page: Page) -> None:
    page.goto("/track")
    page.get_by_label("回执码").fill("NOSUCH2345")
    page.get_by_role("button", name="查询").click()
    expect(page.locator(".field-error")).to_have_text("没有查到这个回执码，请核对后再试")
    expect(page.get_by_label("回执码")).to_have_value("NOSUCH2345")
    checked(page, "public-track-not-found")


@phone_only
def test_a_demand_missing_its_place_is_refused_with_everything_typed_kept(page: Page) -> None:
    page.goto("/report")
    page.get_by_label("一句话说明是什么事").fill("路灯不亮")
    page.get_by_label("详细情况").fill("三个路灯都不亮了")
    page.get_by_label("您的电话").fill("1" * 31)     # longer than a phone number can be
    page.get_by_label("地点（村、社区或楼栋）").select_option("qingshui.xicun.g1")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".form-error")).to_be_visible()
    expect(page.get_by_label("您的电话")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("详细情况")).to_have_value("三个路灯都不亮了")
    expect(page.get_by_label("一句话说明是什么事")).to_have_value("路灯不亮")
    expect(page.get_by_label("地点（村、社区或楼栋）")).to_have_value("qingshui.xicun.g1")


# ---------------------------------------------------------------- objecting to a notice
@phone_only
def test_a_resident_objects_to_a_notice_and_reads_the_answer_by_the_objection_receipt(
        page: Page, live_server: LiveServer) -> None:
    title = tagged("东村一组主干道安装太阳能路灯")
    case = notice_up(Api(page, live_server, WORKER), title)
    on_the_board(page, case)

    page.goto("/notices?cell=qingshui.dongcun")
    card = page.locator(".notice-card", has_text=title)
    expect(card).to_contain_text("决议公开")
    expect(card).to_contain_text("还剩 6 天")
    expect(card.locator("dd", has_text=re.compile(r"^\d+$"))).to_have_text("0")
    checked(page, "public-notices")
    card.get_by_role("button", name="对此提出异议").click()
    expect(page).to_have_url(re.compile(f"/notices/{case}/resolution-1-1/object$"))
    checked(page, "public-object")

    page.get_by_label("您的异议").fill("路灯正对我家卧室窗户，晚上太亮，希望挪到路对面。")
    page.get_by_label("您的联系电话（便于答复您）").fill("不告诉你")
    page.get_by_role("button", name="提交异议").click()
    expect(page.get_by_label("您的联系电话（便于答复您）")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("您的异议")).to_have_value("路灯正对我家卧室窗户，晚上太亮，希望挪到路对面。")
    page.get_by_label("您的联系电话（便于答复您）").fill(OBJECTOR_PHONE)
    page.get_by_role("button", name="提交异议").click()

    expect(page).to_have_url(re.compile(r"/track/objection/[0-9A-Z]{10}$"))
    code = page.locator(".receipt-code").inner_text().strip()
    expect(page.locator("dl.facts")).to_contain_text("尚未答复")
    no_personal_data(page, OBJECTOR_PHONE, OBJECTOR_PHONE[-4:])
    checked(page, "public-objection")

    # staff see it on the case, with the phone to call back; a supervisor answers it
    Api(page, live_server, SUPERVISOR).command(case, "answer-objection", objection_id="objection-1",
                                               answer="已与施工队商定，该处路灯移到路对面，并加装遮光罩。")
    page.goto("/track")
    page.get_by_label("回执码").fill(code)
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(f"/track/objection/{code}$"))
    expect(page.locator("dl.facts")).to_contain_text("已与施工队商定，该处路灯移到路对面，并加装遮光罩。")
    no_personal_data(page, OBJECTOR_PHONE, "周建国")
    checked(page, "public-objection-answered")

    page.goto("/notices?cell=qingshui.dongcun")
    expect(page.locator(".notice-card", has_text=title).locator("dd", has_text=re.compile(r"^\d+$"))
           ).to_have_text("1")

    sign_in(page, SUPERVISOR, PASSWORD)
    page.goto(f"/cases/{case}")
    objection = page.locator("ul.objections li")
    expect(objection).to_contain_text(f"联系电话 {OBJECTOR_PHONE}")
    expect(objection).to_contain_text(code)


# ---------------------------------------------------------------- feedback and reopening
@phone_only
def test_a_residents_dissatisfied_feedback_puts_the_case_before_a_supervisor_who_reopens_it(
        page: Page, live_server: LiveServer) -> None:
    title = tagged("东村一组水井抽水泵坏了")
    raised = page.request.post("/api/v1/public/demands", data={
        "title": title, "cell_id": "qingshui.dongcun.g1", "description": "全组吃水困难",
        "resident_name": RESIDENT_NAME, "resident_phone": RESIDENT_PHONE})
    assert raised.status == 201, raised.text()
    receipt = raised.json()["receipt"]
    staff = Api(page, live_server, WORKER)
    case = UUID(staff.listed(title, raised.json()["position"])[0]["id"])
    staff.command(case, "triage", category="repairs")
    staff.command(case, "resolve", summary="已更换抽水泵，试运行正常。")

    page.goto(f"/track/{receipt}")
    expect(page.locator(".public-timeline")).to_contain_text("已解决：已更换抽水泵，试运行正常。")
    expect(page.locator(".public-timeline")).to_contain_text("征求您的评价")
    checked(page, "public-feedback")
    page.get_by_label("不满意").check()
    page.get_by_label("还想说的话（可不填）").fill("换了两天又不出水了。")
    page.get_by_role("button", name="提交评价").click()
    expect(page).to_have_url(re.compile(f"/track/{receipt}#feedback$"))
    expect(page.locator("#feedback")).to_contain_text("谢谢，您的评价已记录（不满意）")

    listed_as(staff, title, rating="dissatisfied")
    sign_in(page, SUPERVISOR, PASSWORD)
    page.goto("/queue?tab=dissatisfied")
    expect(page.get_by_role("link", name="居民不满意")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name=title).click()
    expect(page).to_have_url(re.compile(f"/cases/{case}$"))
    expect(page.locator("dl.case-facts")).to_contain_text("不满意")
    details = page.locator("details#action-reopen")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    details.get_by_label("重新办理的原因").fill("回访复查：居民反映仍不出水，重新办理。")
    details.get_by_role("button", name="重新办理", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/cases/{case}#timeline$"))
    expect(page.locator("dl.case-facts")).to_contain_text("办理中")

    listed_as(staff, title, status="in_progress", rating=None)
    page.goto("/queue?tab=dissatisfied")
    expect(page.get_by_role("link", name=title)).to_have_count(0)
    page.goto(f"/track/{receipt}")
    expect(page.locator(".public-timeline li").last).to_contain_text("重新办理")


# ---------------------------------------------------------------- every residents' page, both widths
def test_the_residents_pages_reached_by_a_link(page: Page) -> None:
    for path, name in (("/notices", "public-notices-board"), ("/notices/ended", "public-notices-ended"),
                       ("/report", "public-report-form"), ("/track", "public-track-form")):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        checked(page, name)
        expect(page.get_by_role("navigation", name="主导航")).not_to_contain_text("我的待办")


def test_the_language_switch_turns_a_residents_page_into_english(page: Page) -> None:
    page.goto("/notices")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Notice board")
    expect(page).to_have_url(re.compile(r"/notices$"))
