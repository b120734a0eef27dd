"""Command throughput and latency over HTTP, against the in-process Application on the same database.

    python -m bench.http_commands [--store sqlite|postgres|both] [--seconds S] [--rounds R]
                                  [--demands N] [--connections C] [--python-client] [--json PATH]
                                  [--postgres-url URL]

The requirement (as the renovation set it again):
- command throughput over HTTP with two or more processes on PostgreSQL ≥ 80 % of the in-process
  Application rate for the same commands on the same database in the same run (one process's share
  is shown for information: its target was retired);
- p99 latency under 100 ms at half the maximum rate;
- `history` of a 1,000-event case under 50 ms.

For each store a fresh database (a SQLite file, or a PostgreSQL schema dropped afterwards) is
initialised as `minqing db init` does, with a worker account and a bearer token, and
`minqing api --workers W` is started on it as real processes (W = 1, and 2 on PostgreSQL). Every
timed run gets its own N demands freshly raised (one event each), so every run loads demands of the
same length. The command is a working note (`add_note` / `POST /api/v1/demands/{id}/note`), round
robin over the run's demands, so no two requests in flight touch the same case.

1. in-process and HTTP maximum, in R paired rounds of S/R seconds each (the machine's busy spells
   then fall on both sides of each ratio; the ratio reported is the median of the rounds'):
   - in-process: `app.add_note(...)` from one thread: the Application's rate;
   - HTTP: a closed-loop load of C connections with `wrk` (one thread; a Lua script writes the
     POST bodies), after a warm-up. Without `wrk` (or with --python-client) a Python client of C
     threads with keep-alive connections is used instead (slower: it takes CPU the server needs).
     Every request must answer 2xx, and the events recorded must match the requests answered.
   The in-process rate from 4 threads is shown once, for information.
3. HTTP at half the maximum: an open-loop Python generator sends requests on a fixed schedule at
   half the rate just measured for S seconds; latency counts from the scheduled send time, so a
   stall is not hidden by requests that were never sent (no coordinated omission).
4. history: `GET /api/v1/demands/{id}/history` of a demand with 1,000 events (raised + 999
   notes), 5 warm-up requests, then 50 timed sequentially: median and p99.

The load generator runs on the same machine as the server and the database and competes with
them for the CPUs; on a machine with few cores that lowers the HTTP numbers.

Prints a markdown table; exit status 0 if every target is met, else 1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from api import auth, compose
from api.settings import Settings
from bench.support import POSTGRES_URL, describe, fresh_database, machine
from domain.application import SYSTEM, Minqing

ROOT = Path(__file__).resolve().parents[1]
WORKER = "bench.worker"
CELLS = ("qingshui.dongcun.g1", "qingshui.dongcun.g2", "qingshui.dongcun.g3")
NOTE = {"text": "called the resident back; the repair crew comes on Thursday"}
PROCESSES_SHARE = 0.80
P99_LIMIT_MS, HISTORY_LIMIT_MS = 100.0, 50.0


# ---------------------------------------------------------------------------- set-up
def initialise(url: str) -> None:
    compose.initialise(Settings(database_url=url))


def open_app(url: str) -> Minqing:
    app = Settings(database_url=url).open_application()
    app.accounts = auth.CachedAccounts(app.account, app.account_version)  # as in the API
    return app


def add_worker(app: Minqing) -> str:
    app.open_account(actor=SYSTEM, username=WORKER, display_name="bench")
    app.grant_role(actor=SYSTEM, username=WORKER, role="worker", cell_id="qingshui.dongcun")
    return auth.issue_token(app, actor=SYSTEM, username=WORKER, label="bench")[1]


def raise_demands(app: Minqing, n: int) -> list[UUID]:
    return [app.raise_demand(actor=WORKER, channel="phone", title=f"bench demand {i}", cell_id=CELLS[i % 3],
                             category="repairs").id for i in range(n)]


def long_case(app: Minqing, events: int) -> UUID:
    demand = app.raise_demand(actor=WORKER, channel="visit", title="a long case", cell_id=CELLS[0],
                              category="repairs", resident_name="张三", resident_phone="13800000000").id
    for i in range(events - 1):
        app.add_note(demand, actor=WORKER, text=f"note {i}: visited again, talked it through")
    return demand


# ---------------------------------------------------------------------------- in-process
def in_process_rate(app: Minqing, ids: list[UUID], seconds: float, threads: int = 1) -> float:
    """Notes per second through the Application's use case, round robin over `ids`."""
    counter = iter(range(10**9))
    lock = threading.Lock()
    done = [0] * threads
    stop_at = time.perf_counter() + seconds

    def run(slot: int) -> None:
        while time.perf_counter() < stop_at:
            with lock:
                i = next(counter)
            app.add_note(ids[i % len(ids)], actor=WORKER, text=NOTE["text"])
            done[slot] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - started)


