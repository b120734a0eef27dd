"""The dashboards (统计) in a browser, as the township's supervisor sees them in the demo: each filtered by
name through its form, every chart drawn by ECharts from the page's own files, every figure in its tables
and charts the one the JSON API serves for the same filters, the page accessible and no wider than the
screen (screenshots: build/screenshots/dashboard-NAME-WIDTH.png). The exports linked from a page read
back with the csv module and openpyxl; the accountability trace page; a worker is not shown them."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.browser.cases import PASSWORD, SUPERVISOR, WORKER, Api
from tests.browser.conftest import LiveServer
from tests.browser.support import (
    assert_accessible,
    assert_chinese_drawn,
    assert_no_horizontal_scroll,
    desktop_only,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.timeout(180)
SHARES = {"satisfaction_rate", "response_rate", "on_time_share", "first_response_on_time_share",
          "covered_share"}
HOURS = ("first_response_hours_median", "first_response_hours_p90", "resolution_hours_median",
         "resolution_hours_p90")
# A figure shown to a tenth, against the API's unrounded one; ages run on between the page and the API.
TENTH = 0.05 + 1e-9


@dataclass(frozen=True)
class Shown:
    """A table of a dashboard, the API's view it shows, and the columns each of its charts draws."""

    table: str
    view: str
    query: dict[str, str]
    charts: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Dashboard:
    tables: tuple[Shown, ...]
    # filters chosen by what the form shows (field → the option's name), and typed months
    choose: dict[str, str] = field(default_factory=dict)
    months: bool = False


RATES = ("satisfaction_rate", "response_rate")
ON_TIME = ("first_response_on_time_share", "on_time_share")
COVERAGE = (("covered_share",), ("overdue",))
DASHBOARDS = {
    "satisfaction": Dashboard((
        Shown("satisfaction-by-month", "/views/satisfaction", {"by": "month"}, (RATES,)),
        Shown("satisfaction-by-category", "/views/satisfaction", {"by": "category"}, (RATES,)),
        Shown("satisfaction-by-cell", "/views/satisfaction", {"by": "cell"}, (RATES,)),
    ), choose={"cell": "东村"}, months=True),
    "response-times": Dashboard((
        Shown("response-times-by-month", "/views/response-times", {"by": "month"}, (HOURS, ON_TIME)),
        Shown("response-times-by-category", "/views/response-times", {"by": "category"}, (HOURS, ON_TIME)),
    ), choose={"category": "设施报修"}, months=True),
    "steps": Dashboard((
        Shown("deliberation-steps", "/views/response-times", {"steps": "true"},
              (("days_median", "days_p90"), ("on_time_share",))),
    )),
    "unresolved": Dashboard((
        Shown("unresolved", "/views/unresolved", {"limit": "50"}, (("age_days",),)),
    ), choose={"cell": "清水社区（镇政府驻地）"}),
    "visits": Dashboard((
        Shown("visit-coverage-by-cell", "/views/visit-coverage", {"by": "cell"}, COVERAGE),
        Shown("visit-coverage-by-category", "/views/visit-coverage", {"by": "category"}, COVERAGE),
    ), choose={"category": "孤寡老人"}),
}


def filtered(page: Page, dashboard: Dashboard, months: list[str]) -> dict[str, str]:
    """Choose the dashboard's filters in its form, by name, and send it: the API's query for them."""
    form = page.locator("form.filters")
    query = {}
    for name, shown_as in dashboard.choose.items():
        option = form.locator(f"select[name={name}] option",
                              has_text=re.compile(rf"^\W*{re.escape(shown_as)}$"))
        query[name] = option.get_attribute("value") or ""
        form.locator(f"select[name={name}]").select_option(query[name])
    if dashboard.months:
        query |= {"month_from": months[1], "month_to": months[-2]}
        form.locator("input[name=month_from]").fill(query["month_from"])
        form.locator("input[name=month_to]").fill(query["month_to"])
    with page.expect_navigation():
        form.get_by_role("button", name="筛选").click()
    return query


def table_shown(page: Page, name: str) -> list[dict[str, str]]:
    """The rows of a table on the page: column key → the text shown."""
    rows: list[dict[str, str]] = page.evaluate(
        """name => [...document.querySelectorAll(`table[data-table="${name}"] tbody tr`)].map(tr =>
             Object.fromEntries([...tr.querySelectorAll("td")]
                                .map(td => [td.dataset.key, td.innerText.trim()])))""",
        name)
    return rows


def charts_drawn(page: Page, name: str) -> list[dict[str, Any]]:
    """Each chart over a table: the numbers of its ECharts instance's series, and how many pixels of its
    canvas are drawn on."""
    drawn: list[dict[str, Any]] = page.evaluate(
        """name => [...document.querySelector(`table[data-table="${name}"]`).closest("section")
                     .querySelectorAll("[data-chart]")].map(box => {
             const chart = echarts.getInstanceByDom(box);
             const canvas = box.querySelector("canvas");
             const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
             let inked = 0;
             for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
             return {series: chart.getOption().series.map(s => s.data), inked};
           })""", name)
    return drawn


def figure(text: str) -> float | None:
    """A figure as the page writes it: 1,034.4 / 91.7% / — for none."""
    return None if text == "—" else float(text.replace(",", "").removesuffix("%"))


