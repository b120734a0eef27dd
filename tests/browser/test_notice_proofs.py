"""A notice checked in the resident's browser: the board links each notice to its verify page, where our own
script checks the proof with WebCrypto (SHA-256 and Ed25519 in Chromium) and shows each check; it gives the
same answers as the Python verifier on the same proof and on tampered ones; and two saved heads pasted
into its form are shown to be consistent, or not."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from playwright.sync_api import Page, expect

from domain import notice_proof
from tests.browser.cases import WORKER, Api, notice_up, tagged
from tests.browser.conftest import LiveServer
from tests.browser.support import (
    assert_accessible,
    assert_chinese_drawn,
    assert_no_horizontal_scroll,
    desktop_only,
    screenshot,
)
from tests.e2e.test_key_rotation import own_keys, rotated_notice
from tests.e2e.test_notice_proofs import tampered

pytestmark = pytest.mark.timeout(120)
NOTICE = "resolution-1-1"


def fetched(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def sealed_notice(page: Page, live_server: LiveServer, title: str, seconds: float = 30) -> tuple[UUID, Any]:
    """A case of its own with a resolution notice up, once the server's sealer has sealed it: its proof."""
    case = notice_up(Api(page, live_server, WORKER), title)
    deadline = time.monotonic() + seconds
    while True:
        try:
            return case, fetched(f"{live_server.base}/api/v1/public/notices/{case}/{NOTICE}/proof")
        except urllib.error.HTTPError as error:  # the board's view, then the sealer, a few seconds behind
            assert error.code == 404 and time.monotonic() < deadline, error.read()
            time.sleep(0.5)


def test_a_resident_follows_a_notice_to_its_verify_page_and_sees_every_check_pass(
        page: Page, live_server: LiveServer) -> None:
    title = tagged("校验公示路灯")
    case, proof = sealed_notice(page, live_server, title)
    page.goto("/notices?cell=qingshui.dongcun")
    card = page.locator(".notice-card", has_text=title)
    expect(card).to_contain_text(f"已封存于 {proof['head']['tree_size']:,} 条记录的已签名树头下")
    card.scroll_into_view_if_needed()
    screenshot(page, "notice-board-sealed")
    assert_no_horizontal_scroll(page)
    card.get_by_role("button", name="校验").click()
    expect(page).to_have_url(f"{live_server.base}/notices/{case}/{NOTICE}/verify")
    expect(page.locator("#proof-status")).to_have_text("校验通过：此公示与已签名树头下公布时一致")
    expect(page.locator("#checks li[data-ok=true]")).to_have_count(len(notice_proof.CHECKS))
    expect(page.locator("#key-id")).to_have_text(proof["public_key"]["key_id"])
    expect(page.locator("#timeline")).to_contain_text(proof["notice"]["text"])
    expect(page.locator("#download-proof")).to_be_visible()
    with page.expect_download() as download:
        page.locator("#download-head").click()
    assert json.loads(download.value.path().read_text()) == proof["head"]
    screenshot(page, "notice-verify")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    assert_chinese_drawn(page, "h1")


def in_the_browser(page: Page, proof: Any, key: str | list[str]) -> Any:
    return page.evaluate("""async ([proof, key]) => {
        try {
            const report = await MinqingProof.verifyNotice(proof, key);
            return {checks: report.checks.map((c) => [c.name, c.ok, c.problem]), timeline: report.timeline};
        } catch (error) { return {unreadable: true}; }
    }""", [proof, key])


def in_python(proof: Any, key: str) -> Any:
    try:
        report = notice_proof.verify(proof, bytes.fromhex(key))
    except notice_proof.ProofUnreadable:
        return {"unreadable": True}
    return {"checks": [[c.name, c.ok, c.problem] for c in report.checks], "timeline": report.timeline}


