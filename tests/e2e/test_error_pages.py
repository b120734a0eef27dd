"""A page that fails answers an HTML error page in the page's language, with the right status; the API's
paths keep answering problem+json. Page routes of the test (`probe`) run the Application as a page would."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from uuid import UUID

import httpx2
import pytest
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from tests.e2e import support as s
from tests.e2e.support import Api


def probe(api: Api) -> None:
    """Pages that record a note on a case (as a page form does), or fail on a fault of ours."""
    router = APIRouter()

    @router.get("/probe/cases/{demand_id}/note")
    def note(demand_id: UUID, who: str) -> PlainTextResponse:
        api.app.add_note(demand_id, actor=who, text="走访记录")
        return PlainTextResponse("recorded")

    @router.get("/probe/fault")
    def fault() -> PlainTextResponse:
        raise RuntimeError("a fault of ours")

    api.client.app.include_router(router)  # type: ignore[attr-defined]


def is_page(response: httpx2.Response, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"].startswith("text/html")


def test_an_unknown_page_is_a_404_page_in_chinese_or_in_the_remembered_language(api: Api) -> None:
    chinese = api.client.get("/nowhere")
    assert is_page(chinese, 404)
    assert '<html lang="zh-CN">' in chinese.text and "<h1>未找到</h1>" in chinese.text
    assert "返回我的待办" in chinese.text
    api.client.cookies.set("minqing_lang", "en")
    try:
        english = api.client.get("/nowhere", headers={"Accept-Language": "zh-CN"})
    finally:
        api.client.cookies.clear()
    assert is_page(english, 404) and "<h1>Not found</h1>" in english.text
    assert s.problem_type(api.get("/api/v1/nowhere")) == "/problems/not-found"


@pytest.mark.parametrize(("state", "who", "status", "title"), [
    (s.resolved, s.WORKER, 409, "案件已办结，如需继续办理请先重新办理。"),
    (s.triaged, s.REVIEWER, 403, "您的角色无权进行此操作。"),
    (s.triaged, s.OUTSIDER, 404, "案件、住户、走访或账户不存在。"),
], ids=["closed", "not-authorised", "outside-scope"])
def test_a_page_the_domain_refuses_is_an_error_page_with_its_status(
        api: Api, state: Callable[..., UUID], who: str, status: int, title: str) -> None:
    probe(api)
    response = api.client.get(f"/probe/cases/{state(api.app)}/note", params={"who": who})
    assert is_page(response, status), response.text
    assert f"<h1>{title}</h1>" in response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_page_while_the_database_does_not_answer_is_a_503_page(
        start_api: Callable[..., Api], database_url: str) -> None:
    api = start_api(lock_timeout_seconds=1)
    probe(api)
    case = s.triaged(api.app)
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        holder.execute("BEGIN EXCLUSIVE")
        response = api.client.get(f"/probe/cases/{case}/note", params={"who": s.WORKER})
    finally:
        holder.rollback()
        holder.close()
    assert is_page(response, 503) and response.headers["retry-after"] == "2"
    assert "<h1>数据库暂无响应</h1>" in response.text and "本次操作未记录" in response.text


def test_a_fault_of_ours_on_a_page_is_a_500_page_in_the_page_language(api: Api) -> None:
    probe(api)
    client = TestClient(api.client.app, raise_server_exceptions=False)  # the app's runtime is already up
    response = client.get("/probe/fault", headers={"Accept-Language": "en"})
    assert is_page(response, 500) and "<h1>Something went wrong on our side</h1>" in response.text
