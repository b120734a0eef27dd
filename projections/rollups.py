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
by category, by worker and by month within it, by cell from the scopes of the cells directly under it. A
time is counted at three levels, each a histogram within one value of the level above: per bucket
(`bucket`: its magnitude, to an 8th or a 16th of it) with its month; per fine bucket within its bucket
(`fine`: to a 512th or a 1024th of it, the whole minute below 1,024 minutes); per minute within its fine
bucket, where the fine bucket is wider than a minute. A rank is found in the buckets first, then in the fine
buckets of the one bucket holding it, then in the minutes of the one fine bucket holding it: a summary
reads a few hundred rows per group, not one per case — nor every minute of a bucket of a district's
resolution times (two levels read up to 2,048 minutes per rank there; bench in the issue-12 note).
`EVERY` stands for "every worker", "every category" or "every month" where a summary may read them all
at once.

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
TIMES = ("cases", "responded", "resolved", "on_time", "responded_on_time")
FEEDBACK = ("asked", "answered", *RATINGS, "expired", "reopens")
INTEGERS = ("minutes", "bucket", "fine")

Grid = Mapping[str, str | None]  # each cell's parent, None at the top: the deployment's grid
ALONE = "="       # before a cell id: the scope of that cell alone, without the cells under it
EVERY = "*"       # the worker, category or month of a row counting every worker, category or month


def _table(name: str, groups: tuple[str, ...], counts: tuple[str, ...]) -> Table:
    return Table(name, metadata,
                 *(Column(g, Integer if g in INTEGERS else String(100), primary_key=True) for g in groups),
                 *(Column(c, Integer, nullable=False) for c in counts),
                 # kept in the order of its key on SQLite (a rowid table reads each row through its key's
                 # index, one look-up a row: a summary's scan 12x slower, bench in the issue-12 note)
                 sqlite_with_rowid=False)


