"""Every staff page, at a desk and on a phone: drawn (a screenshot each, in build/screenshots/), accessible
(axe-core), no wider than the screen, its Chinese heading drawn with a Chinese font, and titled. And the
sign-in page with the keyboard alone, where `/` sends people, signing out, and a wrong password.

The pages shown are the demo's (read, never changed), found through the REST API as the worker of 东村."""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from tests.browser.cases import OUTSIDER, PASSWORD, WORKER, Api
from tests.browser.conftest import LiveServer
from tests.browser.support import (
    assert_accessible,
    assert_chinese_drawn,
    assert_no_horizontal_scroll,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.timeout(120)
CHINESE_TITLE = re.compile(r"\S.* · 民情$")
SIGN_IN_FORM = "form[action='/login']"


def demo_case(page: Page, server: LiveServer, **search: str) -> str:
    """The page of the 东村 worker's most recently raised demo case matching `search`."""
    items = Api(page, server, WORKER).get("/demands", limit=1, **search)["items"]
    assert items, f"the demo has no case of 东村 with {search}"
    return f"/cases/{items[0]['id']}"


def first_link(page: Page, listing: str, link: str) -> str:
    """Where the first link of a list page goes (the list is opened to find it)."""
    page.goto(listing)
    href = page.locator(link).first.get_attribute("href")
    assert href, f"{listing} lists no {link}"
    return href


def a_visit_with_a_demand_raised(page: Page, server: LiveServer) -> str:
    api = Api(page, server, WORKER)
    [item] = api.get("/demands", limit=1, channel="visit")["items"]
    visit_id = api.get(f"/demands/{item['id']}")["visit_id"]
    return f"/visits/{visit_id}"


def a_case_of_xicun(page: Page, server: LiveServer) -> str:
    items = Api(page, server, OUTSIDER).get("/demands", limit=1)["items"]
    return f"/cases/{items[0]['id']}"


def refused_form(page: Page, server: LiveServer) -> str:
    """The page a form sent with a token other than this browser's gets: sign-out, tampered with."""
    page.goto("/account")
    sign_out = page.locator("form[action='/logout']")
    sign_out.locator("input[name=csrf_token]").evaluate("input => input.value = 'not-this-browsers-token'")
    with page.expect_navigation():
        sign_out.get_by_role("button").click()
    return ""   # the page is shown already


# name → the path of the page (found as the signed-in worker); "" when the finder has shown it itself
PAGES: dict[str, Callable[[Page, LiveServer], str]] = {
    "queue": lambda page, server: "/queue?tab=cells&track=direct&status=in_progress",
    "account": lambda page, server: "/account",
    "raise-a-demand": lambda page, server: "/cases/new",
    "case-direct": lambda page, server: demo_case(page, server, track="direct", status="in_progress"),
    "case-four-deliberations": lambda page, server: demo_case(page, server, category="public_works",
                                                              status="closed", sort="raised_at"),
    "households": lambda page, server: "/households",
    "household-new": lambda page, server: "/households/new",
    "household": lambda page, server: first_link(page, "/households?overdue=true", "table.listing a"),
    "visits": lambda page, server: "/visits",
    "visit": a_visit_with_a_demand_raised,
    "refused-form": refused_form,
    "case-outside-my-cells": a_case_of_xicun,
    "case-not-found": lambda page, server: f"/cases/{uuid4()}",
    "page-not-found": lambda page, server: "/no-such-page",
}
# what each page shows, besides its heading
SHOWING = {
    "queue": "table.queue tbody tr", "account": "form[action='/account/password']",
    "raise-a-demand": "form[action='/cases/new']", "case-direct": "#actions details[open] form",
    "case-four-deliberations": "ol.step-line li.step-done", "households": "table.listing tbody tr",
    "household-new": "form[action='/households/new']", "household": "dl.facts", "visits": "ul.cards li",
    "visit": "ul.needs li", "refused-form": "[role=alert]", "case-outside-my-cells": "[role=alert]",
    "case-not-found": "[role=alert]", "page-not-found": "article.error-page",
}
STATUSES = {"refused-form": 403, "case-outside-my-cells": 404, "case-not-found": 404, "page-not-found": 404}


def assert_page_fits_and_reads(page: Page, name: str) -> None:
    screenshot(page, name)
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


@pytest.mark.parametrize("name", PAGES)
def test_a_staff_page_is_drawn_accessible_and_fits_the_screen(page: Page, live_server: LiveServer,
                                                              name: str) -> None:
    sign_in(page, WORKER, PASSWORD)
    path = PAGES[name](page, live_server)
    if path:
        shown = page.goto(path)
        assert shown is not None and shown.status == STATUSES.get(name, 200), (path, shown)
    expect(page.locator(SHOWING[name]).first).to_be_visible()
    if name != "page-not-found":  # an address no route knows is answered before anyone is signed in
        expect(page.locator("header nav a[href='/queue']")).to_be_visible()   # the signed-in menu
    assert_page_fits_and_reads(page, name)
    assert_chinese_drawn(page, "h1")
    expect(page).to_have_title(CHINESE_TITLE)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_the_sign_in_page_is_drawn_accessible_and_fits_the_screen(page: Page) -> None:
    page.goto("/login")
    assert_page_fits_and_reads(page, "sign-in")
    assert_chinese_drawn(page, "h1")
    expect(page).to_have_title("登录 · 民情")


def test_the_queue_in_english(page: Page) -> None:
    sign_in(page, WORKER, PASSWORD)
    page.goto("/queue")
    page.get_by_role("link", name="English").click()

    expect(page).to_have_url(re.compile(r"/queue$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("My queue")
    expect(page).to_have_title("My queue · Minqing")
    assert_page_fits_and_reads(page, "queue-en")


# ---------------------------------------------------------------- signing in and out
def focused(page: Page) -> str:
    """The focused element, as tag[name] (or its text for a button)."""
    found: str = page.evaluate("""() => { const e = document.activeElement;
        return e.tagName.toLowerCase() + '[' + (e.getAttribute('name') || e.textContent.trim()) + ']'; }""")
    return found


def test_the_sign_in_form_is_reached_in_order_with_tab_and_shows_where_the_focus_is(page: Page) -> None:
    page.goto("/login")
    page.locator("a.skip").focus()   # from the top of the page, not where the page put the focus
    reached = [focused(page)]
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(focused(page))
        outline = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
            return [s.outlineStyle, parseFloat(s.outlineWidth)]; }""")
        assert outline[0] != "none" and outline[1] >= 2, f"{reached[-1]}: no visible focus outline {outline}"
        if reached[-1] == "button[登录]":
            break
    fields = ["input[username]", "input[password]", "button[登录]"]
    assert fields[0] in reached, reached
    start = reached.index(fields[0])
    assert reached[start:start + 3] == fields, reached


def test_a_worker_signs_in_with_the_keyboard_alone(page: Page) -> None:
    page.goto("/login")
    expect(page.locator(f"{SIGN_IN_FORM} input[name=username]")).to_be_focused()  # the page starts there
    page.keyboard.type(WORKER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/queue$"))
    expect(page.locator("h1")).to_have_text("我的待办")


def test_the_front_door_sends_people_to_sign_in_or_to_their_queue(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))

    sign_in(page, WORKER, PASSWORD)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/queue$"))


def test_signing_out_ends_the_session(page: Page) -> None:
    sign_in(page, WORKER, PASSWORD)
    page.goto("/account")
    page.get_by_role("button", name="退出登录").click()

    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/queue")
    expect(page).to_have_url(re.compile(r"/login\?next=/queue$"))
    expect(page.locator("h1")).to_have_text("登录")


def test_a_wrong_password_is_said_in_chinese_beside_the_form_keeping_the_user_name(page: Page) -> None:
    """As 唐丽华 (南岭村), whom no other test signs in: her failures count towards a wait."""
    page.goto("/login")
    form = page.locator(SIGN_IN_FORM)
    form.get_by_label("用户名").fill("tang.lihua")
    form.get_by_label("密码").fill("not-her-password")
    form.get_by_role("button", name="登录").click()

    expect(form.get_by_role("alert")).to_have_text("用户名或密码错误。")
    expect(form.get_by_label("用户名")).to_have_value("tang.lihua")
    expect(form.get_by_label("密码")).to_have_value("")
    expect(page).to_have_title("登录 · 民情")
    assert_chinese_drawn(page, f"{SIGN_IN_FORM} [role=alert]")
    assert_page_fits_and_reads(page, "sign-in-wrong-password")

    form.get_by_label("密码").fill(PASSWORD)   # and right the second time: her count starts again
    form.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/queue$"))
