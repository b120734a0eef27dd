"""The case page through the real app: a worker takes a 四议两公开 demand through every step with the page's
forms, only the actions the domain allows appear, the vote's outcome is shown before it is recorded,
refused forms show why beside their fields, the case as it stood, its hash chain, the supervisor's
actions, and scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx2
import pytest
from fastapi import Request

from api.pages import session
from domain.account import Account
from domain.application import SYSTEM, Minqing
from tests.conftest import Clock
from tests.e2e.support import CELL, OUTSIDER, RESIDENT_NAME, REVIEWER, SUPERVISOR, WORKER, Api, raised
from tests.integration.test_tamper import StoredRows

LI_MING, WANG_FANG = "li.ming", "wang.fang"     # workers of 东村 with display names


class Forms(HTMLParser):
    """The action forms of a page (their `data-action`), the CSRF token and the case's version."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.actions: list[str] = []
        self.hidden: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and found.get("data-action"):
            self.actions.append(str(found["data-action"]))
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.hidden[str(found["name"])] = str(found.get("value"))


class Pages:
    """The app's pages as one member of staff at a time sees them (sign-in overridden the FastAPI way)."""

    def __init__(self, api: Api) -> None:
        self.api, self.who = api, WORKER

        async def signed_in(request: Request) -> Account:
            account = api.app.account(self.who)
            request.state.account = account
            return account

        api.client.app.dependency_overrides[session.signed_in] = signed_in  # type: ignore[attr-defined]

    @property
    def app(self) -> Minqing:
        return self.api.app

    def get(self, path: str, **params: Any) -> httpx2.Response:
        return self.api.client.get(path, params=params, headers={"Accept-Language": "zh-CN"})

    def case(self, case: UUID, **params: Any) -> httpx2.Response:
        return self.get(f"/cases/{case}", **params)

    def act(self, case: UUID, path: str, fields: dict[str, Any] | list[tuple[str, str]],
            version: int | None = None) -> httpx2.Response:
        """Send an action's form as the page shows it: its CSRF token and the case's version."""
        shown = Forms(self.case(case).text)
        sent = list(fields.items()) if isinstance(fields, dict) else list(fields)
        version_shown = shown.hidden["expected_version"] if version is None else str(version)
        sent += [("csrf_token", shown.hidden["csrf_token"]), ("expected_version", version_shown)]
        form: dict[str, list[str]] = {}
        for key, value in sent:
            form.setdefault(key, []).append(str(value))
        return self.api.client.post(f"/cases/{case}/{path}", data=form,
                                    headers={"Accept-Language": "zh-CN"}, follow_redirects=False)

    def done(self, case: UUID, path: str, fields: dict[str, Any] | list[tuple[str, str]]) -> None:
        response = self.act(case, path, fields)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"/cases/{case}#timeline"

    def forms(self, case: UUID) -> list[str]:
        return Forms(self.case(case).text).actions


@pytest.fixture
def clock(api: Api) -> Clock:
    """The app's clock, set to now and moved by the tests (a notice period passing)."""
    clock = Clock(datetime.now(UTC))
    api.app.clock = clock
    return clock


