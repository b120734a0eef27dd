"""Cases put into a state before a browser test acts on them, through the REST API with a member of staff's
bearer token (`LiveServer.token`), as that member of staff would have put them there.

Every case gets a title of its own (`tagged`), so tests sharing the live server never act on, or find,
each other's cases.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from playwright.sync_api import Page

from tests.browser.conftest import LiveServer

PASSWORD = "qingshui-demo"          # every demo account's (api.demo.content.DEMO_PASSWORD)
WORKER = "li.xiaohong"              # worker over 东村
WORKER_NAME = "李晓红（东村网格员）"
SUPERVISOR = "zhou.jianguo"         # supervisor over the township
SUPERVISOR_NAME = "周建国（镇党委副书记）"
OUTSIDER = "he.wenbin"              # worker over 西村
GROUP_1 = "qingshui.dongcun.g1"     # 东村一组
ADOPTING_VOTE = {"body": "representatives", "members": 30, "present": 24, "in_favour": 20, "against": 2,
                 "abstained": 2}


def tagged(title: str) -> str:
    """`title` with a mark of its own, so that a search finds this case alone."""
    return f"{title}（{secrets.token_hex(3)}）"


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


class Api:
    """The live server's REST API, called from a page's browser context as one member of staff."""

    def __init__(self, page: Page, server: LiveServer, who: str) -> None:
        self.page, self.headers = page, {"Authorization": f"Bearer {server.token(who)}"}

    def get(self, path: str, **params: str | float | bool) -> Any:
        response = self.page.request.get(f"/api/v1{path}", params=params, headers=self.headers)
        assert response.ok, f"GET {path}: {response.status} {response.text()}"
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.page.request.post(f"/api/v1{path}", data=body, headers=self.headers)
        assert response.ok, f"POST {path}: {response.status} {response.text()}"
        found: dict[str, Any] = response.json()
        return found

    def command(self, case: UUID, name: str, **body: Any) -> dict[str, Any]:
        return self.post(f"/demands/{case}/{name}", body)

    def raise_(self, title: str, cell_id: str = GROUP_1, **fields: Any) -> UUID:
        body = {"channel": "reception_day", "title": title, "cell_id": cell_id, "resident_name": "王桂兰",
                "resident_phone": "13912345678"} | fields
        return UUID(self.post("/demands", body)["id"])

    def event_types(self, case: UUID) -> list[str]:
        return [entry["type"] for entry in self.get(f"/demands/{case}/history")]

    def listed(self, text: str, position: int) -> list[dict[str, Any]]:
        """The cases of the `cases` view whose words hold `text`, once the view has read `position`."""
        items: list[dict[str, Any]] = self.get("/demands", q=text, after=position)["items"]
        return items


def triaged(api: Api, title: str, category: str = "repairs", **fields: Any) -> UUID:
    case = api.raise_(title, **fields)
    api.command(case, "triage", category=category)
    return case


def assigned(api: Api, title: str, assignee: str = WORKER, cell_id: str = GROUP_1) -> UUID:
    case = triaged(api, title, cell_id=cell_id)
    api.command(case, "assign", assignee=assignee)
    return case


def resolved(api: Api, title: str) -> UUID:
    case = triaged(api, title)
    api.command(case, "resolve", summary="已派人修好，居民确认可以正常使用。")
    return case


def notice_up(api: Api, title: str) -> UUID:
    """A 四议两公开 case of 东村一组 whose resolution notice (resolution-1-1) was posted just now."""
    case = triaged(api, title, category="public_works")
    for step in ("branch_proposal", "two_committees", "members_assembly"):
        api.command(case, "discuss", step=step)
    api.command(case, "vote", **ADOPTING_VOTE)
    api.command(case, "publicize", kind="resolution", text=f"经村民代表会议表决通过：{title}。公示期7天。")
    return case


def objection_lodged(api: Api, title: str) -> UUID:
    """A 四议两公开 case whose resolution notice is up, with an objection (objection-1) not yet answered."""
    case = notice_up(api, title)
    api.command(case, "object", notice_id="resolution-1-1", text="路灯位置离我家太近，晚上晃眼。")
    return case


def past_its_deadline(api: Api, title: str, *, wait: float = 45.0) -> UUID:
    """A repairs case triaged nine days ago (five days to resolve it), whose missed deadline the server's
    deadline watcher has recorded (it sweeps every 30 s and escalates the case as it does): a form shown
    after that is not overtaken by the watcher."""
    case = api.raise_(title, occurred_at=ago(days=10))
    api.command(case, "triage", category="repairs", occurred_at=ago(days=9))
    deadline = time.monotonic() + wait
    while "DeadlineMissed" not in api.event_types(case):
        assert time.monotonic() < deadline, f"the deadline watcher did not record {case}'s missed deadline"
        time.sleep(0.5)
    return case