def minutes(start: datetime, end: datetime) -> int:
    """A time as its whole minutes."""
    return int((end - start).total_seconds() // 60)


BUCKET_DIGITS, FINE_DIGITS = 4, 10


def _leading(minutes: int, digits: int) -> int:
    """A time by its magnitude and its `digits` leading binary digits (as a float keeps them): ascending with
    the times, the time itself below 2**digits minutes."""
    if minutes < 1 << digits:
        return minutes
    shift = minutes.bit_length() - digits
    return (1 << (digits - 1)) * shift + (minutes >> shift)


def bucket(minutes: int) -> int:
    """The bucket of a time of `minutes`: its four leading binary digits (3 days: 512 minutes wide)."""
    return _leading(minutes, BUCKET_DIGITS)


def fine(minutes: int) -> int:
    """The fine bucket of a time of `minutes` within its bucket: its ten leading binary digits (3 days:
    8 minutes wide; below 1,024 minutes, the minute itself)."""
    return _leading(minutes, FINE_DIGITS)


def exact(fine_bucket: int) -> bool:
    """Whether a fine bucket holds a single minute (itself): no minutes are counted within it."""
    return fine_bucket < 1 << FINE_DIGITS


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


# ---------------------------------------------------------------- what a case counts
def _times_worker(row: Row) -> str:
    return row["assignee"] or row["resolved_by"] or NONE


def _feedback_worker(row: Row) -> str:
    return row["assignee"] or row["asked_by"] or NONE


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


# ---------------------------------------------------------------- per scope
Paths = Mapping[str, list[str]]  # the scopes a case raised in each cell counts in (see `paths`)


def _scopes(paths: Paths, cell: str) -> list[str]:
    return paths.get(cell) or [cell]  # a cell since taken out of the grid: its own scope only


def _every(value: str) -> tuple[str, str]:
    """A case counts under its own worker, category or month, and under `EVERY`."""
    return value, EVERY


SCOPED = ("scope", "worker", "category", "month")
scoped_cases = _table("rollup_scope_cases", SCOPED, TIMES)
scoped_feedback = _table("rollup_scope_feedback", SCOPED, FEEDBACK)


class Times:
    """One kind of time per case (to first response, to resolution) per scope, counted by the month the
    case was raised and its worker, at three levels: `buckets` per worker, category, month and bucket;
    `fine` per worker, category, bucket, month and fine bucket; `minutes` per worker, category, fine
    bucket, month and minute (where the fine bucket is wider than a minute) — each under its own worker,
    category and month and under `EVERY` of each, so that a summary over every worker, category or month
    reads a row per bucket, not one per worker, category and month."""

    def __init__(self, name: str, minutes_of: Callable[[Row], int | None]) -> None:
        self.minutes_of = minutes_of
        self.buckets = _table(f"rollup_scope_{name}_buckets", (*SCOPED, "bucket"), ("n",))
        self.fine = _table(f"rollup_scope_{name}_fine",
                           ("scope", "worker", "category", "bucket", "month", "fine"), ("n",))
        self.minutes = _table(f"rollup_scope_{name}_minutes",
                              ("scope", "worker", "category", "fine", "month", "minutes"), ("n",))

    def rollups(self, paths: Paths) -> tuple[Rollup, ...]:
        return tuple(Rollup(table, _keys(table), ("n",), partial(self._counted, paths, table))
                     for table in (self.buckets, self.fine, self.minutes))

    def _counted(self, paths: Paths, table: Table, row: Row) -> Iterator[tuple[Group, Counts]]:
        taken = self.minutes_of(row)
        if taken is None or (table is self.minutes and exact(fine(taken))):
            return
        coarse, finer = bucket(taken), fine(taken)
        for scope in _scopes(paths, row["cell_id"]):
            for worker in _every(_times_worker(row)):
                for category in _every(row["category"] or NONE):
                    for month in _every(row["raised_month"]):
                        if table is self.buckets:
                            yield (scope, worker, category, month, coarse), {"n": 1}
                        elif table is self.fine:
                            yield (scope, worker, category, coarse, month, finer), {"n": 1}
                        else:
                            yield (scope, worker, category, finer, month, taken), {"n": 1}


first_response_times = Times("first_response", _first_response_minutes)
resolution_times = Times("resolution", _resolution_minutes)
# Days in each deliberation step per scope, at the same three levels: per category, step and bucket, with
# how many on time; per step, bucket, category and fine bucket; per step, fine bucket, category and minute.
step_buckets = _table("rollup_scope_step_buckets", ("scope", "category", "step", "bucket"), ("n", "on_time"))
step_fine = _table("rollup_scope_step_fine", ("scope", "step", "bucket", "category", "fine"), ("n",))
step_minutes = _table("rollup_scope_step_minutes", ("scope", "step", "fine", "category", "minutes"), ("n",))


def _keys(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)


def _scoped_cases(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    counts = _case_counts(row)
    for scope in _scopes(paths, row["cell_id"]):
        for worker in _every(_times_worker(row)):
            yield (scope, worker, row["category"] or NONE, row["raised_month"]), counts


def _scoped_feedback(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    counts = _feedback_counts(row)
    if counts is not None:
        for scope in _scopes(paths, row["cell_id"]):
            for worker in _every(_feedback_worker(row)):
                yield (scope, worker, row["category"] or NONE, row["feedback_month"] or NONE), counts


def _step_buckets(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    for held in row["steps"]:
        counted = bucket(int(held["seconds"] // 60))
        for scope in _scopes(paths, row["cell_id"]):
            yield ((scope, row["category"] or NONE, held["step"], counted),
                   {"n": 1, "on_time": int(held["on_time"])})


def _step_fine(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    for held in row["steps"]:
        taken = int(held["seconds"] // 60)
        for scope in _scopes(paths, row["cell_id"]):
            yield (scope, held["step"], bucket(taken), row["category"] or NONE, fine(taken)), {"n": 1}


def _step_minutes(paths: Paths, row: Row) -> Iterator[tuple[Group, Counts]]:
    for held in row["steps"]:
        taken = int(held["seconds"] // 60)
        if not exact(fine(taken)):
            for scope in _scopes(paths, row["cell_id"]):
                yield (scope, held["step"], fine(taken), row["category"] or NONE, taken), {"n": 1}


# What the scoped rollups count, beside the grid they are cut by: bumped when that changes (see `version`).
VERSION = 6  # 2: buckets of five binary digits; 3: buckets of every month; 4: minutes of every month;
# 5: per worker (and every worker), and minutes of every category; 6: three levels, buckets of four digits


def for_grid(grid: Grid) -> tuple[Rollup, ...]:
    """Every rollup of the cases view, the scoped ones cut by `grid`."""
    scoped = paths(grid)
    return (Rollup(scoped_cases, SCOPED, TIMES, partial(_scoped_cases, scoped)),
            Rollup(scoped_feedback, SCOPED, FEEDBACK, partial(_scoped_feedback, scoped)),
            *first_response_times.rollups(scoped), *resolution_times.rollups(scoped),
            Rollup(step_buckets, _keys(step_buckets), ("n", "on_time"), partial(_step_buckets, scoped)),
            Rollup(step_fine, _keys(step_fine), ("n",), partial(_step_fine, scoped)),
            Rollup(step_minutes, _keys(step_minutes), ("n",), partial(_step_minutes, scoped)))


def version(grid: Grid) -> str:
    """What the rollups of `for_grid(grid)` hold, beside their tables' shape: `db init` sums them afresh
    from the view's rows when it changes (a cell added to the grid or moved)."""
    digest = hashlib.sha256(json.dumps(sorted(grid.items())).encode()).hexdigest()[:16]
    return f"{VERSION} {digest}"
