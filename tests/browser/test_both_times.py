"""The case page as it stood, in a browser: the demo's 六步议事 parking case (§7.4 case 3) as of the evening
of its consultation forum (when things happened) and as known that evening (when they were recorded),
asked through the page's two time fields in the deployment's local time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.browser.cases import GROUP_1, PASSWORD, SUPERVISOR, Api, tagged
from tests.browser.conftest import LiveServer
from tests.browser.support import assert_accessible, sign_in

BEIJING = ZoneInfo("Asia/Shanghai")


def test_the_parking_compact_as_of_the_evening_of_its_forum_and_as_known_then(
        page: Page, live_server: LiveServer) -> None:
    api = Api(page, live_server, SUPERVISOR)
    position = api.post("/demands", {"channel": "reception_day", "title": tagged("东村一组路灯不亮"),
                                      "cell_id": GROUP_1})["position"]
    [parking] = api.listed("小区停车难、宠物扰民", position)
    case = parking["id"]
    history = api.get(f"/demands/{case}/history")
    forum = next(e for e in history if e["type"] == "Discussed" and e["data"]["step"] == "consultation_forum")
    occurred, recorded = (datetime.fromisoformat(forum[key]) for key in ("occurred_at", "recorded_at"))
    assert recorded > occurred                      # its minutes were entered some while after the forum
    evening = (occurred + (recorded - occurred) / 2).astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S")

    sign_in(page, SUPERVISOR, PASSWORD)
    page.goto(f"/cases/{case}")
    page.get_by_label("截至某日（按发生时间，本地时间）").fill(evening)
    with page.expect_navigation():
        page.get_by_role("button", name="查看当时的案件").click()
    expect(page.locator(".as-of-banner")).to_contain_text("按发生时间")
    expect(page.locator("#timeline li")).to_have_count(forum["version"])       # the forum had been held
    assert_accessible(page)

    page.get_by_label("截至某日（按记录时间，本地时间）").fill(evening)
    with page.expect_navigation():
        page.get_by_role("button", name="查看当时的案件").click()
    expect(page.locator(".as-of-banner")).to_contain_text("按记录时间")
    expect(page.locator("#timeline li")).to_have_count(forum["version"] - 1)   # but was not yet recorded
    expect(page.get_by_label("截至某日（按发生时间，本地时间）")).to_have_value(evening)
