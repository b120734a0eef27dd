"""Rollups (汇总) of the cases view: the figures the satisfaction, response-time and step-time summaries
read, kept per group as the cases' rows change (see `Rollup`).

Counts are summed per group. Times are counted per whole minute, so a summary's medians and 90th
percentiles are exact to the minute (a time is its whole minutes, the seconds dropped). The worker of a case
is its assignee, else whoever first resolved it (response times) or first asked for feedback
(satisfaction); its month is the month it was raised (response times) or first asked for feedback
(satisfaction), in the deployment's time zone (the cases view cuts them: `raised_month`, `feedback_month`).

Scoped rollups (`for_grid`): a summary over a street office or a whole district must not read a row per
case, so each case counts in every scope of the grid it lies in (`paths`: its cell alone, the subtree of
its cell and of every cell above it) and a summary reads the rows of its own scope:
by category and by month within it, by cell from the scopes of the cells directly under it. A time is
counted twice: per bucket (`bucket`: a time's magnitude, to a 32nd or a 16th of it) with its month,
and per minute within its bucket. A rank is found in the buckets first, then in the minutes of the one
bucket that holds it: a summary reads about a hundred rows per group, not one per case. `EVERY` stands for
"every category" where a summary may read all categories at once.
The rollups per cell, worker and month (`BY_CELL`) serve summaries by worker.

On time: a first response (triage) by the first-response deadline then due, a deliberation step held by the
step deadline then due (`responded_on_time`, each held step's `on_time` in the cases view).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import partial

from sqlalchemy import Column, Integer, MetaData, String, Table

from domain.demand import RATINGS
from projections.core import NONE, Counts, Group, Rollup, Row

metadata = MetaData()
GROUP = ("category", "cell_id", "worker", "month")
TIMES = ("cases", "responded", "resolved", "on_time", "responded_on_time")
FEEDBACK = ("asked", "answered", *RATINGS, "expired", "reopens")
INTEGERS = ("minutes", "bucket")

Grid = Mapping[str, str | None]  # each cell's parent, None at the top: the deployment's grid
ALONE = "="       # before a cell id: the scope of that cell alone, without the cells under it
EVERY = "*"       # the category of a row counting every category, the month of a row counting every month


def _table(name: str, groups: tuple[str, ...], counts: tuple[str, ...]) -> Table:
    return Table(name, metadata,
                 *(Column(g, Integer if g in INTEGERS else String(100), primary_key=True) for g in groups),
                 *(Column(c, Integer, nullable=False) for c in counts),
                 # kept in the order of its key on SQLite (a rowid table reads each row through its key's
                 # index, one look-up a row: a summary's scan 12x slower, bench in the issue-12 note)
                 sqlite_with_rowid=False)


def _rollup(name: str, groups: tuple[str, ...], counts: tuple[str, ...],
            contributions: Callable[[Row], Iterator[tuple[Group, Counts]]]) -> Rollup:
    return Rollup(_table(name, groups, counts), groups, counts, contributions)


def minutes(start: datetime, end: datetime) -> int:
    """A time as its whole minutes."""
    return int((end - start).total_seconds() // 60)


def bucket(minutes: int) -> int:
    """The bucket of a time of `minutes`: its magnitude and its five leading binary digits (as a float
    keeps them), so that buckets ascend with the times and each holds times within a 32nd to a 16th of each
    other (0-31 minutes: a bucket each; 3 days: 128 minutes wide). Three digits made buckets of a district's
    resolution times 6,000 cases deep at 350,000 cases, each read to find a rank in it (bench/scale.py)."""
    if minutes < 32:
        return minutes
    shift = minutes.bit_length() - 5
    return 16 * shift + (minutes >> shift)


def paths(grid: Grid) -> dict[str, list[str]]:
    """For each cell of the grid, the scopes a case raised there counts in: the cell alone (when cells lie
    under it: `ALONE` and its id), the cell's subtree and the subtree of every cell above it."""
    under = set(grid.values())
    found = {}
    for cell, parent in grid.items():
        chain = [ALONE + cell, cell] if cell in under else [cell]
        while parent is not None:
            chain.append(parent)
            parent = grid.get(parent)
        found[cell] = chain
    return found


