"""Fixtures for tests in a real browser: `minqing serve` with the demo loaded, run as a process, and
Debian's headless Chromium driven by Playwright.

One server and one Chromium serve the whole folder (starting them is most of the time); each test gets
a fresh browser context (no cookies, no storage) and page, at each width of `viewport` — 1280 px and
375 px, a phone — unless marked `@desktop_only` or `@phone_only` (tests.browser.support). Tests
share the server's data, so each acts on cases of its own.

A page test, run at both widths:

    def test_the_queue(page: Page) -> None:
        sign_in(page, "li.xiaohong", password)
        page.goto("/queue")
        screenshot(page, "queue")              # build/screenshots/queue-1280.png and queue-375.png
        assert_accessible(page)                # axe-core: nothing serious or critical
        assert_no_horizontal_scroll(page)
        assert_chinese_drawn(page, "h1")

Without /usr/bin/chromium the tests skip, except under CI=true, where they fail: `.ci/run` installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, watch
from tests.e2e.support import minqing, serving

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@dataclass(frozen=True)
class LiveServer:
    """`minqing serve` on a SQLite file with the demo loaded: its base URL and environment."""

    base: str
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        """A bearer token for a member of staff, from `minqing accounts issue-token` (once per name)."""
        if username not in self.tokens:
            issued = minqing(self.env, "accounts", "issue-token", username, "--label", "browser tests")
            self.tokens[username] = issued.splitlines()[-1]
        return self.tokens[username]


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("browser")
    # One client runs every test: the public routes' limit per client (tested in tests/e2e) is raised so
    # that the residents' pages of many tests in one minute are not refused.
    env = {**os.environ, "MINQING_DATABASE_URL": f"sqlite:///{folder / 'minqing.db'}",
           "MINQING_PUBLIC_REQUESTS_PER_MINUTE": "10000"}
    minqing(env, "demo")
    with serving(env, folder) as base:
        yield LiveServer(base, env)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI (.ci/run installs the Debian package chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium, launched once. Playwright gives each launch a fresh profile (a temporary
    user-data directory, removed at close): a launch never sees another's cookies or cache."""
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(params=[DESKTOP, PHONE], ids=lambda size: f"{size['width']}px")
def viewport(request: pytest.FixtureRequest) -> ViewportSize:
    size: ViewportSize = request.param
    return size


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, viewport: ViewportSize) -> Iterator[Page]:
    """A page in a fresh context at the viewport's width (a touch phone at 375 px), in Chinese, with
    relative URLs going to the live server. A request to any other origin is refused; it, an answer of
    500 or above, or an uncaught script error fails the test."""
    phone = viewport == PHONE
    context = browser.new_context(base_url=live_server.base, viewport=viewport, is_mobile=phone,
                                  has_touch=phone, locale="zh-CN", timezone_id="Asia/Shanghai")
    faults = watch(context, live_server.base)
    try:
        yield context.new_page()
    finally:
        context.close()
    faults.assert_none()
