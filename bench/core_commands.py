"""Core in-process command rate: Minqing against the eventsourcing library's own floor.

    python -m bench.core_commands [--store sqlite|postgres|both|memory] [--cases N] [--commands M]
                                  [--repeat R] [--chunk C] [--json PATH] [--postgres-url URL]

The requirement: Minqing's in-process command rate (load + authorise + command + hash chain +
save, through the `Minqing` Application's use-case methods) is at least 70 % of the library's
own load + command + save on a minimal aggregate, on the same database, in the same run, on
SQLite and on PostgreSQL.

Events are encrypted at rest as the server stores them (the key folder's cipher.key, created in
`MINQING_KEY_DIR`); `MINQING_ENCRYPT=false` measures without (docs/performance.md, "Encryption at rest").

Workloads, each timed on its own fresh database (a SQLite file in a temporary directory, or a
PostgreSQL schema dropped afterwards), built with the same `Settings.event_store_env` the
server uses (`eventsourcing.sqlite`; on PostgreSQL `api.eventstore`, the library's module failing fast):

- baseline: a plain `eventsourcing.application.Application` with a minimal `Aggregate` (a
  counter with a note string, one small event). N aggregates are created, then M commands:
  `repository.get` + `increment(note)` + `save`, round robin over the N aggregates. This is
  the floor the requirement compares against.
- baseline (like-for-like): the same, but loading with `domain.application.replay`, the
  projector Minqing uses (the library's `project_aggregate` minus its per-event runtime
  Protocol assertion, ≈27 µs per event on Python 3.11). Not part of the pass/fail; the ratio
  against it shows what Minqing itself adds (authorisation, hash chain, bigger events and
  state, the snapshot lookup) with the projector cost equal on both sides.
- minqing note: a `Minqing` app (deployment village_township); staff accounts and N demands
  raised and triaged by a worker are set up untimed; then M calls of `app.add_note(...)` round robin.
- minqing mix: same set-up; M commands cycling add_note (worker), record_progress (worker) and
  assign (supervisor, which also looks up the assignee's account).

In each repeat every workload gets its own fresh database, is set up, and runs an untimed
warm-up (M/10 commands, at least 20, rounded up to whole rounds over the N aggregates) so
connections, caches and code paths are warm; the aggregates therefore hold the same number of
events in every workload, except that a demand has one more (Raised + Triaged vs Created). The
timed commands then run in chunks of 50 (`--chunk`), the workloads taking turns and the order
flipping every chunk and every repeat, so a slow spell of the disk or the database server is
shared rather than landing on one workload. Reported: the median rate of R repeats, and each
ratio as the median of the per-repeat ratios (paired: the workloads of one repeat ran
interleaved on the same machine state). Exit status 0 if every Minqing workload reaches 70 % of
the baseline on every store measured, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.application import Application, project_aggregate
from eventsourcing.domain import Aggregate, event

from api.auth import CachedAccounts
from api.settings import Settings
from domain.application import SYSTEM, Minqing, replay
from domain.deployment import Deployment, load

THRESHOLD = 0.70
POSTGRES_URL = os.environ.get("MINQING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEPLOYMENT = "village_township"
# The assign mix alternates between two workers of the village: an assignee must work over the case.
WORKER, SUPERVISOR, OTHER_WORKER = "wang.worker", "chen.supervisor", "li.worker"
STAFF = {WORKER: ("worker", "qingshui.dongcun"), OTHER_WORKER: ("worker", "qingshui.dongcun"),
         SUPERVISOR: ("supervisor", "qingshui")}
# Demands are raised in villager groups under the worker's village, so the scope check walks the grid.
CELLS = ("qingshui.dongcun.g1", "qingshui.dongcun.g2", "qingshui.dongcun.g3")


# ---------------------------------------------------------------------------- the library's floor
class Counter(Aggregate):
    """The smallest useful aggregate: a count and the last note."""

    def __init__(self, note: str) -> None:
        self.count = 0
        self.note = note

    @event("Incremented")
    def increment(self, note: str) -> None:
        self.count += 1
        self.note = note


class Baseline(Application):
    name = "baseline"


# ---------------------------------------------------------------------------- stores
class Stores:
    """Hands out fresh databases of one kind and removes them afterwards."""

    def __init__(self, kind: str, postgres_url: str, tmpdir: Path) -> None:
        self.kind, self.postgres_url, self.tmpdir = kind, postgres_url, tmpdir
        self.schemas: list[str] = []

    @contextmanager
    def fresh(self, label: str) -> Iterator[str]:
        """A database URL for an empty store, removed on exit."""
        if self.kind == "memory":
            yield "memory://"
        elif self.kind == "sqlite":
            path = self.tmpdir / f"{label}-{uuid.uuid4().hex[:8]}.db"
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            self.schemas.append(schema)
            try:
                yield f"{self.postgres_url}?schema={schema}"
            finally:
                self.drop(schema)

    def drop(self, schema: str) -> None:
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        self.schemas.remove(schema)

    def drop_all(self) -> None:
        for schema in list(self.schemas):
            self.drop(schema)


def env_for(url: str, *, create_tables: bool) -> dict[str, str]:
    return Settings(database_url=url, cipher_key=None).event_store_env(create_tables=create_tables)


# ---------------------------------------------------------------------------- workloads
# A workload's prepare(database url, cases) creates the tables and sets up its aggregates, untimed,
# and returns (command(i), close).
Prepared = tuple[Callable[[int], Any], Callable[[], None]]
Prepare = Callable[[str, int], Prepared]


@dataclass
class Workload:
    key: str
    label: str
    describe: str
    prepare: Prepare
    # "baseline": the floor the requirement compares against; "like": the floor loaded with Minqing's
    # replay function, to show Minqing's own overhead; "minqing": judged against the 70 %;
    # "info": a Minqing variant for attributing costs (--attribution), not judged.
    role: str = "minqing"

    @property
    def is_baseline(self) -> bool:
        return self.role == "baseline"

    @property
    def is_like_for_like(self) -> bool:
        return self.role == "like"


def prepare_baseline(url: str, cases: int, projector: Callable[..., Any] = project_aggregate) -> Prepared:
    Baseline(env=env_for(url, create_tables=True)).close()
    app = Baseline(env=env_for(url, create_tables=False))
    ids: list[UUID] = []
    for i in range(cases):
        counter = Counter(note=f"counter {i}")
        app.save(counter)
        ids.append(counter.id)

    def command(i: int) -> None:
        counter = app.repository.get(ids[i % cases], projector_func=projector)
        counter.increment(note=f"note {i}: called the resident back")
        app.save(counter)

    return command, app.close


def prepare_baseline_replay(url: str, cases: int) -> Prepared:
    return prepare_baseline(url, cases, projector=replay)


def _minqing(url: str, cases: int, deployment: Deployment,
             app_class: type[Minqing] = Minqing) -> tuple[Minqing, list[UUID]]:
    app_class(deployment, env=env_for(url, create_tables=True)).close()
    app = app_class(deployment, env=env_for(url, create_tables=False))
    app.accounts = CachedAccounts(app.account, app.account_version)  # as api.compose has them
    for username, (role, cell) in STAFF.items():
        app.open_account(actor=SYSTEM, username=username)
        app.grant_role(actor=SYSTEM, username=username, role=role, cell_id=cell)
    ids: list[UUID] = []
    for i in range(cases):
        raised = app.raise_demand(
            actor=WORKER, channel="visit", title=f"Drain blocked outside house {i}",
            cell_id=CELLS[i % len(CELLS)],
            description="Water stands in the lane after rain.", category="repairs",
            location=f"Lane {i % 7}, house {i}", resident_name="Li Hua", resident_phone="13800000000")
        app.triage(raised.id, actor=WORKER, category="repairs")
        ids.append(raised.id)
    return app, ids


def prepare_minqing_note(deployment: Deployment, app_class: type[Minqing] = Minqing) -> Prepare:
    def prepare(url: str, cases: int) -> Prepared:
        app, ids = _minqing(url, cases, deployment, app_class)

        def command(i: int) -> None:
            app.add_note(ids[i % cases], actor=WORKER, text=f"note {i}: called the resident back")

        return command, app.close

    return prepare


def prepare_minqing_mix(deployment: Deployment) -> Prepare:
    def prepare(url: str, cases: int) -> Prepared:
        app, ids = _minqing(url, cases, deployment)

        def command(i: int) -> None:
            demand_id, kind = ids[i % cases], i % 3
            if kind == 0:
                app.add_note(demand_id, actor=WORKER, text=f"note {i}: called the resident back")
            elif kind == 1:
                app.record_progress(demand_id, actor=WORKER, summary=f"work item {i} done", percent=i % 101)
            else:
                app.assign(demand_id, actor=SUPERVISOR, assignee=(WORKER, OTHER_WORKER)[(i // 3) % 2])

        return command, app.close

    return prepare


class MinqingLibraryProjector(Minqing):
    """Minqing loading with the library's `project_aggregate`, as before `replay` was introduced."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        get = self.repository.get

        def get_with_library_projector(aggregate_id: UUID, **kwargs: Any) -> Any:
            return get(aggregate_id, **{**kwargs, "projector_func": project_aggregate})

        self.repository.get = get_with_library_projector  # type: ignore[method-assign]