@desktop_only
def test_the_browser_and_the_python_verifier_give_the_same_answers_on_a_proof_and_on_tampered_ones(
        page: Page, live_server: LiveServer) -> None:
    case, proof = sealed_notice(page, live_server, tagged("两种校验一致"))
    page.goto(f"/notices/{case}/{NOTICE}/verify")
    key = proof["public_key"]["public_key"]
    answers = {"as served": (proof, key),
               **{name: (variant, key) for name, variant in tampered(proof).items()},
               "another key": (proof, "11" * 32), "not a proof": ({"format": "something else"}, key)}
    for name, (variant, pinned) in answers.items():
        browser, python = in_the_browser(page, variant, pinned), in_python(variant, pinned)
        assert browser == python, name
        passed = not python.get("unreadable") and all(ok for _, ok, _ in python["checks"])
        assert passed == (name == "as served"), name


@desktop_only
def test_two_saved_heads_pasted_into_the_page_are_shown_consistent_and_a_forged_one_is_not(
        page: Page, live_server: LiveServer) -> None:
    case, proof = sealed_notice(page, live_server, tagged("两个树头"))
    Api(page, live_server, WORKER).command(case, "note", text="封存后再记一笔")
    older = proof["head"]
    deadline = time.monotonic() + 30
    heads = f"{live_server.base}/api/v1/log/heads?after={older['tree_size']}&limit=1"
    while (newer := fetched(heads)["heads"]) == []:
        assert time.monotonic() < deadline, "no newer head was signed"
        time.sleep(0.5)
    page.goto(f"/notices/{case}/{NOTICE}/verify")
    form = page.locator("#heads-form")
    form.locator("textarea[name=older]").fill(json.dumps(proof))      # a whole proof holds its head
    form.locator("textarea[name=newer]").fill(json.dumps(newer[0]))
    form.get_by_role("button", name="校验两个树头").click()
    expect(page.locator("#heads-status")).to_have_text(
        f"从 {older['tree_size']} 条到 {newer[0]['tree_size']} 条记录，记录只增未改")
    expect(page.locator("#heads-checks li[data-ok=true]")).to_have_count(3)
    form.locator("textarea[name=newer]").fill(json.dumps({**newer[0], "root_hash": older["root_hash"]}))
    form.get_by_role("button", name="校验两个树头").click()
    expect(page.locator("#heads-checks li[data-ok=false]")).not_to_have_count(0)
    expect(page.locator("#heads-status")).to_have_text("未能证实：两个树头并非都是真的，或记录并非只增未改")
    screenshot(page, "notice-verify-heads")


@desktop_only
def test_a_notice_sealed_before_the_key_was_rotated_verifies_with_the_retired_key_the_server_lists(
        page: Page, live_server: LiveServer, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    own_keys(tmp_path / "keys", database_url, monkeypatch)
    _before, proof, keys, _grew = rotated_notice(database_url)
    retired = keys["retired"][0]
    served = [keys["public_key"], retired["public_key"]]
    case, _proof = sealed_notice(page, live_server, tagged("换钥之前封存"))
    # the page, given the rotated log's proof and keys as a server would serve them
    page.route(f"**/api/v1/public/notices/{case}/{NOTICE}/proof",
               lambda route: route.fulfill(body=json.dumps(proof), content_type="application/json"))
    page.route("**/api/v1/log/public-key",
               lambda route: route.fulfill(body=json.dumps(keys), content_type="application/json"))
    page.goto(f"/notices/{case}/{NOTICE}/verify")
    expect(page.locator("#proof-status")).to_have_text("校验通过：此公示与已签名树头下公布时一致")
    expect(page.locator("#key-id")).to_have_text(retired["key_id"])
    expect(page.locator("#key-retired")).to_be_visible()
    expect(page.locator("#key-retired")).to_contain_text("本记录已停用的密钥")
    screenshot(page, "notice-verify-retired-key")
    for pinned in (served, [keys["public_key"]]):
        browser = in_the_browser(page, proof, pinned)
        python = notice_proof.verify(proof, [bytes.fromhex(key) for key in pinned])
        assert browser["checks"] == [[c.name, c.ok, c.problem] for c in python.checks]
        assert python.ok == (pinned == served)