# ---------------------------------------------------------------- per cell, worker and month
def _group(row: Row, worker: str | None, month: str | None) -> Group:
    return (row["category"] or NONE, row["cell_id"], worker or NONE, month or NONE)


def _times_group(row: Row) -> Group:
    return _group(row, row["assignee"] or row["resolved_by"], row["raised_month"])


def _resolved(row: Row) -> bool:
    return bool(row["outcome"] == "resolved")


def _case_counts(row: Row) -> Counts:
    resolved = _resolved(row)
    return {"cases": 1, "responded": int(row["triaged_at"] is not None), "resolved": int(resolved),
            "on_time": int(resolved and bool(row["on_time"])),
            "responded_on_time": int(bool(row["responded_on_time"]))}


def _first_response_minutes(row: Row) -> int | None:
    return None if row["triaged_at"] is None else minutes(row["raised_at"], row["triaged_at"])


def _resolution_minutes(row: Row) -> int | None:
    return minutes(row["raised_at"], row["closed_at"]) if _resolved(row) else None


def _feedback_counts(row: Row) -> Counts | None:
    if not (row["feedback_asked"] or row["reopen_count"]):
        return None
    return {"asked": row["feedback_asked"], "answered": row["feedback_answered"],
            **{rating: row[rating] for rating in RATINGS}, "expired": row["feedback_expired"],
            "reopens": row["reopen_count"]}


def _case_times(row: Row) -> Iterator[tuple[Group, Counts]]:
    yield _times_group(row), _case_counts(row)


def _per_minute(minutes_of: Callable[[Row], int | None], row: Row) -> Iterator[tuple[Group, Counts]]:
    taken = minutes_of(row)
    if taken is not None:
        yield (*_times_group(row), taken), {"n": 1}


def _feedback(row: Row) -> Iterator[tuple[Group, Counts]]:
    counts = _feedback_counts(row)
    if counts is not None:
        yield _group(row, row["assignee"] or row["asked_by"], row["feedback_month"]), counts


HISTOGRAM = (*GROUP, "minutes")
case_times = _rollup("rollup_case_times", GROUP, TIMES, _case_times)
first_response = _rollup("rollup_first_response", HISTOGRAM, ("n",),
                         partial(_per_minute, _first_response_minutes))
resolution = _rollup("rollup_resolution", HISTOGRAM, ("n",), partial(_per_minute, _resolution_minutes))
feedback = _rollup("rollup_feedback", GROUP, FEEDBACK, _feedback)
BY_CELL = (case_times, first_response, resolution, feedback)


# ---------------------------------------------------------------- per scope
Paths = Mapping[str, list[str]]  # the scopes a case raised in each cell counts in (see `paths`)


def _scopes(paths: Paths, cell: str) -> list[str]:
    return paths.get(cell) or [cell]  # a cell since taken out of the grid: its own scope only


SCOPED = ("scope", "category", "month")
scoped_cases = _table("rollup_scope_cases", SCOPED, TIMES)
scoped_feedback = _table("rollup_scope_feedback", SCOPED, FEEDBACK)