# ---------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str, processes: int, logdir: Path) -> Iterator[tuple[int, int]]:
    """`minqing api --workers N` as real processes; SIGTERM on exit. Yields the port and the process id."""
    port = free_port()
    env = {**os.environ, "MINQING_DATABASE_URL": url}
    log = (logdir / f"api-{processes}-{port}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "api", "--workers", str(processes), "--port",
                             str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited with {proc.returncode}; see {log.name}")
            try:
                status, _ = get(port, "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start within 60 s")
            time.sleep(0.2)
        if processes > 1:  # the processes start one after another: let every one answer
            time.sleep(2)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------- load generators
@dataclass
class Load:
    requests: int
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)   # Python generators only
    percentiles_ms: dict[str, float] = field(default_factory=dict)
    tool: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def failures(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


LUA = """
local ids = {%(ids)s}
local n = #ids
local i = 0
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s"}
local body = '%(body)s'
request = function()
  i = i + 1
  return wrk.format("POST", "/api/v1/demands/" .. ids[(i %% n) + 1] .. "/note", headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "status_errors": %%d, ' ..
    '"socket_errors": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "max": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_max(port: int, token: str, ids: list[UUID], seconds: float, connections: int, workdir: Path) -> Load:
    script = workdir / f"note-{port}-{len(ids)}-{time.monotonic_ns()}.lua"
    script.write_text(LUA % {"ids": ",".join(f'"{i}"' for i in ids), "token": token,
                             "body": json.dumps(NOTE, ensure_ascii=False)})
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                          "-s", str(script), f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                         timeout=seconds + 60, check=True).stdout
    found = re.search(r"^RESULT (\{.*\})$", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = json.loads(found.group(1))
    ok = r["requests"] - r["status_errors"]
    load = Load(r["requests"], r["duration_us"] / 1e6, Counter({200: ok, 0: r["socket_errors"]}), tool="wrk")
    if r["status_errors"]:
        load.statuses[409] += r["status_errors"]  # non-2xx; wrk does not say which
    load.percentiles_ms = {k: r[k] / 1000 for k in ("p50", "p90", "p99", "max")}
    return load


class Sender:
    """One keep-alive connection that POSTs notes."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.conn = port, http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        self.body = json.dumps(NOTE, ensure_ascii=False).encode()

    def note(self, demand_id: UUID) -> int:
        try:
            self.conn.request("POST", f"/api/v1/demands/{demand_id}/note", self.body, self.headers)
            response = self.conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 0

    def close(self) -> None:
        self.conn.close()


def python_max(port: int, token: str, ids: list[UUID], seconds: float, connections: int) -> Load:
    """Closed loop: C threads, each sending its next request as soon as the last one is answered."""
    counter, lock = iter(range(10**9)), threading.Lock()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    def run() -> None:
        sender = Sender(port, token)
        while time.perf_counter() < stop_at:
            with lock:
                i = next(counter)
            sent = time.perf_counter()
            status = sender.note(ids[i % len(ids)])
            latencies.append((time.perf_counter() - sent) * 1000)
            statuses[status] += 1
        sender.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load = Load(sum(statuses.values()), time.perf_counter() - started, statuses, latencies, tool="python")
    load.percentiles_ms = percentiles(latencies)
    return load


def fixed_rate(
    port: int, token: str, ids: list[UUID], rate: float, seconds: float, senders: int = 16
) -> Load:
    """Open loop: request k is due at start + k / rate whatever happened before; latency counts from then."""
    total = max(1, int(rate * seconds))
    due: queue.Queue[tuple[int, float] | None] = queue.Queue()
    start = time.perf_counter() + 0.2
    for k in range(total):
        due.put((k, start + k / rate))
    for _ in range(senders):
        due.put(None)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    def run() -> None:
        sender = Sender(port, token)
        while (item := due.get()) is not None:
            k, at = item
            wait = at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            status = sender.note(ids[k % len(ids)])
            latencies.append((time.perf_counter() - at) * 1000)
            statuses[status] += 1
        sender.close()

    threads = [threading.Thread(target=run) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load = Load(total, time.perf_counter() - start, statuses, latencies, tool="python, open loop")
    load.percentiles_ms = percentiles(latencies)
    return load


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"p50": at(0.50), "p90": at(0.90), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


def history_latency(port: int, token: str, demand: UUID, events: int, n: int = 50) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    try:
        for k in range(5 + n):
            started = time.perf_counter()
            conn.request("GET", f"/api/v1/demands/{demand}/history", headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"history answered {response.status}: {body[:300]!r}")
            if k == 0 and len(json.loads(body)) != events:
                raise RuntimeError(f"history has {len(json.loads(body))} events, not {events}")
            if k >= 5:
                times.append(elapsed)
    finally:
        conn.close()
    return {"median": statistics.median(times), "p99": percentiles(times)["p99"], "bytes": len(body)}


# ---------------------------------------------------------------------------- one store
@dataclass
class Round:
    in_process: float      # notes/s through the Application just before the HTTP run
    http: Load
    recorded: int          # events the server recorded during the HTTP run

    @property
    def share(self) -> float:
        return self.http.rate / self.in_process


@dataclass
class HttpRun:
    processes: int
    rounds: list[Round]
    half: Load
    connections: int       # requests still in flight when the load generator stops may be recorded too

    @property
    def rate(self) -> float:
        return statistics.median(r.http.rate for r in self.rounds)

    @property
    def share(self) -> float:
        return statistics.median(r.share for r in self.rounds)

    @property
    def failures(self) -> int:
        return sum(r.http.failures for r in self.rounds) + self.half.failures

    @property
    def recorded_once(self) -> bool:
        return all(
            0 <= r.recorded - (r.http.requests - r.http.failures) <= self.connections for r in self.rounds
        )

    def latency(self, key: str) -> float:
        return statistics.median(r.http.percentiles_ms[key] for r in self.rounds)


@dataclass
class StoreResult:
    kind: str
    in_process: list[float]
    in_process_threads: float
    runs: list[HttpRun]
    history: dict[str, float]
    history_in_process_ms: float


def run_store(kind: str, args: argparse.Namespace, workdir: Path) -> StoreResult:
    """In-process and HTTP runs take turns, `--rounds` times, each on demands raised for it, so a busy
    spell of the machine falls on both sides of a ratio rather than on one."""
    process_counts = [1, 2] if kind == "postgres" else [1]
    seconds = args.seconds / args.rounds
    with fresh_database(kind, workdir, "http", args.postgres_url) as url, ExitStack() as servers:
        initialise(url)
        app = open_app(url)
        servers.callback(app.close)
        token = add_worker(app)
        long = long_case(app, args.history_events)
        in_process_rate(app, raise_demands(app, 200), 1.0)  # warm-up (connections, caches)
        ports = {n: servers.enter_context(server(url, n, workdir))[0] for n in process_counts}
        for port in ports.values():  # warm-up
            load_max(port, token, raise_demands(app, args.demands), 2.0, args)
        rounds: dict[int, list[Round]] = {n: [] for n in process_counts}
        in_process: list[float] = []
        for k in range(args.rounds):
            for n, port in ports.items():
                print(f"[{kind}] round {k + 1}/{args.rounds}: in-process, then HTTP with {n} process(es)",
                      file=sys.stderr)
                mine, theirs = raise_demands(app, args.demands), raise_demands(app, args.demands)
                in_process.append(in_process_rate(app, mine, seconds))
                head = app.recorder.max_notification_id() or 0
                load = load_max(port, token, theirs, seconds, args)
                recorded = (app.recorder.max_notification_id() or 0) - head
                rounds[n].append(Round(in_process[-1], load, recorded))
        threads = in_process_rate(app, raise_demands(app, args.demands), seconds, threads=4)
        runs = []
        for n, port in ports.items():
            top = statistics.median(r.http.rate for r in rounds[n])
            print(f"[{kind}] HTTP with {n} process(es) at half the maximum, {top / 2:.0f}/s", file=sys.stderr)
            half = fixed_rate(port, token, raise_demands(app, args.demands), top / 2, args.seconds)
            runs.append(HttpRun(n, rounds[n], half, args.connections))
        started = time.perf_counter()
        for _ in range(20):
            app.history(long)
        history_in_process = (time.perf_counter() - started) / 20 * 1000
        history = history_latency(ports[1], token, long, args.history_events)
    return StoreResult(kind, in_process, threads, runs, history, history_in_process)


def load_max(port: int, token: str, ids: list[UUID], seconds: float, args: argparse.Namespace) -> Load:
    if shutil.which("wrk") and not args.python_client:
        return wrk_max(port, token, ids, seconds, args.connections, Path(args.workdir))
    return python_max(port, token, ids, seconds, args.connections)


# ---------------------------------------------------------------------------- report
def checks(result: StoreResult) -> list[tuple[str, bool]]:
    found = []
    for run in result.runs:
        if run.processes > 1:  # one process has no target since the renovation (issue 9): information
            found.append((f"{result.kind}: HTTP with {run.processes} processes at {run.share:.0%} "
                          f"of the in-process rate (median of {len(run.rounds)} paired rounds; "
                          f"target ≥ {PROCESSES_SHARE:.0%})",
                          run.share >= PROCESSES_SHARE))
        found.append((f"{result.kind}: {run.processes} process(es), "
                      f"p99 {run.half.percentiles_ms['p99']:.1f} ms at {run.half.rate:.0f}/s, "
                      f"half the maximum (target < {P99_LIMIT_MS:.0f} ms)",
                      run.half.percentiles_ms["p99"] < P99_LIMIT_MS))
        found.append((f"{result.kind}: {run.processes} process(es), "
                      "every request answered 2xx and recorded once",
                      run.failures == 0 and run.recorded_once))
    found.append((f"{result.kind}: history of a 1,000-event case, p99 {result.history['p99']:.1f} ms, "
                  f"median {result.history['median']:.1f} ms (target < {HISTORY_LIMIT_MS:.0f} ms)",
                  result.history["p99"] < HISTORY_LIMIT_MS))
    return found


def table(results: list[StoreResult]) -> str:
    lines = ["| store | measurement | notes/s | share of in-process | p50 ms | p95 ms | p99 ms | failures |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rates = ", ".join(f"{x:,.0f}" for x in r.in_process)
        lines.append(f"| {r.kind} | in-process `app.add_note`, 1 thread (rounds: {rates}) | "
                     f"{statistics.median(r.in_process):,.0f} | 100 % | | | | |")
        lines.append(f"| {r.kind} | in-process `app.add_note`, 4 threads (information) | "
                     f"{r.in_process_threads:,.0f} | | | | | |")
        for run in r.runs:
            plural = "es" if run.processes > 1 else ""
            shares = ", ".join(f"{x.share:.0%}" for x in run.rounds)
            tool = run.rounds[0].http.tool
            lines.append(f"| {r.kind} | HTTP maximum, {run.processes} process{plural}, {tool}, "
                         f"{run.connections} connections (rounds: {shares}) | {run.rate:,.0f} | "
                         f"{run.share:.0%} | {run.latency('p50'):.1f} | | {run.latency('p99'):.1f} | "
                         f"{sum(x.http.failures for x in run.rounds)} |")
            h = run.half
            lines.append(f"| {r.kind} | HTTP at half the maximum, {run.processes} process{plural}, "
                         f"open loop | {h.rate:,.0f} | | {h.percentiles_ms['p50']:.1f} | "
                         f"{h.percentiles_ms['p95']:.1f} | {h.percentiles_ms['p99']:.1f} | {h.failures} |")
        lines.append(f"| {r.kind} | GET history of 1,000 events, 50 sequential "
                     f"(in-process `app.history` {r.history_in_process_ms:.1f} ms) | | | "
                     f"{r.history['median']:.1f} | | {r.history['p99']:.1f} | 0 |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="Seconds of each kind of measurement, split over the rounds.")
    parser.add_argument("--rounds", type=int, default=3, help="Paired in-process/HTTP rounds.")
    parser.add_argument("--demands", type=int, default=1000, help="Demands per phase (round robin).")
    parser.add_argument("--connections", type=int, default=4,
                        help="Concurrent connections at the maximum rate (4 gave the highest rate here).")
    parser.add_argument("--history-events", type=int, default=1000)
    parser.add_argument("--python-client", action="store_true",
                        help="Use the Python load generator, not wrk.")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    info = machine(kinds, args.postgres_url)
    use_wrk = shutil.which("wrk") and not args.python_client
    info["load generator"] = "wrk (1 thread)" if use_wrk else "Python threads"
    results = []
    with tempfile.TemporaryDirectory(prefix="minqing-http-") as workdir:
        args.workdir = workdir
        for kind in kinds:
            results.append(run_store(kind, args, Path(workdir)))
    print(f"Machine: {describe(info)}\n")
    print(table(results))
    print()
    passed = True
    for r in results:
        for text, ok in checks(r):
            print(f"- {'PASS' if ok else 'FAIL'} {text}")
            passed &= ok
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": [
            {"store": r.kind, "in_process": r.in_process, "in_process_4_threads": r.in_process_threads,
             "history_ms": r.history, "history_in_process_ms": r.history_in_process_ms,
             "runs": [{"processes": run.processes, "max_rate": run.rate, "share": run.share,
                       "rounds": [{"in_process": x.in_process, "http": x.http.rate, "recorded": x.recorded,
                                   "latency_ms": x.http.percentiles_ms} for x in run.rounds],
                       "half_rate": run.half.rate, "half_latency_ms": run.half.percentiles_ms,
                       "failures": run.failures} for run in r.runs]} for r in results]}, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
