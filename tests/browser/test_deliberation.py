"""A major matter (重大事项) of a village through the pages, in a browser: the worker of 东村 raises it and
takes it through 四议两公开 with the forms the case page offers, a step sent back and redone, an inquorate
vote and a quorate one, the notice period running out, to the implementation result made public; a
refused form says why in Chinese beside the field, keeping what was typed; and the language switch.

The notice period cannot run out through the pages alone: a notice stays up at least a day, and every
step happens no earlier than the one before, the raising included (which the pages record as now). So
this module has a server of its own whose clock the test moves (tests.browser.clocked), as tests/e2e
move the Application's clock; the walkthrough waits for nothing else and the domain decides everything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import LiveServer
from tests.browser.support import (
    CJK,
    assert_accessible,
    assert_chinese_drawn,
    assert_no_horizontal_scroll,
    desktop_only,
    phone_only,
    screenshot,
    sign_in,
)
from tests.e2e.support import minqing, serving

pytestmark = pytest.mark.timeout(180)

PASSWORD = "qingshui-demo"
WORKER = "li.xiaohong"                   # the demo's worker over 东村
WORKER_NAME = "李晓红（东村网格员）"       # her display name (api/demo/content.py)
CELL = "qingshui.dongcun.g1"             # 东村一组
MAJOR = "public_works"                   # 村级公共工程（重大事项）: 四议两公开 (village_township.toml)
STEPS_ZH = ["党支部会提议", "“两委”会商议", "党员大会审议", "村民代表会议或村民会议决议", "决议公开",
            "组织实施", "实施结果公开"]
STEPS_EN = ["party branch proposal", "two-committee consultation", "party members' assembly review",
            "villagers' resolution", "resolution made public", "implementation", "result made public"]
DAY = 24 * 3600


# ---------------------------------------------------------------- a server whose clock the test moves
@dataclass(frozen=True)
class ServerClock:
    """How far the server's clock is ahead of the real time (tests.browser.clocked reads the file)."""

    file: Path

    def let_days_pass(self, days: int) -> None:
        self.file.write_text(str(days * DAY + self.ahead()))

    def ahead(self) -> float:
        return float(self.file.read_text() or 0)


@pytest.fixture(scope="module")
def server_clock(tmp_path_factory: pytest.TempPathFactory) -> ServerClock:
    clock = ServerClock(tmp_path_factory.mktemp("clock") / "seconds-ahead")
    clock.file.write_text("0")
    return clock


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, server_clock: ServerClock) -> Iterator[LiveServer]:
    """This module's own `minqing serve` with the demo loaded, its clock read from `server_clock`."""
    folder = tmp_path_factory.mktemp("deliberation")
    env = {**os.environ, "MINQING_DATABASE_URL": f"sqlite:///{folder / 'minqing.db'}",
           "MINQING_CLOCK_FILE": str(server_clock.file)}
    minqing(env, "demo")
    with serving(env, folder, module="tests.browser.clocked") as base:
        yield LiveServer(base, env)


# ---------------------------------------------------------------- the pages, as a person uses them
def sign_in_as_worker(page: Page) -> None:
    sign_in(page, WORKER, PASSWORD)


def checked(page: Page, name: str | None = None) -> None:
    """The page passes axe-core and fits its width; with a name, screenshot it."""
    if name:
        screenshot(page, name)
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


def action_form(page: Page, action: str) -> Locator:
    """The form of an action the case page offers now (opened if it is folded away)."""
    form = page.locator(f"form[data-action={action}]")
    expect(form, f"the case page offers {action}").to_have_count(1)
    details = page.locator(f"details#action-{action}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return form


def fill(form: Locator, fields: dict[str, str | list[str]]) -> None:
    for name, value in fields.items():
        control = form.locator(f"[name={name}]")
        if isinstance(value, list):         # a group of checkboxes: exactly these ticked
            for box in control.all():
                box.set_checked(box.get_attribute("value") in value)
        elif control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)


def submit(form: Locator) -> None:
    page = form.page
    with page.expect_navigation():
        form.locator("button[type=submit]:not([formaction])").click()


