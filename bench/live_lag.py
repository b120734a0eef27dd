"""Live lag of the projection worker: how long after a command returns the `cases` view has it.

    python -m bench.live_lag [--store sqlite|postgres|both] [--rate 300] [--seconds 30]
                             [--writers N] [--seed-demands 300] [--json PATH] [--postgres-url URL]

The requirement (issue "Views and workers"): with events written at 300 per second, the live lag
of the views has a 99th percentile under 1 second.

Per database kind, on a fresh store (a SQLite file, or a PostgreSQL schema dropped afterwards):

1. The tables are created (the event store's and the views', as `minqing db init` does) and
   `--seed-demands` demands are raised, so there are cases to add notes to.
2. The real projection worker is started as its own process, `python -m api.cli worker projections`
   with MINQING_DATABASE_URL set (on PostgreSQL it takes the views' advisory locks and is woken by
   the library's LISTEN/NOTIFY subscription; on SQLite it polls every 0.2 s), and the run waits
   until it has caught up.
3. Writer threads (`--writers`; by default one on SQLite, which has a single writer anyway, and
   four on PostgreSQL, where one command waits ≈ 3–10 ms on the database and two threads fell
   short of 300/s on this machine) issue commands through one `Minqing` Application's use-case
   methods as the system actor, one event each — nine in ten `add_note` on a seeded demand, one in
   ten `raise_demand` — paced on one monotonic schedule at `--rate` events per second in total
   (command n is due at start + n / rate; a writer behind schedule does not sleep), for
   `--seconds` seconds. Each writer works on its own demands, so commands never conflict.
4. A poller thread reads the `cases` row of `view_positions` every 10 ms (its own connection).
   For every event written, the lag is the time from the command returning (with the event's log
   position, `Recorded.position`) to the first poll, taken after that, that saw the view's position
   at or past it. The poll interval bounds the resolution (≈ 10 ms plus a query).
5. The run waits for the view to reach the last event, then stops the worker with SIGTERM.

Reported per store: the achieved write rate, the lag percentiles (p50, p95, p99, max) over every
event written, and pass/fail against p99 < 1 s. Exit status 0 if every store passes, else 1.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from sqlalchemy import Engine, select

from api.settings import Settings
from bench.support import POSTGRES_URL, fresh_database, load_average, log, start_run
from domain.application import SYSTEM, Minqing
from domain.deployment import Deployment, load
from projections.core import positions
from projections.db import make_engine
from projections.processor import create_tables

THRESHOLD_SECONDS = 1.0
POLL_SECONDS = 0.010
DEPLOYMENT = "village_township"
CELLS = ("qingshui.dongcun.g1", "qingshui.dongcun.g2", "qingshui.xicun.g1", "qingshui.community")


@dataclass
class Written:
    position: int
    returned: float  # time.perf_counter() when the command returned
    seconds: float   # how long the command took


@dataclass
class Result:
    store: str
    writers: int
    target_rate: float
    written: list[Written] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    behind_schedule: float = 0.0  # the most the writers fell behind their schedule, in seconds
    worker_exit: int | None = None

    @property
    def rate(self) -> float:
        return len(self.written) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """Nearest rank: the smallest lag with at least p % of the lags at or below it."""
        ordered = sorted(self.lags)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def passed(self) -> bool:
        return bool(self.lags) and self.percentile(99) < THRESHOLD_SECONDS


class Poller(threading.Thread):
    """Reads the `cases` view's position every POLL_SECONDS, keeping (time seen, position) on change."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="lag-poller", daemon=True)
        self.engine = engine
        self.seen: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.query = select(positions.c.position).where(positions.c.view == "cases")

    def position(self) -> int:
        return self.seen[-1][1] if self.seen else 0

    def run(self) -> None:
        with self.engine.connect() as conn:
            next_poll = time.perf_counter()
            while not self.stopping.is_set():
                found = conn.execute(self.query).scalar()
                conn.rollback()  # a fresh snapshot next time
                now = time.perf_counter()
                position = int(found or 0)
                if not self.seen or position != self.seen[-1][1]:
                    self.seen.append((now, position))
                next_poll += POLL_SECONDS
                time.sleep(max(0.0, next_poll - time.perf_counter()))

    def wait_for(self, position: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.position() < position:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def lag_of(self, written: Written) -> float:
        """From the command returning to the first poll after it that saw the view at its position."""
        times = [t for t, _ in self.seen]
        first = bisect.bisect_left(times, written.returned)
        later = [p for _, p in self.seen[first:]]
        found = bisect.bisect_left(later, written.position)  # positions only grow
        if found == len(later):
            return math.inf
        return self.seen[first + found][0] - written.returned


def _seed(app: Minqing, count: int) -> list[UUID]:
    return [app.raise_demand(actor=SYSTEM, channel="phone", title=f"路灯不亮 street light out {i}",
                             cell_id=CELLS[i % len(CELLS)], resident_name="居民",
                             resident_phone="13800000000").id
            for i in range(count)]


def _writer(app: Minqing, demands: list[UUID], index: int, writers: int, rate: float, start: float,
            stop_at: float, out: list[Written], behind: list[float]) -> None:
    """Commands numbered index, index + writers, …, each due at start + n / rate."""
    n, worst = index, 0.0
    while True:
        due = start + n / rate
        if due >= stop_at:
            break
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        else:
            worst = max(worst, now - due)
        began = time.perf_counter()
        if n % 10 == 9:
            recorded = app.raise_demand(actor=SYSTEM, channel="phone", title=f"新诉求 new demand {n}",
                                        cell_id=CELLS[n % len(CELLS)], resident_name="居民",
                                        resident_phone="13800000000")
        else:
            recorded = app.add_note(demands[(n // writers) % len(demands)], actor=SYSTEM,
                                    text=f"回访记录 note {n}: called the resident back")
        returned = time.perf_counter()
        out.append(Written(recorded.position, returned, returned - began))
        n += writers
    behind.append(worst)


def run_store(kind: str, deployment: Deployment, args: argparse.Namespace, tmpdir: Path,
              log: Callable[[str], None]) -> Result:
    writers = args.writers or (1 if kind == "sqlite" else 4)
    result = Result(kind, writers, args.rate)
    with fresh_database(kind, tmpdir, "lag", args.postgres_url) as url:
        settings = Settings(database_url=url, cipher_key=None)
        Minqing(deployment, env=settings.event_store_env(create_tables=True)).close()
        views_engine = make_engine(url)
        create_tables(views_engine)
        views_engine.dispose()
        app = Minqing(deployment, env=settings.event_store_env())
        reader = make_engine(url, writer=False)
        worker_log = tmpdir / f"worker-{kind}.log"
        worker = None
        try:
            demands = _seed(app, args.seed_demands)
            head = int(app.recorder.max_notification_id() or 0)
            env = {**os.environ, "MINQING_DATABASE_URL": url, "MINQING_DEPLOYMENT": DEPLOYMENT}
            with worker_log.open("wb") as sink:
                worker = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "projections"], env=env,
                                          stdout=sink, stderr=subprocess.STDOUT)
            poller = Poller(reader)
            poller.start()
            if not poller.wait_for(head, 120):
                raise RuntimeError(f"the worker did not catch up the seed events; see {worker_log}")
            log(f"  {kind:8} worker caught up {head} seed events; writing at {args.rate:.0f}/s "
                f"for {args.seconds:.0f} s with {writers} writer(s)")
            outs: list[list[Written]] = [[] for _ in range(writers)]
            behind: list[float] = []
            start = time.perf_counter() + 0.1
            stop_at = start + args.seconds
            threads = [threading.Thread(target=_writer, name=f"writer-{i}",
                                        args=(app, demands[i::writers], i, writers, args.rate, start, stop_at,
                                              outs[i], behind))
                       for i in range(writers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            result.elapsed = max(w.returned for out in outs for w in out) - start
            result.written = sorted((w for out in outs for w in out), key=lambda w: w.returned)
            result.behind_schedule = max(behind, default=0.0)
            last = max(w.position for w in result.written)
            if not poller.wait_for(last, 60):
                log(f"  {kind:8} the view did not reach position {last} within 60 s of the last write")
            poller.stopping.set()
            poller.join()
            result.lags = [poller.lag_of(w) for w in result.written]
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                try:
                    result.worker_exit = worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    result.worker_exit = worker.wait()
            reader.dispose()
            app.close()
    if result.worker_exit != 0:
        log(f"  {kind:8} worker exited with {result.worker_exit}; its log: {worker_log.read_text()[-2000:]}")
    return result


def table(results: list[Result]) -> str:
    lines = ["| store | writers | target rate | achieved rate | events | lag p50 | p95 | p99 | max "
             "| p99 < 1 s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in results:
        ms = {p: r.percentile(p) * 1000 for p in (50, 95, 99, 100)}
        lines.append(f"| {r.store} | {r.writers} | {r.target_rate:,.0f}/s | {r.rate:,.1f}/s "
                     f"| {len(r.written):,} | "
                     f"{ms[50]:,.0f} ms | {ms[95]:,.0f} ms | {ms[99]:,.0f} ms | {ms[100]:,.0f} ms | "
                     f"{'pass' if r.passed else '**FAIL**'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_lag", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rate", type=float, default=300.0, help="events written per second, in total")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to write")
    parser.add_argument("--writers", type=int, default=0,
                        help="writer threads (default: 1 on SQLite, 4 on PostgreSQL)")
    parser.add_argument("--seed-demands", type=int, default=300,
                        help="demands raised before the worker starts")
    parser.add_argument("--json", type=Path, help="also write the results and machine details here")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.seed_demands < 1 or args.writers < 0:
        parser.error("--rate, --seconds and --seed-demands must be positive")

    kinds, info = start_run(args.store, args.postgres_url)
    deployment = load(DEPLOYMENT)
    results = []
    with tempfile.TemporaryDirectory(prefix="minqing-bench-") as tmp:
        for kind in kinds:
            results.append(run_store(kind, deployment, args, Path(tmp), log))
    info["load average at end"] = load_average()
    ok = all(r.passed for r in results)
    print(f"Live lag of the `cases` view — {args.rate:.0f} events/s for {args.seconds:.0f} s, "
          f"poll every {POLL_SECONDS * 1000:.0f} ms (load average {info['load average at start']} at start, "
          f"{info['load average at end']} at end)\n")
    print(table(results))
    for r in results:
        print(f"\n{r.store}: writers fell behind their schedule by at most "
              f"{r.behind_schedule * 1000:,.0f} ms; "
              f"command time p50 {sorted(w.seconds for w in r.written)[len(r.written) // 2] * 1000:.1f} ms; "
              f"worker exit status {r.worker_exit}")
    print(f"\nVerdict: {'PASS' if ok else 'FAIL'} "
          f"(p99 lag < {THRESHOLD_SECONDS:.0f} s on {' and '.join(kinds)})")
    if args.json:
        args.json.write_text(json.dumps({
            "benchmark": "live_lag", "arguments": vars(args) | {"json": str(args.json)}, "machine": info,
            "results": {r.store: {"writers": r.writers, "target_rate": r.target_rate, "rate": r.rate,
                                  "events": len(r.written), "elapsed": r.elapsed,
                                  "behind_schedule": r.behind_schedule, "worker_exit": r.worker_exit,
                                  "lag_ms": {f"p{p}": r.percentile(p) * 1000 for p in (50, 95, 99, 100)},
                                  "pass": r.passed} for r in results},
            "pass": ok,
        }, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