class MinqingWithoutSnapshots(Minqing):
    """Minqing with snapshotting off: no snapshot lookup before each load (and no snapshots)."""

    snapshotting_intervals: ClassVar[dict[type[Aggregate], int] | None] = None


# ---------------------------------------------------------------------------- running
@dataclass
class Result:
    store: str
    workload: str
    seconds: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates)

    def ratio_to(self, other: Result) -> float:
        """Median of the per-repeat ratios: each repeat's workloads ran interleaved on the same
        machine state, so their ratio is a paired measurement and survives drift between repeats."""
        return statistics.median(mine / theirs for mine, theirs in zip(self.rates, other.rates, strict=True))


def run_repeat(stores: Stores, workloads: list[Workload], args: argparse.Namespace, warmup: int,
               reverse: bool) -> dict[str, float]:
    """One repeat: every workload on its own fresh database, timed in interleaved chunks.

    All workloads are set up and warmed up first; then the timed commands run in chunks of
    `--chunk`, taking turns (the order flips every chunk and every repeat), so a slow spell of
    the disk or the database server is shared between them instead of landing on one.
    """
    order = list(reversed(workloads)) if reverse else list(workloads)
    elapsed = dict.fromkeys((w.key for w in workloads), 0.0)
    with ExitStack() as stack:
        commands: list[tuple[str, Callable[[int], Any]]] = []
        for workload in order:
            url = stack.enter_context(stores.fresh(workload.key))
            command, close = workload.prepare(url, args.cases)
            stack.callback(close)
            commands.append((workload.key, command))
        for _, command in commands:
            for i in range(warmup):
                command(i)
        done = turn = 0
        while done < args.commands:
            size = min(args.chunk, args.commands - done)
            first, last = warmup + done, warmup + done + size
            for key, command in (commands if turn % 2 == 0 else reversed(commands)):
                start = time.perf_counter()
                for i in range(first, last):
                    command(i)
                elapsed[key] += time.perf_counter() - start
            done, turn = last - warmup, turn + 1
    return elapsed