def assert_same(shown: float | None, served: float | None, key: str) -> None:
    if served is None:
        assert shown is None, key
        return
    assert shown is not None, key
    expected = served * 100 if key in SHARES else served
    # an age is as of each read: the page's and the API's, seconds apart, may round to neighbouring tenths
    allowed = 2 * TENTH if key == "age_days" else TENTH if isinstance(served, float) else 0
    assert abs(shown - expected) <= allowed, (key, shown, served)


def served_rows(api: Api, view: Shown, query: dict[str, str]) -> list[dict[str, Any]]:
    found = api.get(view.view, **view.query, **query)
    return list(found["items"] if isinstance(found, dict) else found)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_a_dashboard_draws_every_chart_with_the_figures_the_api_serves(page: Page, live_server: LiveServer,
                                                                        name: str) -> None:
    dashboard, api = DASHBOARDS[name], Api(page, live_server, SUPERVISOR)
    months = [row["month"] for row in api.get("/views/satisfaction", by="month")]
    sign_in(page, SUPERVISOR, PASSWORD)
    page.goto(f"/dashboards/{name}")
    query = filtered(page, dashboard, months)
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')].every(box => "
                           "window.echarts && echarts.getInstanceByDom(box) && box.querySelector('canvas'))")
    screenshot(page, f"dashboard-{name}")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    assert_chinese_drawn(page, "h1")

    for view in dashboard.tables:
        served = served_rows(api, view, query)
        shown = table_shown(page, view.table)
        assert served and len(shown) == len(served), (view.table, len(shown), len(served))
        numbers = page.locator(f"table[data-table='{view.table}'] tbody tr:first-child td.number")
        keys = [key for key in numbers.evaluate_all("tds => tds.map(td => td.dataset.key)")]
        assert keys, view.table
        for row_shown, row_served in zip(shown, served, strict=True):
            for key in keys:
                assert_same(figure(row_shown[key]), row_served[key], key)
            if "month" in row_served:
                assert row_shown["month"] == row_served["month"]
        charts = charts_drawn(page, view.table)
        assert len(charts) == len(view.charts)
        for chart, drawn in zip(view.charts, charts, strict=True):
            assert drawn["inked"] > 1000, (view.table, chart)
            assert len(drawn["series"]) == len(chart)
            for key, numbers_drawn in zip(chart, drawn["series"], strict=True):
                for value, row_served in zip(numbers_drawn, served, strict=True):
                    assert_same(value, row_served[key], key)


@desktop_only
def test_the_unresolved_list_links_each_case_to_its_accountability_trace(page: Page,
                                                                        live_server: LiveServer) -> None:
    served = Api(page, live_server, SUPERVISOR).get("/views/unresolved", limit=50)["items"]
    sign_in(page, SUPERVISOR, PASSWORD)
    page.goto("/dashboards/unresolved")
    traces = page.locator("table[data-table='unresolved'] a", has_text="责任追溯")
    assert traces.evaluate_all("links => links.map(a => a.getAttribute('href'))") == [
        f"/cases/{item['id']}/trace" for item in served]
    with page.expect_navigation():
        traces.first.click()
    expect(page.locator("h1")).to_have_text("责任追溯")
    expect(page.locator("table.figures tbody tr").first).to_be_visible()
    screenshot(page, "trace")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


def test_the_trace_page_fits_a_phone(page: Page, live_server: LiveServer) -> None:
    [item] = Api(page, live_server, SUPERVISOR).get("/views/unresolved", limit=1)["items"]
    sign_in(page, SUPERVISOR, PASSWORD)
    page.goto(f"/cases/{item['id']}/trace")
    expect(page.locator("h1")).to_have_text("责任追溯")
    assert_no_horizontal_scroll(page)
    assert_accessible(page)


def downloaded(page: Page, link: str, suffix: str) -> bytes:
    """What the first link matching `link` downloads, a file named NAME.suffix."""
    with page.expect_download() as download:
        page.locator(link).first.click()
    assert download.value.suggested_filename.endswith(suffix), download.value.suggested_filename
    return download.value.path().read_bytes()


@desktop_only
def test_a_dashboards_exports_open_with_chinese_intact_and_the_whole_list(page: Page,
                                                                         live_server: LiveServer) -> None:
    api = Api(page, live_server, SUPERVISOR)
    served = api.get("/views/unresolved", limit=500)["items"]
    sign_in(page, SUPERVISOR, PASSWORD)
    page.goto("/dashboards/unresolved")
    as_csv = downloaded(page, "section:has(table[data-table='unresolved']) a[href*='format=csv']", ".csv")
    assert as_csv.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(as_csv.decode("utf-8-sig"))))
    assert [row["案件编号"] for row in rows] == [item["id"] for item in served]
    assert [row["标题"] for row in rows] == [item["title"] for item in served]

    page.goto("/dashboards/satisfaction")
    book = load_workbook(io.BytesIO(downloaded(
        page, "section:has(table[data-table='satisfaction-by-category']) a[href*='format=xlsx']", ".xlsx")))
    [header, *lines] = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    assert header[0] == "类别" and "满意率" in header and "参评率" in header
    by_category = api.get("/views/satisfaction", by="category")
    assert [line[header.index("征求评价")] for line in lines] == [row["asked"] for row in by_category]


@desktop_only
def test_the_dashboards_are_not_a_workers(page: Page) -> None:
    sign_in(page, WORKER, PASSWORD)
    expect(page.locator("header nav a[href='/dashboards']")).to_have_count(0)
    shown = page.goto("/dashboards/satisfaction")
    assert shown is not None and shown.status == 403
