"""Exports read back as a spreadsheet would read them: XLSX (openpyxl) headed in the language asked, the
whole result of a list rather than its first page, one value per cell (names, local times, several values
joined with ；), and the accountability trace."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx2
from openpyxl import load_workbook

from projections.paging import MAX_PAGE
from tests.e2e import support as s
from tests.e2e.support import Api

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet_rows(response: httpx2.Response) -> list[list[Any]]:
    """The rows of the XLSX's one sheet, as openpyxl reads them back."""
    assert (response.status_code, response.headers["content-type"]) == (200, XLSX), response.text[:300]
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    [sheet] = book.worksheets
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def csv_rows(response: httpx2.Response) -> list[dict[str, str]]:
    assert response.content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_a_view_as_xlsx_is_headed_in_chinese_by_default_and_in_english_when_asked(api: Api) -> None:
    rated = s.resolved(api.app)
    api.app.give_feedback(rated, actor=s.WORKER, rating="basically_satisfied")
    api.runtime.wait_for_views(api.head())
    chinese = sheet_rows(api.get("/api/v1/views/satisfaction", s.SUPERVISOR, format="xlsx", by="category"))
    english = sheet_rows(api.get("/api/v1/views/satisfaction", s.SUPERVISOR, format="xlsx", by="category",
                                 headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert chinese[0] == ["类别", "征求评价", "已评价", "满意", "基本满意", "不满意", "逾期未评价",
                          "重新办理", "满意率", "参评率"]
    assert english[0] == ["Category", "Feedback asked", "Answered", "satisfied", "basically satisfied",
                          "dissatisfied", "No answer in time", "Reopened", "Satisfaction rate",
                          "Response rate"]
    assert chinese[1] == ["设施报修", 1, 1, 0, 1, 0, 0, 0, 1, 1]
    assert english[1][0] == "Repairs (roads, drains, manhole covers, lights)"


def test_the_case_list_exported_holds_every_match_not_a_page(api: Api) -> None:
    title = "东村一组路灯不亮（整批导出）"
    raised = {s.raised(api.app, title=title) for _ in range(MAX_PAGE + 3)}
    api.runtime.wait_for_views(api.head())
    assert len(api.get("/api/v1/demands", q="整批导出", limit=MAX_PAGE).json()["items"]) == MAX_PAGE
    as_csv = csv_rows(api.get("/api/v1/demands", q="整批导出", format="csv"))
    as_xlsx = sheet_rows(api.get("/api/v1/demands", q="整批导出", format="xlsx"))
    assert {UUID(row["案件编号"]) for row in as_csv} == raised
    assert {row["标题"] for row in as_csv} == {title}
    assert len(as_xlsx) == 1 + len(raised) and as_xlsx[0][:2] == ["受理回执码", "标题"]


def test_an_unresolved_case_exports_one_value_a_cell_names_local_times_and_lists_joined(api: Api) -> None:
    case = s.overdue(api.app)
    api.app.record_missed_deadlines(case)                     # escalated automatically to 东村
    api.app.escalate(case, actor=s.SUPERVISOR, to_cell_id="qingshui", reason="久拖未决")
    api.runtime.wait_for_views(api.head())
    [row] = [r for r in csv_rows(api.get("/api/v1/views/unresolved", s.REVIEWER, format="csv"))
             if r["案件编号"] == str(case)]
    raised_at = api.app.demand(case).raised_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert row["登记时间"] == f"{raised_at.year}年{raised_at.month}月{raised_at.day}日 {raised_at:%H:%M}"
    assert row["登记网格"] == "东村一组" and row["责任网格"] == "清水镇"
    assert row["上报"] == "东村一组 → 东村（超时自动上报）；东村 → 清水镇"
    assert row["超期"].startswith("首次响应时限（") and row["上报层级"] == "2"
    assert not any(text.startswith(("[", "{")) for text in row.values())


def test_the_trace_exports_as_csv_and_xlsx_with_the_same_rows(api: Api) -> None:
    case = s.overdue(api.app)
    api.app.record_missed_deadlines(case)
    api.app.flag(case, actor=s.SUPERVISOR, responsible="东村村委会", finding="未按时响应")
    as_csv = csv_rows(api.get(f"/api/v1/demands/{case}/trace", s.REVIEWER, format="csv"))
    as_xlsx = sheet_rows(api.get(f"/api/v1/demands/{case}/trace", s.REVIEWER, format="xlsx"))
    as_json = api.get(f"/api/v1/demands/{case}/trace", s.REVIEWER).json()
    assert as_xlsx[0] == ["事项", "责任人或内容", "起", "止", "历时", "小时", "说明"]
    assert [[row[key] for key in ("事项", "责任人或内容")] for row in as_csv] == [
        [str(kind), str(who)] for kind, who, *_ in as_xlsx[1:]]
    kinds = [row["事项"] for row in as_csv]
    assert kinds.count("超期") == len(as_json["deadlines_missed"]) == 1
    assert kinds.count("上报") == len(as_json["escalations"]) == 1
    assert [row["说明"] for row in as_csv if row["事项"] == "问责标记"] == ["未按时响应"]
    assert sum(kind in ("承办人", "责任网格", "所处步骤") for kind in kinds) == len(as_json["periods"])
    for row in (r for r in as_csv if r["事项"] in ("承办人", "责任网格", "所处步骤")):  # held as long as said
        hours, held = float(row["小时"].replace(",", "")), row["历时"]
        assert ("天" in held) == (hours >= 24) and ("分钟" in held) == (hours < 24), (hours, held)
    assert datetime.strptime(as_csv[0]["起"], "%Y年%m月%d日 %H:%M")
