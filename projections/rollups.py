"""Rollups (汇总) of the cases view: the figures the satisfaction, response-time and step-time summaries
read, kept per group (category, cell, worker, month; step) as the cases' rows change (see `Rollup`).

Counts are summed per group. Times are counted per whole minute — a histogram per group — so a summary
adds up the histograms of the groups it covers and reads its medians and 90th percentiles from them:
exact to the minute (a time is its whole minutes, the seconds dropped). The worker of a case is its
assignee, else whoever first resolved it (response times) or first asked for feedback (satisfaction);
its month is the month it was raised (response times) or first asked for feedback (satisfaction), in the
deployment's time zone (the cases view cuts them: `raised_month`, `feedback_month`).

On time: a first response (triage) by the first-response deadline then due, a deliberation step held by the
step deadline then due (`responded_on_time`, each held step's `on_time` in the cases view).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy import Column, Integer, MetaData, String, Table

from domain.demand import RATINGS
from projections.core import NONE, Counts, Group, Rollup, Row

metadata = MetaData()
GROUP = ("category", "cell_id", "worker", "month")
TIMES = ("cases", "responded", "resolved", "on_time", "responded_on_time")
FEEDBACK = ("asked", "answered", *RATINGS, "expired", "reopens")


def _rollup(name: str, groups: tuple[str, ...], counts: tuple[str, ...],
            contributions: Callable[[Row], Iterator[tuple[Group, Counts]]]) -> Rollup:
    table = Table(name, metadata,
                  *(Column(g, Integer if g == "minutes" else String(100), primary_key=True) for g in groups),
                  *(Column(c, Integer, nullable=False) for c in counts),
                  # kept in the order of its key on SQLite (a rowid table reads each row through its key's
                  # index, one look-up a row: a summary's scan 12x slower, bench in the issue-12 note)
                  sqlite_with_rowid=False)
    return Rollup(table, groups, counts, contributions)


def minutes(start: datetime, end: datetime) -> int:
    """A time as its whole minutes."""
    return int((end - start).total_seconds() // 60)


def _group(row: Row, worker: str | None, month: str | None) -> Group:
    return (row["category"] or NONE, row["cell_id"], worker or NONE, month or NONE)


def _times_group(row: Row) -> Group:
    return _group(row, row["assignee"] or row["resolved_by"], row["raised_month"])


def _resolved(row: Row) -> bool:
    return bool(row["outcome"] == "resolved")


def _case_times(row: Row) -> Iterator[tuple[Group, Counts]]:
    resolved = _resolved(row)
    yield _times_group(row), {"cases": 1, "responded": int(row["triaged_at"] is not None),
                              "resolved": int(resolved), "on_time": int(resolved and bool(row["on_time"])),
                              "responded_on_time": int(bool(row["responded_on_time"]))}


def _first_response(row: Row) -> Iterator[tuple[Group, Counts]]:
    if row["triaged_at"] is not None:
        yield (*_times_group(row), minutes(row["raised_at"], row["triaged_at"])), {"n": 1}


def _resolution(row: Row) -> Iterator[tuple[Group, Counts]]:
    if _resolved(row):
        yield (*_times_group(row), minutes(row["raised_at"], row["closed_at"])), {"n": 1}


def _feedback(row: Row) -> Iterator[tuple[Group, Counts]]:
    if row["feedback_asked"] or row["reopen_count"]:
        counts: Counts = {"asked": row["feedback_asked"], "answered": row["feedback_answered"],
                  **{rating: row[rating] for rating in RATINGS}, "expired": row["feedback_expired"],
                  "reopens": row["reopen_count"]}
        yield _group(row, row["assignee"] or row["asked_by"], row["feedback_month"]), counts


def _step_times(row: Row) -> Iterator[tuple[Group, Counts]]:
    for held in row["steps"]:
        yield ((row["category"] or NONE, row["cell_id"], held["step"], int(held["seconds"] // 60)),
               {"n": 1, "on_time": int(held["on_time"])})


HISTOGRAM = (*GROUP, "minutes")
case_times = _rollup("rollup_case_times", GROUP, TIMES, _case_times)
first_response = _rollup("rollup_first_response", HISTOGRAM, ("n",), _first_response)
resolution = _rollup("rollup_resolution", HISTOGRAM, ("n",), _resolution)
feedback = _rollup("rollup_feedback", GROUP, FEEDBACK, _feedback)
step_times = _rollup("rollup_step_times", ("category", "cell_id", "step", "minutes"), ("n", "on_time"),
                     _step_times)
ROLLUPS = (case_times, first_response, resolution, feedback, step_times)
