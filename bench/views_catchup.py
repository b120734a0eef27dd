"""Catch-up of every view together against a minimal batched counter projection, same database, same run.

    python -m bench.views_catchup [--store sqlite|postgres|both] [--events 100000] [--repeat 3]
                                  [--json PATH] [--postgres-url URL]

The requirement (set again by the renovation): catching up 100,000 events for all views together
runs at no less than 50 % (PostgreSQL) and 40 % (SQLite) of the rate of a minimal batched counter
projection measured in the same run on the same database.

A lawful random history of at least `--events` events is generated once in memory
(`api.demo.history.generate`) and copied into one fresh store per database kind (a SQLite file, or
a PostgreSQL schema dropped afterwards), built with the server's own `Settings.event_store_env`
(library modules `eventsourcing.sqlite` / `eventsourcing.postgres`), with the views' tables in
the same database through `projections.db.make_engine`. Then, per repeat, on that store:

- baseline: a minimal batched counter projection, written plainly: pages of 500 read with
  `app.recorder.select_notifications`, every event decoded with `app.mapper.to_domain_event`,
  events counted per topic in memory, and per page the touched counters (upsert) and its own
  position row written in one SQLAlchemy transaction (tables `bench_counter`,
  `bench_counter_position`).
- views: `projections.processor.Processor(app, engine).catch_up()` over all views from zero,
  as `projections rebuild` and the tests use it: pages of 5,000 events read and decoded once,
  folded into every view in memory, and each view's changed rows written with its
  compare-and-set position in its own transaction once 50,000 rows are pending, or at the head
  (see `projections/processor.py`).
- read + decode (reference, not part of the verdict): pages of 500 read and decoded, nothing
  written — the ceiling any projection here could reach.

Events are encrypted at rest as the server stores them (the key folder's cipher.key, created in
`MINQING_KEY_DIR`); `MINQING_ENCRYPT=false` measures without (docs/performance.md, "Encryption at rest").

The generated history is frozen out of the garbage collector's reach (`gc.freeze`) since it stays
in memory for the whole run; one untimed read of the log warms the caches. Before each timed run
its tables are emptied and its positions removed and, on SQLite, the write-ahead log is copied
into the database file and emptied (`wal_checkpoint(TRUNCATE)`), so that no workload pays for
checkpointing what the one before it wrote. The workloads take turns within a repeat and
the order flips every repeat. Reported: each workload's median rate, the ratio of the medians
(the verdict) and, as a check against drift of the machine, the median of the per-repeat ratios.
Exit status 0 if the views reach their share of the baseline on every store measured, else 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, delete, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.demo.history import History, copy_events, generate
from api.settings import Settings
from bench.support import POSTGRES_URL, fresh_database, load_average, log, median, start_run
from domain.application import Minqing
from domain.deployment import Deployment, load
from projections import all_views
from projections.core import positions
from projections.db import make_engine
from projections.processor import Processor, create_tables

THRESHOLDS = {"sqlite": 0.40, "postgres": 0.50}  # the views' least share of the baseline, per store
PAGE = 500
DEPLOYMENT = "village_township"

# ---------------------------------------------------------------------------- the history, made once
_histories: dict[tuple[int, int], History] = {}


def history_of(deployment: Deployment, events: int, seed: int = 2026,
               log: Callable[[str], None] = lambda _: None) -> History:
    """A lawful history of at least `events` events, generated once per run (cached)."""
    if (events, seed) in _histories:
        return _histories[events, seed]
    demands = math.ceil(events / 10.5)
    while True:
        started = time.perf_counter()
        history = generate(deployment, demands=demands, households=max(1, demands // 6), seed=seed)
        made = int(history.app.recorder.max_notification_id() or 0)
        log(f"generated {made:,} events ({demands:,} demands, {demands // 6:,} households) "
            f"in {time.perf_counter() - started:.0f} s")
        if made >= events:
            _histories[events, seed] = history
            return history
        demands = math.ceil(demands * events / made * 1.03)


# ---------------------------------------------------------------------------- the baseline projection
bench_metadata = MetaData()
bench_counter = Table(
    "bench_counter", bench_metadata,
    Column("topic", String(200), primary_key=True),
    Column("events", BigInteger, nullable=False),
)
bench_position = Table(
    "bench_counter_position", bench_metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def counter_catch_up(app: Minqing, engine: Engine) -> int:
    """The minimal batched counter projection, from zero to the head; returns events processed."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    upsert = insert(bench_counter)
    upsert = upsert.on_conflict_do_update(index_elements=["topic"], set_={"events": upsert.excluded.events})
    counts: dict[str, int] = {}
    position, processed = 0, 0
    with engine.begin() as conn:
        conn.execute(bench_position.insert().values(name="counter", position=0))
    while True:
        page = app.recorder.select_notifications(position + 1, PAGE)
        if not page:
            return processed
        touched = set()
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            topic = notification.topic
            counts[topic] = counts.get(topic, 0) + 1
            touched.add(topic)
            del event
        with engine.begin() as conn:
            conn.execute(upsert, [{"topic": t, "events": counts[t]} for t in sorted(touched)])
            conn.execute(update(bench_position).where(bench_position.c.name == "counter")
                         .values(position=page[-1].id))
        position = page[-1].id
        processed += len(page)


