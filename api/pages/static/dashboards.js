// Draws each chart of a dashboard with Apache ECharts, from the numbers the page embeds beside its table
// (a <script type="application/json"> named by the chart's data-chart): the table is the page's figures,
// the chart a picture of them. Without JavaScript the tables stand alone.
"use strict";

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans CJK SC", "Noto Sans SC", ' +
  '"PingFang SC", "Microsoft YaHei", sans-serif';

function optionOf(data) {
  const written = value => data.format.replace("{value}", value);
  const withUnit = value => (value === null || value === undefined ? "—" : written(value));
  const groups = { type: "category", data: data.categories, inverse: data.across,
                   axisLabel: { width: data.across ? 140 : undefined, overflow: "truncate", hideOverlap: true } };
  const values = { type: "value", axisLabel: { formatter: written } };
  return {
    textStyle: { fontFamily: FONT },
    color: ["#1d4ed8", "#b45309", "#15803d", "#9333ea"],
    tooltip: { trigger: "axis", valueFormatter: withUnit },
    legend: { top: 0, textStyle: { fontFamily: FONT } },
    grid: { top: 40, left: 8, right: 24, bottom: 8, containLabel: true },
    xAxis: data.across ? values : groups,
    yAxis: data.across ? groups : values,
    series: data.series.map(series => ({ name: series.name, type: data.kind, data: series.data,
                                         connectNulls: true })),
  };
}

function drawCharts() {
  for (const box of document.querySelectorAll("[data-chart]")) {
    const data = JSON.parse(document.getElementById(box.dataset.chart).textContent);
    const chart = echarts.init(box, null, { renderer: "canvas" });
    chart.setOption(optionOf(data));
    new ResizeObserver(() => chart.resize()).observe(box);
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", drawCharts);
} else {
  drawCharts();
}