@pytest.fixture
def pages(api: Api, clock: Clock) -> Iterator[Pages]:
    for username, name in ((LI_MING, "李明"), (WANG_FANG, "王芳")):
        api.app.open_account(actor=SYSTEM, username=username, display_name=name)
        granted = api.app.grant_role(actor=SYSTEM, username=username, role="worker",
                                     cell_id="qingshui.dongcun")
    api.runtime.wait_for_views(granted.position, ["staff"])  # the reassign picker reads the staff view
    yield Pages(api)
    api.client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def text(response: httpx2.Response) -> str:
    """The page's text without its tags and with runs of white space as one space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def only_allowed_forms(pages: Pages, case: UUID) -> None:
    assert pages.forms(case) == pages.app.allowed_actions(pages.app.demand(case), pages.who)


def test_a_worker_takes_a_major_matter_through_every_step_to_the_result_notice(
        pages: Pages, clock: Clock) -> None:
    case = raised(pages.app, title="东村修建文化广场", category="public_works")
    steps = [
        ("triage", {"category": "public_works"}),
        ("discuss", {"step": "branch_proposal", "outcome": "endorsed", "attendees": "张支书\n李委员"}),
        ("discuss", {"step": "two_committees", "outcome": "returned", "summary": "选址再议"}),
        ("discuss", {"step": "branch_proposal", "outcome": "endorsed"}),
        ("discuss", {"step": "two_committees", "outcome": "endorsed"}),
        ("discuss", {"step": "members_assembly", "outcome": "endorsed"}),
        ("vote", {"body": "representatives", "members": 30, "present": 12, "in_favour": 10, "against": 1,
                  "abstained": 1}),
        ("vote", {"body": "representatives", "members": 30, "present": 24, "in_favour": 20, "against": 3,
                  "abstained": 1}),
        ("publicize", [("kind", "resolution"), ("channels", "notice_board"), ("channels", "loudspeaker"),
                       ("text", "决议：修建文化广场"), ("period_days", "7")]),
    ]
    for path, fields in steps:
        only_allowed_forms(pages, case)
        assert path in pages.forms(case)
        pages.done(case, path, fields)
    clock.advance(days=8)   # the resolution notice has run its period
    pages.app.end_notice(case, notice_id="resolution-2-1")
    for path, fields in [("progress", {"percent": 60, "summary": "地基完工"}),
                         ("resolve", {"summary": "广场建成"}),
                         ("publicize", {"kind": "result", "channels": "notice_board", "text": "广场已建成"})]:
        only_allowed_forms(pages, case)
        pages.done(case, path, fields)

    page = text(pages.case(case))
    demand = pages.app.demand(case)
    assert demand.result_published and demand.outcome == "resolved"
    assert "赞成 20" in page and "通过" in page
    assert "不足法定人数，表决无效" in page           # the inquorate vote, in the history
    assert "第 1 轮退回重议" in page                   # the returned step, on the step line
    assert "决议：修建文化广场" in page and "广场已建成" in page
    assert page.count("✓") == 7                      # five steps, implementation and the result notice


def test_the_vote_form_shows_the_statute_outcome_before_it_is_recorded(pages: Pages) -> None:
    case = raised(pages.app, category="public_works")
    pages.app.triage(case, actor=WORKER, category="public_works")
    for step in ("branch_proposal", "two_committees", "members_assembly"):
        pages.app.discuss(case, actor=WORKER, step=step)
    preview = f"/cases/{case}/vote/preview"
    counts = {"body": "representatives", "members": "30", "against": "2", "abstained": "2"}
    htmx = {"HX-Request": "true", "Accept-Language": "zh-CN"}

    def shown(**more: str) -> str:
        response = pages.api.client.get(preview, params=counts | more, headers=htmx)
        assert response.status_code == 200
        return text(response)

    inquorate = shown(present="19", in_favour="15")
    assert "不足法定人数，表决无效" in inquorate and "法定人数 20" in inquorate  # two thirds of 30
    adopted = shown(present="24", in_favour="20")
    assert "通过" in adopted and "未通过" not in adopted and "需 13" in adopted  # more than half of 24
    assert "未通过" in shown(present="24", in_favour="12")
    impossible = shown(present="19", in_favour="20")
    assert "赞成 20 + 反对 2 + 弃权 2，多于实到 19 人" in impossible       # in the page's language
    # without JavaScript: the preview button asks for the whole page, the numbers kept as typed
    page = pages.get(preview, **counts, present="24", in_favour="12")
    assert page.status_code == 200 and "未通过" in text(page) and 'value="12"' in page.text
    assert pages.app.demand(case).version == 5      # nothing was recorded


def test_a_refused_form_shows_why_beside_its_fields_keeping_what_was_typed(pages: Pages) -> None:
    case = raised(pages.app, category="public_works")
    pages.app.triage(case, actor=WORKER, category="public_works")
    for step in ("branch_proposal", "two_committees", "members_assembly"):
        pages.app.discuss(case, actor=WORKER, step=step)
    not_a_number = pages.act(case, "vote", {"body": "representatives", "members": "三十", "present": "24",
                                            "in_favour": "20", "against": "2", "abstained": "2"})
    assert not_a_number.status_code == 422
    assert re.search(r'id="vote-members"[^>]*aria-invalid="true"', not_a_number.text)
    assert 'id="vote-members-error">此项填写有误' in not_a_number.text
    assert 'value="三十"' in not_a_number.text
    assert not_a_number.text.count('role="alert"') == 1     # only the vote form shows a rejection

    impossible = pages.act(case, "vote", {"body": "representatives", "members": "30", "present": "40",
                                          "in_favour": "20", "against": "2", "abstained": "2"})
    assert impossible.status_code == 422 and "实到 40 人，多于应到" in impossible.text
    assert 'value="40"' in impossible.text

    stale = pages.act(case, "note", {"text": "电话联系施工队"}, version=2)
    assert stale.status_code == 409
    assert "有人在您打开此页后改动了它" in stale.text
    assert "电话联系施工队" in stale.text


def test_the_history_says_who_did_what_by_name_and_when_it_happened_and_was_recorded(pages: Pages) -> None:
    case = raised(pages.app)
    pages.app.triage(case, actor=WORKER, category="repairs")
    pages.who = LI_MING
    pages.done(case, "assign", {"assignee": WANG_FANG})
    page = text(pages.case(case))
    assert "李明 将案件指派给 王芳" in page
    assert page.count("发生于") == 3 and page.count("记录于") == 3
    assert "防篡改链：完整" in page
    assert RESIDENT_NAME in page
    pages.who = REVIEWER                     # a reviewer sees personal data masked
    masked = text(pages.case(case))
    assert RESIDENT_NAME not in masked and "李**" in masked and pages.forms(case) == []


def test_the_case_as_it_stood_then_and_before_it_existed(pages: Pages, clock: Clock) -> None:
    raised_at = datetime.now(UTC) - timedelta(days=2)
    case = raised(pages.app, occurred_at=raised_at)
    pages.app.triage(case, actor=WORKER, category="repairs", occurred_at=raised_at + timedelta(days=1))
    zone = ZoneInfo(pages.app.deployment.timezone)
    between = (raised_at + timedelta(hours=12)).astimezone(zone)
    then = pages.case(case, as_of=between.strftime("%Y-%m-%dT%H:%M:%S"))
    assert then.status_code == 200
    assert "按发生时间" in text(then) and Forms(then.text).actions == []
    assert "分类分流" not in text(then).split("全过程记录")[1]   # the triage happened later
    day_before = (raised_at - timedelta(days=1)).astimezone(zone)
    earlier = pages.case(case, as_of=day_before.strftime("%Y-%m-%dT%H:%M"))
    assert earlier.status_code == 200 and "该案件尚不存在" in text(earlier)


def test_the_case_page_asks_for_both_times_and_answers_as_of_one_as_known_at_the_other(
        pages: Pages) -> None:
    raised_at = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    case = raised(pages.app, occurred_at=raised_at)             # both facts recorded only now
    pages.app.triage(case, actor=WORKER, category="repairs", occurred_at=raised_at + timedelta(hours=1))
    zone = ZoneInfo(pages.app.deployment.timezone)
    local = (raised_at + timedelta(hours=2)).astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")
    page = pages.case(case)
    assert 'id="as_of"' in page.text and 'id="known_at"' in page.text
    assert "截至某日（按发生时间，本地时间）" in text(page)
    assert "截至某日（按记录时间，本地时间）" in text(page)
    happened = pages.case(case, as_of=local)
    assert happened.status_code == 200 and "分类分流" in text(happened).split("全过程记录")[1]
    assert f'value="{local}"' in happened.text                # the form keeps what was asked
    unknown = pages.case(case, known_at=local)                 # two days ago, nothing was recorded yet
    assert unknown.status_code == 200 and "当时尚无该案件的任何记录" in text(unknown)
    both = pages.case(case, as_of=local, known_at=local)
    assert "按发生时间" in text(both) and "按记录时间" in text(both)
    assert "当时尚无该案件的任何记录" in text(both)
    english = pages.api.client.get(f"/cases/{case}", params={"as_of": local},
                                   headers={"Accept-Language": "en"})
    assert "(when it happened)" in text(english)
    assert "As known at (when recorded, local time)" in text(english)
    pages.app.add_note(case, actor=WORKER, text="上门查看", occurred_at=raised_at + timedelta(minutes=30))
    early = (raised_at + timedelta(minutes=45)).astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")
    left_out = pages.case(case, as_of=early)                  # the note, entered after the later triage
    assert "有 1 件事当时已经发生，但记录在其后发生的事之后" in text(left_out)
    wrong = pages.case(case, as_of="1 September")
    assert wrong.status_code == 422 and "这不是有效的日期时间" in text(wrong)


def test_a_supervisor_reassigns_within_scope_escalates_and_reopens(pages: Pages) -> None:
    case = raised(pages.app)
    pages.app.triage(case, actor=WORKER, category="repairs")
    pages.app.assign(case, actor=WORKER, assignee=LI_MING)
    assert "assign" not in pages.forms(case)          # reassigning is a supervisor's
    pages.who = SUPERVISOR
    only_allowed_forms(pages, case)
    page = pages.case(case).text
    reassign = page.split('data-action="assign"')[1].split("</form>")[0]
    assert f'value="{WANG_FANG}"' in reassign and f'value="{OUTSIDER}"' not in reassign  # 西村's worker
    pages.done(case, "assign", {"assignee": WANG_FANG})
    refused = pages.act(case, "assign", {"assignee": OUTSIDER})
    assert refused.status_code == 422 and 'id="assign-assignee-error"' in refused.text
    pages.done(case, "escalate", {"to_cell_id": "qingshui", "reason": "需要镇里协调"})
    assert pages.app.demand(case).responsible_cell_id == "qingshui"
    pages.who = WORKER
    pages.done(case, "resolve", {"summary": "灯已修好"})
    assert "reopen" not in pages.forms(case)
    pages.who = SUPERVISOR
    only_allowed_forms(pages, case)
    pages.done(case, "reopen", {"reason": "居民反映仍未修好"})
    assert pages.app.demand(case).is_open


def test_a_case_outside_her_cells_is_not_found(pages: Pages) -> None:
    case = raised(pages.app)
    token = Forms(pages.case(case).text).hidden["csrf_token"]
    pages.who = OUTSIDER
    assert pages.case(case).status_code == 404
    refused = pages.api.client.post(f"/cases/{case}/note", follow_redirects=False,
                                    data={"text": "x", "expected_version": "1", "csrf_token": token})
    assert refused.status_code == 404
    assert pages.app.demand(case).version == 1


def test_the_page_names_what_it_shows_and_marks_only_allowed_actions(pages: Pages) -> None:
    case = raised(pages.app, cell_id=CELL)
    page = pages.case(case)
    assert page.status_code == 200
    only_allowed_forms(pages, case)
    assert "东村一组" in text(page)
    english = pages.api.client.get(f"/cases/{case}", headers={"Accept-Language": "en"})
    assert "Full history" in text(english) and "Hash chain: intact" in text(english)



def test_a_changed_stored_event_shows_the_hash_chain_broken(pages: Pages, database_url: str) -> None:
    case = raised(pages.app, title="Street lights out")
    rows = StoredRows(database_url)
    rows.set_state(case, 1, rows.state(case, 1).replace(b"Street lights out", b"Street lights OK!"))
    page = text(pages.case(case))
    assert "防篡改链：已被改动" in page and "第 1 条记录" in page


def test_the_vote_preview_of_a_case_outside_her_cells_is_not_found(pages: Pages) -> None:
    case = raised(pages.app)
    pages.who = OUTSIDER
    response = pages.api.client.get(f"/cases/{case}/vote/preview", params={"body": "representatives"},
                                    headers={"HX-Request": "true"})
    assert response.status_code == 404


def test_a_meeting_recorded_later_happened_when_the_form_says_in_the_deployments_zone(
        pages: Pages, clock: Clock) -> None:
    case = raised(pages.app, category="public_works")
    pages.app.triage(case, actor=WORKER, category="public_works")
    shanghai = ZoneInfo("Asia/Shanghai")
    held = (clock.now + timedelta(days=1)).astimezone(shanghai).replace(second=0, microsecond=0)
    clock.advance(days=2)
    assert 'type="datetime-local"' in pages.case(case).text
    pages.done(case, "discuss", {"step": "branch_proposal", "outcome": "endorsed",
                                 "occurred_at": held.strftime("%Y-%m-%dT%H:%M")})
    assert pages.app.demand(case).step_at == held
    too_late = (clock.now + timedelta(days=1)).astimezone(shanghai)
    refused = pages.act(case, "discuss", {"step": "two_committees", "outcome": "endorsed",
                                          "occurred_at": too_late.strftime("%Y-%m-%dT%H:%M")})
    assert refused.status_code == 422 and "尚未到来" in refused.text
    assert too_late.strftime("%Y-%m-%dT%H:%M") in refused.text   # what was typed is kept