def read_decode(app: Minqing, _: Engine) -> int:
    position, processed = 0, 0
    while True:
        page = app.recorder.select_notifications(position + 1, PAGE)
        if not page:
            return processed
        for notification in page:
            app.mapper.to_domain_event(notification)
        position = page[-1].id
        processed += len(page)


def views_catch_up(app: Minqing, engine: Engine) -> int:
    processor = Processor(app, engine)
    processor.catch_up()
    head = processor.head()
    assert set(processor.positions().values()) == {head}, processor.positions()
    return head


# ---------------------------------------------------------------------------- running
@dataclass
class Workload:
    key: str
    label: str
    run: Callable[[Minqing, Engine], int]
    tables: list[Table]
    position_rows: Callable[[], list[str]] = list  # rows of view_positions it owns


WORKLOADS = [
    Workload("baseline", "minimal batched counter projection (baseline)", counter_catch_up,
             [bench_counter, bench_position]),
    Workload("views", "all views: `Processor.catch_up()`", views_catch_up,
             [v.table for v in all_views().values()], lambda: list(all_views())),
    Workload("read", "read + decode only (reference)", read_decode, []),
]


@dataclass
class Result:
    rates: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def reset(engine: Engine, workload: Workload) -> None:
    with engine.begin() as conn:
        for table in workload.tables:
            if engine.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {table.name}"))
            else:
                conn.execute(delete(table))
        names = workload.position_rows()
        if names:
            conn.execute(delete(positions).where(positions.c.view.in_(names)))
    if engine.dialect.name == "sqlite":  # copy the write-ahead log into the database file now, not in the
        raw = engine.raw_connection()    # next workload's commits (the views leave 10 MB in it)
        try:
            busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert not busy, "a reader kept the write-ahead log from being checkpointed"
        finally:
            raw.close()


@contextmanager
def prepared_store(kind: str, history: History, deployment: Deployment, tmpdir: Path, postgres_url: str,
                   log: Callable[[str], None] = lambda _: None) -> Iterator[tuple[Minqing, Engine, int]]:
    """A fresh store of `kind` holding the history, with the views' and the baseline's tables."""
    with fresh_database(kind, tmpdir, "catchup", postgres_url) as url:
        settings = Settings(database_url=url, cipher_key=None)
        Minqing(deployment, env=settings.event_store_env(create_tables=True)).close()
        app = Minqing(deployment, env=settings.event_store_env())
        engine = make_engine(url)
        try:
            create_tables(engine)
            with engine.begin() as conn:
                bench_metadata.create_all(conn)
            started = time.perf_counter()
            events = copy_events(history.app, app)
            log(f"  {kind:8} copied {events:,} events in {time.perf_counter() - started:.0f} s")
            if kind == "postgres":
                with engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            yield app, engine, events
        finally:
            engine.dispose()
            app.close()