def act(page: Page, action: str, **fields: str | list[str]) -> None:
    """Fill in and send an action's form; it is recorded (the case page again, no rejection)."""
    form = action_form(page, action)
    fill(form, fields)
    submit(form)
    expect(page.locator(".form-error")).to_have_count(0)
    assert re.search(r"/cases/[0-9a-f-]{36}(#timeline)?$", page.url), page.url


def raise_major_matter(page: Page, title: str) -> str:
    """Raise a demand on /cases/new in 东村一组 as the public works it is; the case's path."""
    page.goto("/cases/new")
    form = page.locator("form[action='/cases/new']")
    fill(form, {"channel": "reception_day", "cell_id": CELL, "category": MAJOR, "title": title,
                "description": "村民提出在村委会旁空地修建文化广场", "resident_name": "王秀兰",
                "resident_phone": "13912345678"})
    submit(form)
    path = re.sub(r"#.*$", "", page.url.removeprefix(page.url.split("/cases/")[0]))
    assert re.fullmatch(r"/cases/[0-9a-f-]{36}", path), page.url
    return path


def step_line(page: Page) -> list[tuple[str, str]]:
    """The step line as (title, state class) pairs."""
    found: list[tuple[str, str]] = []
    for item in page.locator("ol.step-line > li").all():
        state = next(c for c in (item.get_attribute("class") or "").split() if c.startswith("step-"))
        found.append((item.locator(".step-title").inner_text().strip(), state))
    return found


def timeline(page: Page) -> str:
    return page.locator("#timeline").inner_text()


