"""Every view is also a spreadsheet: ?format=csv answers text/csv in UTF-8 with a byte-order mark, a header
row in the caller's language (Chinese unless asked otherwise) and a row per group or case."""

from __future__ import annotations

import csv
import io

import httpx2
import pytest

from tests.e2e import support as s
from tests.e2e.support import Api

BOM = "\ufeff"
# view: (query, header row, data rows once `everything_viewed`)
EXPORTS = {
    "response-times": ({}, ["类别", "诉求（件）", "已响应（件）", "已解决（件）",
                            "首次响应时间中位数（小时）", "首次响应时间90%分位（小时）",
                            "办结时间中位数（小时）", "办结时间90%分位（小时）", "按时办结率",
                            "首次响应及时率"],
                       3),   # repairs, public works, and the untriaged case's none
    "response-times by step": ({"steps": "true"}, ["步骤", "次数", "步骤用时中位数（天）",
                                                   "步骤用时90%分位（天）", "按时完成率"], 1),
    "satisfaction": ({"by": "cell"}, ["网格", "征求评价", "已评价", "满意", "基本满意", "不满意",
                                      "逾期未评价", "重新办理", "满意率", "参评率"], 1),
    "unresolved": ({}, ["标题", "类别", "步骤", "责任网格", "承办人", "登记时间", "已历时（天）",
                        "办理时限", "超期", "上报层级", "上报", "问责标记", "登记网格", "案件编号"], 1),
    "visit-coverage": ({"by": "visitor"}, ["最近走访人", "住户", "有走访周期（户）", "逾期未访",
                                           "按期走访率", "已走访（户次）", "未走访（户次）"], 1),
}

FILENAMES = {"response-times": "response-times-by-category.csv",
             "response-times by step": "deliberation-steps.csv", "satisfaction": "satisfaction-by-cell.csv",
             "unresolved": "unresolved.csv", "visit-coverage": "visit-coverage-by-visitor.csv"}


def export(api: Api, name: str, **extra: str) -> httpx2.Response:
    query, _, _ = EXPORTS[name]
    return api.get(f"/api/v1/views/{name.split()[0]}", s.REVIEWER, format="csv", **query, **extra)


def rows_of(response: httpx2.Response) -> list[list[str]]:
    """The CSV's rows as the csv module reads them, once the byte-order mark is checked and read past."""
    assert response.content.startswith(BOM.encode()), response.content[:20]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
def everything_viewed(api: Api) -> Api:
    """A rated case, a deliberated one, an overdue one and a household, each in the views."""
    rated = s.resolved(api.app)
    api.app.give_feedback(rated, actor=s.WORKER, rating="satisfied")
    api.app.discuss(s.deliberating(api.app), actor=s.WORKER, step="branch_proposal")
    s.overdue(api.app)
    s.household(api.app)
    api.runtime.wait_for_views(api.head())
    return api


@pytest.mark.parametrize("name", list(EXPORTS))
def test_each_view_as_csv_is_utf8_with_a_bom_a_chinese_header_row_and_a_row_per_line(everything_viewed: Api,
                                                                                       name: str) -> None:
    _, header, lines = EXPORTS[name]
    response = export(everything_viewed, name)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{FILENAMES[name]}"'
    rows = rows_of(response)
    assert rows[0] == header
    assert len(rows) == 1 + lines


def test_a_view_as_csv_has_the_same_figures_as_in_json_with_names_for_ids(everything_viewed: Api) -> None:
    # by cell within 东村: the cells directly under it
    as_json = everything_viewed.get("/api/v1/views/satisfaction", s.REVIEWER, by="cell",
                                    cell="qingshui.dongcun").json()
    [_header, *rows] = rows_of(export(everything_viewed, "satisfaction", cell="qingshui.dongcun"))
    assert [item["cell"] for item in as_json] == [s.CELL]
    assert [row[0] for row in rows] == ["东村一组"]
    counts = ["asked", "answered", "satisfied", "basically_satisfied", "dissatisfied", "expired", "reopens",
              "satisfaction_rate", "response_rate"]
    assert [[str(item[key]) for key in counts] for item in as_json] == [row[1:] for row in rows]


def test_an_export_is_headed_in_english_when_english_is_asked_for(everything_viewed: Api) -> None:
    response = everything_viewed.get("/api/v1/views/satisfaction", s.REVIEWER, format="csv", by="cell",
                                     cell="qingshui.dongcun", headers={"Accept-Language": "en"})
    [header, [cell, *_]] = rows_of(response)
    assert header[0] == "Cell" and "Satisfaction rate" in header and "Response rate" in header
    assert cell == "Dongcun Group 1"


@pytest.mark.parametrize("name", list(EXPORTS))
def test_an_empty_view_as_csv_still_has_its_header_row(api: Api, name: str) -> None:
    response = export(api, name)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert rows_of(response) == [EXPORTS[name][1]]


def test_a_format_other_than_json_csv_or_xlsx_is_refused(api: Api) -> None:
    response = api.get("/api/v1/views/satisfaction", format="ods")
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")
    assert [e["path"] for e in response.json()["errors"]] == ["query.format"]


# (A title starting with a tab or CR loses it: titles are stripped; tests/unit/test_spreadsheet_cells.py.)
@pytest.mark.parametrize("title", ['=HYPERLINK("http://example.invalid","点这里")', "+1+1", "-2+3",
                                   "@SUM(A1)"])
def test_a_title_a_spreadsheet_would_run_is_exported_as_text(api: Api, title: str) -> None:
    case = s.raised(api.app, occurred_at=s.ago(days=3), title=title)  # overdue, so it is unresolved
    api.runtime.wait_for_views(api.head())
    [header, *rows] = rows_of(export(api, "unresolved"))
    assert [row[0] for row in rows if row[header.index("案件编号")] == str(case)] == ["'" + title]