def run_store(kind: str, history: History, deployment: Deployment, args: argparse.Namespace, tmpdir: Path,
              log: Callable[[str], None]) -> tuple[int, dict[str, Result]]:
    results = {w.key: Result() for w in WORKLOADS}
    with prepared_store(kind, history, deployment, tmpdir, args.postgres_url, log) as (app, engine, events):
        read_decode(app, engine)  # untimed: warm the database's and the system's caches for everyone
        for r in range(args.repeat):
            order = WORKLOADS if r % 2 == 0 else list(reversed(WORKLOADS))
            line = []
            for workload in order:
                reset(engine, workload)
                started = time.perf_counter()
                processed = workload.run(app, engine)
                seconds = time.perf_counter() - started
                assert processed == events, (workload.key, processed, events)
                results[workload.key].seconds.append(seconds)
                results[workload.key].rates.append(events / seconds)
                line.append(f"{workload.key} {events / seconds:,.0f}/s")
            log(f"  {kind:8} repeat {r + 1}/{args.repeat}: " + ", ".join(line))
    return events, results


def table(all_results: dict[str, dict[str, Result]]) -> str:
    lines = ["| store | workload | events/s (median) | min – max | × baseline (ratio of medians) "
             "| median of per-repeat ratios | ≥ target |",
             "|---|---|---:|---:|---:|---:|:---:|"]
    for kind, results in all_results.items():
        base = median(results["baseline"].rates)
        for w in WORKLOADS:
            rate = median(results[w.key].rates)
            pairs = zip(results[w.key].rates, results["baseline"].rates, strict=True)
            paired = median([rate / base for rate, base in pairs])
            target = THRESHOLDS[kind]
            verdict = "—"
            if w.key == "views":
                verdict = ("pass" if rate >= target * base else "**FAIL**") + f" ({target:.0%})"
            lines.append(f"| {kind} | {w.label} | {rate:,.0f} | {min(results[w.key].rates):,.0f} – "
                         f"{max(results[w.key].rates):,.0f} | {rate / base:.2f} | {paired:.2f} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.views_catchup",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=100_000,
                        help="at least this many events in the history")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; the median is reported")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="also write the results and machine details here")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    if min(args.events, args.repeat) < 1:
        parser.error("--events and --repeat must be at least 1")

    kinds, info = start_run(args.store, args.postgres_url)
    deployment = load(DEPLOYMENT)
    history = history_of(deployment, args.events, args.seed, log)
    # The generated history stays in memory for the run (copied into each store): keep the cyclic
    # garbage collector from walking its million objects again and again while the workloads run.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    all_results: dict[str, dict[str, Result]] = {}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="minqing-bench-") as tmp:
        for kind in kinds:
            counts[kind], all_results[kind] = run_store(kind, history, deployment, args, Path(tmp), log)
    elapsed = time.perf_counter() - started
    info["load average at end"] = load_average()
    ok = all(median(r["views"].rates) >= THRESHOLDS[kind] * median(r["baseline"].rates)
             for kind, r in all_results.items())
    events = next(iter(counts.values()))
    print(f"Views catch-up — {events:,} events, median of {args.repeat} repeats "
          f"(total {elapsed:.0f} s; load average {info['load average at start']} at start, "
          f"{info['load average at end']} at end)\n")
    print(table(all_results))
    targets = " and ".join(f"{THRESHOLDS[kind]:.0%} on {kind}" for kind in kinds)
    print(f"\nVerdict: {'PASS' if ok else 'FAIL'} (all views together ≥ {targets} of the baseline)")
    if args.json:
        args.json.write_text(json.dumps({
            "benchmark": "views_catchup", "arguments": vars(args) | {"json": str(args.json)},
            "machine": info, "events": events, "thresholds": THRESHOLDS, "elapsed_seconds": round(elapsed, 1),
            "results": {kind: {key: {"rates": r.rates, "seconds": r.seconds, "median_rate": median(r.rates)}
                               for key, r in results.items()} for kind, results in all_results.items()},
            "pass": ok,
        }, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