# ---------------------------------------------------------------- the API, to put cases in a state
def api(page: Page, server: LiveServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = page.request.post(f"/api/v1/demands{path}", data=body,
                               headers={"Authorization": f"Bearer {server.token(WORKER)}"})
    assert answer.ok, answer.text()
    found: dict[str, Any] = answer.json()
    return found


def awaiting_vote(page: Page, server: LiveServer, title: str) -> str:
    """A 四议两公开 case of 东村一组 whose three meetings endorsed it: its path."""
    case = api(page, server, "", {"channel": "reception_day", "title": title, "cell_id": CELL})["id"]
    api(page, server, f"/{case}/triage", {"category": MAJOR})
    for step in ("branch_proposal", "two_committees", "members_assembly"):
        api(page, server, f"/{case}/discuss", {"step": step, "outcome": "endorsed"})
    return f"/cases/{case}"


# ---------------------------------------------------------------- the walkthrough
@desktop_only
def test_a_worker_takes_a_major_matter_through_all_six_steps_with_the_case_pages_forms(
        page: Page, server_clock: ServerClock) -> None:
    sign_in_as_worker(page)
    page.goto("/cases/new")
    checked(page, "deliberation-raise")
    case = raise_major_matter(page, "东村修建文化广场")
    assert page.locator("h1").inner_text() == "东村修建文化广场"
    checked(page, "deliberation-raised")

    act(page, "triage", category=MAJOR)
    assert [state for _title, state in step_line(page)] == ["step-current"] + ["step-todo"] * 6
    act(page, "discuss", step="branch_proposal", outcome="endorsed", attendees="张支书\n李委员\n王委员")
    act(page, "discuss", step="two_committees", outcome="returned", summary="选址再议")
    # sent back: round 2 starts again at the branch's proposal, the return marked on the step line
    line = step_line(page)
    assert line[0] == ("党支部会提议", "step-current"), line
    expect(page.locator("ol.step-line > li").nth(1)).to_contain_text("第 1 轮退回重议")
    assert "第 2 轮" in page.locator(".case-facts").inner_text()
    checked(page, "deliberation-returned")
    for step in ("branch_proposal", "two_committees", "members_assembly"):
        act(page, "discuss", step=step, outcome="endorsed")
    assert step_line(page)[3] == ("村民代表会议或村民会议决议", "step-current")

    # the vote: the statute's outcome shows (htmx) before anything is recorded
    vote = action_form(page, "vote")
    preview = page.locator("#vote-preview")
    expect(preview).to_have_text("填入人数即可看到表决结果")
    fill(vote, {"body": "representatives", "members": "30", "present": "12", "in_favour": "10",
                "against": "1", "abstained": "1"})
    expect(preview).to_contain_text("不足法定人数，表决无效")
    expect(preview).to_contain_text("法定人数 20")               # two thirds of 30 members
    checked(page, "deliberation-vote-inquorate")
    submit(vote)
    expect(page.locator("#timeline")).to_contain_text("应到 30 实到 12：不足法定人数，表决无效")
    assert step_line(page)[3][1] == "step-current"            # an invalid vote leaves the case where it was

    vote = action_form(page, "vote")
    fill(vote, {"body": "representatives", "members": "30", "present": "24", "in_favour": "20",
                "against": "3", "abstained": "1"})
    expect(preview).to_contain_text("通过：应到 30 实到 24（法定人数 20），赞成 20（需 13）")
    checked(page, "deliberation-vote-quorate")
    submit(vote)
    assert step_line(page)[4] == ("决议公开", "step-current")

    act(page, "publicize", kind="resolution", channels=["notice_board", "loudspeaker"],
        text="决议：在村委会旁空地修建文化广场，预算18万元", period_days="7")
    checked(page, "deliberation-resolution-notice")
    # implementation may not be marked done while the resolution notice is up: no form offers it
    expect(page.locator("form[data-action=resolve]")).to_have_count(0)

    server_clock.let_days_pass(8)      # the seven days of the notice run out
    page.goto(case)
    act(page, "progress", percent="100", summary="广场铺装、路灯、健身器材全部完工")
    act(page, "resolve", summary="文化广场已建成并投入使用")
    act(page, "publicize", kind="result", channels=["notice_board"], text="实施结果公开：实际支出17.2万元")

    assert step_line(page) == [(title, "step-done") for title in STEPS_ZH]
    assert page.locator("ol.step-line .step-state").all_inner_texts() == ["✓ 已完成"] * 7
    assert not page.locator("#actions form[data-action=publicize]").count()
    history = timeline(page)
    for said in (f"{WORKER_NAME} 记录“两委”会商议（第 1 轮）：退回重议",
                 f"{WORKER_NAME} 记录党员大会审议（第 2 轮）：同意",
                 "不足法定人数，表决无效", "赞成 20", f"{WORKER_NAME} 发布决议公开",
                 f"{WORKER_NAME} 标记已解决：文化广场已建成并投入使用", "实施结果公开：实际支出17.2万元"):
        assert said in history, f"{said!r} not in the history:\n{history}"
    assert WORKER not in history, "the history names staff by their display names, not user names"
    assert_chinese_drawn(page, "#timeline li p")
    checked(page, "deliberation-done")


@phone_only
def test_on_a_phone_a_major_matter_is_raised_and_deliberated_within_the_screen(page: Page) -> None:
    sign_in_as_worker(page)
    page.goto("/cases/new")
    checked(page, "deliberation-raise")
    raise_major_matter(page, "东村二组修建便民桥")
    checked(page, "deliberation-raised")
    act(page, "triage", category=MAJOR)
    act(page, "discuss", step="branch_proposal", outcome="endorsed")
    act(page, "discuss", step="two_committees", outcome="returned", summary="造价过高，再议")
    assert_chinese_drawn(page, "ol.step-line .step-title")
    checked(page, "deliberation-returned")


# ---------------------------------------------------------------- refused forms
def test_a_refused_raise_shows_the_domains_error_beside_its_field_in_chinese_keeping_what_was_typed(
        page: Page) -> None:
    sign_in_as_worker(page)
    page.goto("/cases/new")
    form = page.locator("form[action='/cases/new']")
    typed = {"channel": "visit", "cell_id": CELL, "category": MAJOR, "title": "东村三组修缮祠堂",
             "description": "祠堂屋顶漏雨", "resident_name": "赵德明", "resident_phone": "13700001111",
             "visit_id": str(uuid4())}                 # a visit that does not exist
    fill(form, typed)
    submit(form)
    field = page.locator("#visit_id")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "visit_id-error")
    error = page.locator("#visit_id-error")
    said = error.inner_text()
    assert CJK.search(said) and "网格内没有" in said, said
    # beside the field: right after the label that holds it
    expect(page.locator("label:has(#visit_id) + #visit_id-error")).to_have_count(1)
    form = page.locator("form[action='/cases/new']")
    for name, value in typed.items():
        expect(form.locator(f"[name={name}]")).to_have_value(value)
    checked(page, "raise-error")


