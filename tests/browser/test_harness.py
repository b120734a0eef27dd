"""The browser harness itself: Chromium reaches the live demo server, draws Chinese with a Simplified
Chinese font, and the page checks (axe-core, sideways scrolling, other origins, server and script
errors) catch what they are for.

Pages are written into the browser with `set_content`, so each check is seen both passing and failing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright

from tests.browser.conftest import LiveServer
from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    assert_accessible,
    assert_chinese_drawn,
    assert_no_horizontal_scroll,
    axe_violations,
    desktop_only,
    phone_only,
    screenshot,
    watch,
)

pytestmark = pytest.mark.timeout(120)

HEAD = '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
CHINESE = """<!doctype html><html lang="{lang}"><head>""" + HEAD + """<title>民情 诉求</title></head>
<body><main><h1 id="title">东村一组路灯不亮</h1>
<p id="steps">四议两公开：党支部提议、两委会商议、党员大会审议、村民代表会议决议、决议公开、实施结果公开。</p>
<p id="mixed">回执码 Receipt QS-2026-0042，还剩 2 天</p></main></body></html>"""
ACCESSIBLE = """<!doctype html><html lang="zh-CN"><head>""" + HEAD + """<title>登录 · 民情</title></head>
<body><main><h1>登录</h1><form method="post" action="/login">
<label for="username">用户名</label><input id="username" name="username" autocomplete="username">
<label for="password">密码</label><input id="password" name="password" type="password">
<button type="submit">登录</button></form></main></body></html>"""
INACCESSIBLE = """<!doctype html><html lang="zh-CN"><head>""" + HEAD + """<title>登录 · 民情</title></head>
<body><main><h1>登录</h1><img src="/logo.png"><form method="post" action="/login">
<input name="username"><button type="submit">登录</button></form></main></body></html>"""


def test_a_live_server_with_the_demo_answers_the_browser(page: Page, live_server: LiveServer) -> None:
    health = page.goto("/healthz")
    assert health is not None and health.ok
    token = live_server.token("li.xiaohong")  # the demo's worker over 东村
    cases = page.request.get("/api/v1/demands", params={"limit": 5},
                             headers={"Authorization": f"Bearer {token}"})
    assert cases.ok, cases.text()
    items = cases.json()["items"]
    assert len(items) == 5
    assert {item["cell_id"].split(".")[1] for item in items} == {"dongcun"}


def test_chinese_is_drawn_with_the_simplified_chinese_faces_of_noto_cjk(page: Page) -> None:
    page.set_content(CHINESE.format(lang="zh-CN"))
    for element in ("#title", "#steps", "#mixed"):
        assert_chinese_drawn(page, element)
    assert screenshot(page, "harness-chinese").stat().st_size > 0
    assert_no_horizontal_scroll(page)


@desktop_only
def test_chinese_in_a_japanese_page_is_not_taken_for_simplified_chinese(page: Page) -> None:
    page.set_content(CHINESE.format(lang="ja"))
    with pytest.raises(AssertionError, match="Noto Sans CJK JP"):
        assert_chinese_drawn(page, "#title")


@desktop_only
def test_axe_passes_a_labelled_form(page: Page) -> None:
    page.set_content(ACCESSIBLE)
    assert_accessible(page)


@desktop_only
def test_axe_fails_on_a_missing_label_and_a_missing_alt_naming_rule_and_element(page: Page) -> None:
    page.set_content(INACCESSIBLE)
    found = {v["id"]: v["impact"] for v in axe_violations(page)}
    assert found["image-alt"] == "critical" and found["label"] == "critical", found
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    message = str(failure.value)
    assert "- image-alt (critical): Images must have alternative text" in message
    assert '["img"] <img src="/logo.png">' in message
    assert "- label (critical)" in message and '<input name="username">' in message


@phone_only
def test_a_phone_page_wider_than_the_screen_or_without_a_viewport_tag_is_caught(page: Page) -> None:
    page.set_content(f"<!doctype html><html><head>{HEAD}</head><body><p>还剩 2 天</p></body></html>")
    assert_no_horizontal_scroll(page)

    page.set_content(f'<!doctype html><html><head>{HEAD}</head><body><table id="queue" style="width:600px">'
                     "<tr><td>回执码</td></tr></table></body></html>")
    with pytest.raises(AssertionError, match=r"608 px wide in a 375 px viewport.*table#queue \(608 px\)"):
        assert_no_horizontal_scroll(page)

    page.goto("about:blank")  # a new document: set_content alone keeps the last one's viewport tag
    page.set_content("<!doctype html><html><head></head><body><p>还剩 2 天</p></body></html>")
    with pytest.raises(AssertionError, match=r"9\d\d px wide in a 375 px viewport"):
        assert_no_horizontal_scroll(page)


def test_other_origins_server_errors_and_script_errors_are_caught(browser: Browser,
                                                                  live_server: LiveServer) -> None:
    context = browser.new_context(base_url=live_server.base)
    faults = watch(context, live_server.base)
    context.route(f"{live_server.base}/broken", lambda route: route.fulfill(status=500, body="boom"))
    page = context.new_page()
    page.goto("/healthz")
    page.set_content('<script src="https://cdn.jsdelivr.net/npm/htmx.org@2/dist/htmx.min.js"></script>'
                     f'<link rel="stylesheet" href="{live_server.base}/static/site.css">'
                     '<img src="/broken" alt="">'
                     '<script>document.querySelector("#missing").remove()</script>')
    context.close()
    assert faults.other_origins == ["https://cdn.jsdelivr.net/npm/htmx.org@2/dist/htmx.min.js"]
    assert faults.server_errors == [f"500 GET {live_server.base}/broken"]
    assert faults.script_errors == ["TypeError: Cannot read properties of null (reading 'remove')"]
    with pytest.raises(AssertionError, match="no script error"):
        faults.assert_none()


def test_without_noto_cjk_the_chinese_font_check_fails(playwright: Playwright, tmp_path: Path) -> None:
    """Chromium started with a font configuration that leaves /usr/share/fonts/opentype (where
    fonts-noto-cjk puts its faces) out, as on a machine without the package."""
    config = tmp_path / "fonts.conf"
    config.write_text(f"""<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig><dir>/usr/share/fonts/truetype</dir><cachedir>{tmp_path}/cache</cachedir></fontconfig>""")
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          env={**os.environ, "FONTCONFIG_FILE": str(config)})
    try:
        page = chromium.new_page(locale="zh-CN")
        page.set_content(CHINESE.format(lang="zh-CN"))
        with pytest.raises(AssertionError, match=r"8 Chinese characters in '#title', 0 drawn with"):
            assert_chinese_drawn(page, "#title")
    finally:
        chromium.close()


@desktop_only
def test_the_api_documentation_renders_from_the_projects_own_files(page: Page) -> None:
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .information-container")
    assert "Minqing" in page.locator(".swagger-ui .title").inner_text()
    screenshot(page, "api-docs")