class Times:
    """One kind of time per case (to first response, to resolution) per scope, counted by the month the
    case was raised: `buckets` per category (and `EVERY`), month (and `EVERY`: a summary over every month
    reads a bucket row per category, not one per month) and bucket; `minutes` per category, bucket, month
    (and `EVERY`: a bucket's minutes over every month are at most its width, not its width per month)
    and minute."""

    def __init__(self, name: str, minutes_of: Callable[[Row], int | None]) -> None:
        self.minutes_of = minutes_of
        self.buckets = _table(f"rollup_scope_{name}_buckets", ("scope", "category", "month", "bucket"),
                              ("n",))
        self.minutes = _table(f"rollup_scope_{name}_minutes", ("scope", "category", "bucket", "month",
                                                                "minutes"), ("n",))

    def rollups(self, paths: Paths) -> tuple[Rollup, ...]:
        return (Rollup(self.buckets, _keys(self.buckets), ("n",), partial(self._buckets, paths)),
                Rollup(self.minutes, _keys(self.minutes), ("n",), partial(self._minutes, paths)))

    def _buckets(self, paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
        taken = self.minutes_of(row)
        if taken is not None:
            counted = bucket(taken)
            for scope in _scopes(paths, row["cell_id"]):
                for category in (row["category"] or NONE, EVERY):
                    for month in (row["raised_month"], EVERY):
                        yield (scope, category, month, counted), {"n": 1}

    def _minutes(self, paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
        taken = self.minutes_of(row)
        if taken is not None:
            counted = bucket(taken)
            for scope in _scopes(paths, row["cell_id"]):
                for month in (row["raised_month"], EVERY):
                    yield (scope, row["category"] or NONE, counted, month, taken), {"n": 1}


first_response_times = Times("first_response", _first_response_minutes)
resolution_times = Times("resolution", _resolution_minutes)
# Days in each deliberation step per scope: per category, step and bucket, with how many on time; per step,
# bucket, category and minute.
step_buckets = _table("rollup_scope_step_buckets", ("scope", "category", "step", "bucket"), ("n", "on_time"))
step_minutes = _table("rollup_scope_step_minutes", ("scope", "step", "bucket", "category", "minutes"), ("n",))


def _keys(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)


def _scoped_cases(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    counts = _case_counts(row)
    for scope in _scopes(paths, row["cell_id"]):
        yield (scope, row["category"] or NONE, row["raised_month"]), counts


def _scoped_feedback(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    counts = _feedback_counts(row)
    if counts is not None:
        for scope in _scopes(paths, row["cell_id"]):
            yield (scope, row["category"] or NONE, row["feedback_month"] or NONE), counts


def _step_buckets(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    for held in row["steps"]:
        counted = bucket(int(held["seconds"] // 60))
        for scope in _scopes(paths, row["cell_id"]):
            yield ((scope, row["category"] or NONE, held["step"], counted),
                   {"n": 1, "on_time": int(held["on_time"])})


def _step_minutes(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    for held in row["steps"]:
        taken = int(held["seconds"] // 60)
        for scope in _scopes(paths, row["cell_id"]):
            yield (scope, held["step"], bucket(taken), row["category"] or NONE, taken), {"n": 1}


# What the scoped rollups count, beside the grid they are cut by: bumped when that changes (see `version`).
VERSION = 4  # 2: buckets of five binary digits; 3: buckets of every month; 4: minutes of every month


def for_grid(grid: Grid) -> tuple[Rollup, ...]:
    """Every rollup of the cases view, the scoped ones cut by `grid`."""
    scoped = paths(grid)
    return (*BY_CELL,
            Rollup(scoped_cases, SCOPED, TIMES, partial(_scoped_cases, scoped)),
            Rollup(scoped_feedback, SCOPED, FEEDBACK, partial(_scoped_feedback, scoped)),
            *first_response_times.rollups(scoped), *resolution_times.rollups(scoped),
            Rollup(step_buckets, _keys(step_buckets), ("n", "on_time"), partial(_step_buckets, scoped)),
            Rollup(step_minutes, _keys(step_minutes), ("n",), partial(_step_minutes, scoped)))


def version(grid: Grid) -> str:
    """What the rollups of `for_grid(grid)` hold, beside their tables' shape: `db init` sums them afresh
    from the view's rows when it changes (a cell added to the grid or moved)."""
    digest = hashlib.sha256(json.dumps(sorted(grid.items())).encode()).hexdigest()[:16]
    return f"{VERSION} {digest}"