def test_a_refused_vote_says_why_in_chinese_in_the_vote_form_keeping_the_counts_typed(
        page: Page, live_server: LiveServer) -> None:
    sign_in_as_worker(page)
    case = awaiting_vote(page, live_server, "东村一组硬化村道")
    page.goto(case)
    vote = action_form(page, "vote")
    counts = {"members": "30", "present": "12", "in_favour": "10", "against": "2", "abstained": "1"}
    fill(vote, {"body": "representatives", **counts, "attendees": "张支书\n李委员"})
    expect(page.locator("#vote-preview")).to_contain_text("多于实到 12 人")   # seen before sending, too
    screenshot(page, "vote-form")
    submit(vote)

    vote = page.locator("form[data-action=vote]")
    alert = vote.locator("[role=alert]")
    expect(alert).to_have_count(1)
    said = alert.inner_text()
    assert CJK.search(said) and "赞成 10 + 反对 2 + 弃权 1，多于实到 12 人" in said, said
    for name in ("in_favour", "against", "abstained"):     # and beside each count it is about
        expect(page.locator(f"#vote-{name}")).to_have_attribute("aria-invalid", "true")
        beside = page.locator(f"label:has(#vote-{name}) + #vote-{name}-error")
        expect(beside).to_contain_text("多于实到 12 人")
    expect(page.locator("#vote-present")).not_to_have_attribute("aria-invalid", "true")
    for name, value in {**counts, "attendees": "张支书\n李委员"}.items():
        expect(vote.locator(f"[name={name}]")).to_have_value(value)
    expect(page.locator("#timeline")).not_to_contain_text("表决：应到 30")   # nothing was recorded
    checked(page, "vote-error")

    # a value the form's model refuses is marked on its own field
    fill(vote, {"members": "20000000"})
    submit(vote)
    members = page.locator("#vote-members")
    expect(members).to_have_attribute("aria-invalid", "true")
    expect(members).to_have_attribute("aria-describedby", "vote-members-error")
    expect(page.locator("label:has(#vote-members) + #vote-members-error")).to_have_text("此项填写有误")
    expect(members).to_have_value("20000000")
    expect(page.locator("#vote-present")).to_have_value("12")
    checked(page, "vote-field-error")


# ---------------------------------------------------------------- languages
def test_the_language_switch_shows_english_remembers_it_and_switches_back(
        page: Page, live_server: LiveServer) -> None:
    sign_in_as_worker(page)
    case = awaiting_vote(page, live_server, "东村一组新建垃圾收集点")
    page.goto(case)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert [title for title, _state in step_line(page)] == STEPS_ZH

    with page.expect_navigation():
        page.get_by_role("link", name="English").click()
    assert page.url.endswith(case)
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("#steps-title")).to_have_text("Steps")
    assert [title for title, _state in step_line(page)] == STEPS_EN
    expect(page.locator("summary", has_text="Record the vote")).to_have_count(1)
    checked(page, "case-english")

    page.goto("/queue")                                  # a new page load: still English
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.get_by_role("link", name="My queue")).to_be_visible()
    checked(page, "queue-english")

    with page.expect_navigation():
        page.get_by_role("link", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.get_by_role("link", name="我的待办")).to_be_visible()
    page.goto(case)
    expect(page.locator("#steps-title")).to_have_text("议事步骤")
    assert [title for title, _state in step_line(page)] == STEPS_ZH
    checked(page)
