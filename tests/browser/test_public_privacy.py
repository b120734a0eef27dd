"""No residents' page of the demo shows anyone's name or phone: every page of the notice board (ended notices
too), the follow page of every case behind a notice and of a share of the others, the answer page of every
objection, all fetched over HTTP from the live server and searched for every resident's and household head's
name and phone the demo holds (read as a supervisor through the REST API), every objector's phone, and the
names and user names of the demo's staff (api.demo.content)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Page

from api.demo.content import STAFF
from tests.browser.cases import SUPERVISOR, Api
from tests.browser.conftest import LiveServer
from tests.browser.support import desktop_only

pytestmark = pytest.mark.timeout(300)

OTHER_CASES = 60  # follow pages read besides those of the cases behind notices


def every_item(api: Api, path: str, **params: str) -> Iterator[dict[str, Any]]:
    """Every item of a staff list, page by page."""
    cursor = ""
    while True:
        page = api.get(path, limit=500, **({"cursor": cursor} if cursor else {}), **params)
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


def every_notice(request: APIRequestContext, ended: bool) -> Iterator[dict[str, Any]]:
    cursor = ""
    while True:
        params = {"ended": str(ended).lower(), "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = request.get("/api/v1/notices", params=params).json()
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


def board_pages(request: APIRequestContext, path: str) -> Iterator[str]:
    """Every page of the notice board at `path`, following its "more" link."""
    url: str | None = path
    while url is not None:
        html = request.get(url).text()
        yield html
        more = re.search(r'href="([^"]*cursor=[^"]*)"', html)
        url = more.group(1).replace("&amp;", "&") if more else None


@desktop_only
def test_no_residents_page_of_the_demo_shows_a_name_or_a_phone(page: Page, live_server: LiveServer) -> None:
    staff = Api(page, live_server, SUPERVISOR)  # the township's supervisor: every case and household
    cases = list(every_item(staff, "/demands"))
    residents = [staff.get(f"/demands/{case['id']}") for case in cases]
    households = [staff.get(f"/households/{home['id']}") for home in every_item(staff, "/households")]
    notices = [*every_notice(page.request, ended=False), *every_notice(page.request, ended=True)]
    behind_notices = {notice["case_id"] for notice in notices}
    objections = [entry["data"] for case in behind_notices for entry in staff.get(f"/demands/{case}/history")
                  if entry["type"] == "ObjectionLodged"]
    assert notices and objections and all(o["receipt"] for o in objections)

    names = {r["resident_name"] for r in residents} | {h["head_name"] for h in households} | {
        member.display_name.split("（")[0] for member in STAFF} | {member.username for member in STAFF}
    phones = {r["resident_phone"] for r in residents} | {h["phone"] for h in households} | {
        o["phone"] for o in objections}
    names, phones = {n for n in names if n}, {p for p in phones if p}
    assert len(names) > 100 and len(phones) > 100, (len(names), len(phones))
    shown_as = [*names, *phones, *(f"*{phone[-4:]}" for phone in phones)]  # a masked phone is a phone too

    receipts = {case["receipt"] for case in cases if case["id"] in behind_notices} | {
        case["receipt"] for case in cases[:OTHER_CASES]}
    pages: dict[str, str] = {}
    for path in ("/notices", "/notices/ended"):
        for number, html in enumerate(board_pages(page.request, path)):
            pages[f"{path} page {number + 1}"] = html
    for path in ("/report", "/track", *(f"/track/{receipt}" for receipt in receipts),
                 *(f"/track/objection/{o['receipt']}" for o in objections)):
        response = page.request.get(path)
        assert response.status == 200, path
        pages[path] = response.text()
    assert len(pages) > OTHER_CASES

    found = {path: [person for person in shown_as if person in html] for path, html in pages.items()}
    assert {path: people for path, people in found.items() if people} == {}