def run_store(kind: str, workloads: list[Workload], args: argparse.Namespace, tmpdir: Path,
              log: Callable[[str], None]) -> dict[str, Result]:
    stores = Stores(kind, args.postgres_url, tmpdir)
    results = {w.key: Result(kind, w.key) for w in workloads}
    # Warm up whole rounds, so every aggregate holds the same number of events when timing starts.
    warmup = max(20, args.commands // 10)
    warmup = -(-warmup // args.cases) * args.cases
    try:
        for r in range(args.repeat):
            elapsed = run_repeat(stores, workloads, args, warmup, reverse=r % 2 == 1)
            for workload in workloads:
                seconds = elapsed[workload.key]
                results[workload.key].seconds.append(seconds)
                results[workload.key].rates.append(args.commands / seconds)
            log(f"  {kind:8} repeat {r + 1}/{args.repeat}: " + ", ".join(
                f"{w.key} {args.commands / elapsed[w.key]:.0f}/s" for w in workloads))
    finally:
        stores.drop_all()
    return results


# ---------------------------------------------------------------------------- reporting
def machine(postgres_url: str, kinds: list[str]) -> dict[str, str]:
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "psycopg": version("psycopg"),
        "sqlite": sqlite3.sqlite_version,
    }
    if "postgres" in kinds:
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            fsync = conn.execute("SHOW fsync").fetchone()
            commit = conn.execute("SHOW synchronous_commit").fetchone()
        info["postgresql"] = f"{row[0] if row else '?'} (fsync {fsync[0] if fsync else '?'}, " \
                             f"synchronous_commit {commit[0] if commit else '?'})"
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _loadavg() -> str:
    """Other processes share the CPUs with the benchmark and the database server: say how busy."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "?"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def is_minqing(workload: Workload) -> bool:
    return workload.role in ("minqing", "info")


def table(all_results: dict[str, dict[str, Result]], workloads: list[Workload]) -> str:
    lines = [
        "| store | workload | commands/s (median) | min - max | vs baseline | vs like-for-like | >= 70 % |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for kind, results in all_results.items():
        base = next(results[w.key] for w in workloads if w.is_baseline)
        like = next((results[w.key] for w in workloads if w.is_like_for_like), None)
        for w in workloads:
            res = results[w.key]
            ratio = res.ratio_to(base)
            like_ratio = f"{res.ratio_to(like):.2f}" if like and is_minqing(w) else "—"
            verdict = ("pass" if ratio >= THRESHOLD else "**FAIL**") if w.role == "minqing" else \
                "(info)" if w.role == "info" else "—"
            lines.append(f"| {kind} | {w.label} | {res.median_rate:,.0f} | "
                         f"{min(res.rates):,.0f} - {max(res.rates):,.0f} | {ratio:.2f} | {like_ratio} | "
                         f"{verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.core_commands",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both", "memory"), default="both",
                        help="both = sqlite then postgres; memory (eventsourcing.popo, no I/O) "
                             "isolates the CPU cost")
    parser.add_argument("--cases", type=int, default=100, help="aggregates / demands per database (N)")
    parser.add_argument("--commands", type=int, default=1000,
                        help="timed commands per workload and repeat (M)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; the median is reported (R)")
    parser.add_argument("--chunk", type=int, default=50,
                        help="timed commands a workload runs before the next takes its turn")
    parser.add_argument("--attribution", action="store_true",
                        help="also time Minqing variants that show where its extra cost goes (not judged)")
    parser.add_argument("--json", type=Path, help="also write the results and machine details here")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    if min(args.cases, args.commands, args.repeat, args.chunk) < 1:
        parser.error("--cases, --commands, --repeat and --chunk must be at least 1")

    deployment = load(DEPLOYMENT)
    workloads = [
        Workload("baseline", "library baseline: get + increment + save",
                 "minimal Aggregate, plain Application", prepare_baseline, role="baseline"),
        Workload("baseline_replay", "library baseline, loaded with Minqing's `replay`",
                 "as baseline, repository.get(projector_func=domain.application.replay)",
                 prepare_baseline_replay, role="like"),
        Workload("minqing_note", "Minqing add_note",
                 "load + authorise + NoteAdded + chain + save", prepare_minqing_note(deployment)),
        Workload("minqing_mix", "Minqing mix: note / progress / assign",
                 "add_note, record_progress, assign (supervisor)", prepare_minqing_mix(deployment)),
    ]
    if args.attribution:
        workloads += [
            Workload("minqing_note_library_projector", "(info) Minqing add_note, library `project_aggregate`",
                     "add_note, loading with the library's projector (its per-event Protocol assert)",
                     prepare_minqing_note(deployment, MinqingLibraryProjector), role="info"),
            Workload("minqing_note_no_snapshots", "(info) Minqing add_note, snapshotting off",
                     "add_note without the snapshot lookup before each load",
                     prepare_minqing_note(deployment, MinqingWithoutSnapshots), role="info"),
        ]
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    info = machine(args.postgres_url, kinds)
    info["load average at start"] = _loadavg()
    log(f"cases={args.cases} commands={args.commands} repeat={args.repeat} stores={','.join(kinds)}")
    started = time.perf_counter()
    all_results: dict[str, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory(prefix="minqing-bench-") as tmp:
        for kind in kinds:
            all_results[kind] = run_store(kind, workloads, args, Path(tmp), log)
    elapsed = time.perf_counter() - started
    info["load average at end"] = _loadavg()

    ok = all(results[w.key].ratio_to(results["baseline"]) >= THRESHOLD
             for results in all_results.values() for w in workloads if w.role == "minqing")
    print(f"Core in-process command rate — {args.cases} cases, {args.commands} timed commands per "
          f"workload, median of {args.repeat} (total {elapsed:.0f} s)\n")
    for key, value in info.items():
        print(f"- {key}: {value}")
    print()
    print(table(all_results, workloads))
    print(f"\nVerdict: {'PASS' if ok else 'FAIL'} (every Minqing workload ≥ {THRESHOLD:.0%} of the baseline "
          f"on {' and '.join(kinds)})")
    if args.json:
        args.json.write_text(json.dumps({
            "benchmark": "core_commands",
            "arguments": {"store": args.store, "cases": args.cases, "commands": args.commands,
                          "repeat": args.repeat, "chunk": args.chunk, "attribution": args.attribution},
            "machine": info,
            "threshold": THRESHOLD,
            "elapsed_seconds": round(elapsed, 1),
            "workloads": {w.key: {"label": w.label, "what": w.describe, "role": w.role} for w in workloads},
            "results": {kind: {key: {"seconds": r.seconds, "rates": r.rates,
                                     "median_rate": r.median_rate,
                                     "ratio": r.ratio_to(results["baseline"]),
                                     "ratio_like_for_like": r.ratio_to(results["baseline_replay"])}
                               for key, r in results.items()}
                        for kind, results in all_results.items()},
            "pass": ok,
        }, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
