"""What a browser test checks on a page: screenshots, accessibility (axe-core), no sideways scrolling on a
phone, Chinese drawn with a Chinese font, nothing fetched from another origin, no server or script
error; and signing in.

Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright; axe-core is the file vendored in
tests/browser/axe/ (see the README there for its version and origin).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Response, Route, ViewportSize, WebError

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own switches stay; these keep a test run quiet and offline: no sandbox (tests run as
# root in containers), no GPU, no QUIC, and none of the browser's own calls home.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
SCREENSHOTS = ROOT / "build" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 812}
# A test runs at both widths (the `viewport` fixture); marked with one of these, at that one only.
desktop_only = pytest.mark.parametrize("viewport", [DESKTOP], indirect=True, ids=["1280px"])
phone_only = pytest.mark.parametrize("viewport", [PHONE], indirect=True, ids=["375px"])

AXE = Path(__file__).parent / "axe" / "axe.min.js"
# axe-core 4.14.1's axe.min.js, as Deque publishes it in the package's sri-history.json.
AXE_SRI = "sha256-KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="
FAILING_IMPACTS = ("serious", "critical")

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC")


# ---------------------------------------------------------------- what every page test writes
def screenshot(page: Page, name: str) -> Path:
    """The whole page as build/screenshots/NAME-WIDTH.png (WIDTH from the page's viewport)."""
    assert page.viewport_size is not None
    path = SCREENSHOTS / f"{name}-{page.viewport_size['width']}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


def assert_no_horizontal_scroll(page: Page) -> None:
    """Nothing is wider than the viewport. Phones lay a page out at 980 px unless it says
    `<meta name="viewport" content="width=device-width">`, and zoom out to fit wider content, so a
    page missing either shows here as wider than the viewport."""
    assert page.viewport_size is not None
    viewport = page.viewport_size["width"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport, (f"{page.url} is {width} px wide in a {viewport} px viewport; "
                               f"widest elements: {_widest(page, viewport)}")


def _widest(page: Page, viewport: int) -> list[str]:
    """The elements reaching past the viewport, as tag#id.class (width), at most five."""
    found: list[str] = page.evaluate(
        """viewport => [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > viewport)
            .slice(0, 5)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + [...e.classList].map(name => '.' + name).join('')
                      + ' (' + Math.round(e.getBoundingClientRect().right) + ' px)')""", viewport)
    return found


# ---------------------------------------------------------------- accessibility
@cache
def axe_source() -> str:
    """axe.min.js, refused if it is not the file its SRI hash names."""
    content = AXE.read_bytes()
    digest = "sha256-" + base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert digest == AXE_SRI, f"{AXE} is not axe-core 4.14.1's axe.min.js ({digest})"
    return content.decode()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, with every rule axe runs by default.

    The script is evaluated through the DevTools protocol rather than added as a <script> tag: a page's
    Content-Security-Policy (script-src 'self') would refuse an inline tag, and must not be relaxed
    for tests."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    violations: list[dict[str, Any]] = page.evaluate("axe.run(document).then(results => results.violations)")
    return violations


def assert_accessible(page: Page) -> None:
    """axe-core finds no violation of impact serious or critical on the page."""
    failing = [v for v in axe_violations(page) if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"axe-core on {page.url}:\n" + "\n".join(_described(v) for v in failing)


def _described(violation: dict[str, Any]) -> str:
    lines = [f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>"]
    for node in violation["nodes"]:
        lines.append(f"    {json.dumps(node['target'], ensure_ascii=False)} {node['html']}")
        lines.extend(f"      {line}" for line in node["failureSummary"].splitlines())
    return "\n".join(lines)


# ---------------------------------------------------------------- fonts
def fonts_drawing(page: Page, selector: str) -> dict[str, int]:
    """The fonts Chromium drew the text directly inside the first element matching `selector` with:
    family name → glyph count, as the DevTools protocol reports them (CSS.getPlatformFontsForNode)."""
    page.locator(selector).first.wait_for()
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    drawn: dict[str, int] = {}
    for font in fonts:
        drawn[font["familyName"]] = drawn.get(font["familyName"], 0) + font["glyphCount"]
    return drawn


def assert_chinese_drawn(page: Page, selector: str) -> None:
    """Every Chinese character directly inside the element is drawn with Noto Sans (or Serif) CJK SC,
    the Simplified Chinese faces of fonts-noto-cjk: not with a Japanese face, and not as empty boxes."""
    text = page.locator(selector).first.evaluate(
        "e => [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.data).join('')")
    chinese = len(CJK.findall(text))
    assert chinese, f"no Chinese text directly inside {selector!r}: {text!r}"
    drawn = fonts_drawing(page, selector)
    in_chinese_fonts = sum(count for family, count in drawn.items() if family in CJK_FAMILIES)
    assert in_chinese_fonts >= chinese, (f"{chinese} Chinese characters in {selector!r}, "
                                         f"{in_chinese_fonts} drawn with {CJK_FAMILIES}: {drawn}")


# ---------------------------------------------------------------- what no page may do
@dataclass
class Faults:
    """What went wrong in a browser context beyond what its test looks at: requests to other origins
    (a CDN, a font service; refused), answers of 500 and above, uncaught script errors."""

    other_origins: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)

    def assert_none(self) -> None:
        assert self == Faults(), f"every asset served by Minqing, no 5xx, no script error: {self}"


def watch(context: BrowserContext, base: str) -> Faults:
    """Refuse every request the pages of `context` make to an origin other than `base`, and collect
    those, the server's errors and uncaught script errors as they happen."""
    faults = Faults()

    def route(route: Route) -> None:
        url = route.request.url
        if url == base or url.startswith(base + "/"):
            route.continue_()
        else:
            faults.other_origins.append(url)
            route.abort("blockedbyclient")

    def answered(response: Response) -> None:
        if response.status >= 500:
            faults.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def failed(error: WebError) -> None:
        faults.script_errors.append(f"{error.error.name}: {error.error.message}")

    context.route("**/*", route)
    context.on("response", answered)
    context.on("weberror", failed)
    return faults


# ---------------------------------------------------------------- staff
def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in through the sign-in page (/login: fields `username` and `password`, a submit button),
    waiting until it has sent the browser elsewhere."""
    page.goto("/login")
    form = page.locator("form", has=page.locator("input[name=password]"))
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        form.locator("[type=submit]").click()
    assert "/login" not in page.url, f"{username} was not signed in: {page.url}"
