"""Lists, search, summaries, visit coverage and the notice board at a district's size, over HTTP.

    python -m bench.scale --demands N --store sqlite|postgres [--url URL] [--rebuild | --as-is]
                          [--requests 50] [--json PATH]

The targets (issue 12): at 1,000,000 demands on PostgreSQL and 300,000 on SQLite, every staff list,
search, summary, visit-coverage and notice-board call p95 < 100 ms; a case, its history and its trace
p95 < 50 ms; an API process under 300 MB resident; the full rebuild time stated.

The store: `--url` names one that already holds a history; otherwise one is made once with
`minqing demo --scale N` (the streamed generator) and kept for later runs — a SQLite file
`build/bench/scale-N.db`, or a PostgreSQL schema `bench_scale_N` — since making a million demands
takes most of an hour. Its views are brought up to date first (timed: events per second); with
`--rebuild` they are emptied and built again from the whole log, the full rebuild time.

Then `minqing api` (one process) is started on the store and each call is asked as three people: a
supervisor over the whole district, one over the township holding the most cases, and a worker over
one village of it. Each call: 5 untimed requests, then `--requests` timed ones, one after another over
one keep-alive connection; p50 and p95. The API process's peak resident memory (VmHWM) is read from
/proc at the end. Prints a markdown table; exit status 0 if every target is met, else 1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import Engine, func, select

from api import auth
from api.compose import analyze_store, initialise
from api.settings import Settings
from bench.http_commands import ROOT, percentiles, server
from bench.support import POSTGRES_URL, load_average, log
from domain.application import SYSTEM, Minqing
from domain.errors import UnknownActor
from projections import all_views
from projections.cases import cases
from projections.core import positions
from projections.db import make_engine
from projections.processor import Processor

LIST_TARGET_MS, CASE_TARGET_MS, RSS_TARGET_MB = 100.0, 50.0, 300.0
PEOPLE = ("district", "township", "village")


@dataclass
class Call:
    name: str
    path: str
    target_ms: float = LIST_TARGET_MS


def store_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if args.store == "sqlite":
        path = ROOT / "build" / "bench" / f"scale-{args.demands}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return f"{args.postgres_url}?schema=bench_scale_{args.demands}"


def made(url: str, demands: int) -> None:
    """A store holding `demands` demands, made by `minqing demo --scale` unless it holds events already."""
    initialise(Settings(database_url=url))
    app = Settings(database_url=url).open_application()
    try:
        if app.recorder.max_notification_id():
            return
    finally:
        app.close()
    log(f"making a store of {demands:,} demands at {url} with `minqing demo --scale`")
    env = {**os.environ, "MINQING_DATABASE_URL": url}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "api.cli", "demo", "--scale", str(demands)], env=env, cwd=ROOT,
                   check=True)
    log(f"made in {time.perf_counter() - started:,.0f} s")


def views_current(app: Minqing, engine: Engine, rebuild: bool) -> dict[str, float]:
    """Bring every view up to date (from empty with `rebuild`); events, seconds and events/s."""
    views = list(all_views().values())
    if rebuild:
        with engine.begin() as conn:
            for view in views:
                for table in view.tables:  # its rollups too, or the rebuild would count every case twice
                    conn.execute(table.delete())
                if view.make_indexes is not None:  # an index the view keeps, emptied with its rows
                    view.make_indexes(conn, view.table, True)
            conn.execute(positions.delete().where(positions.c.view.in_([v.name for v in views])))
    started = time.perf_counter()
    events = Processor(app, engine).catch_up(progress=None)
    analyze_store(app, engine)
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "rate": events / seconds if seconds else 0.0}


def people(app: Minqing, engine: Engine) -> dict[str, str]:
    """A token for each of PEOPLE: the district's supervisor, the busiest township's, a village's worker."""
    deployment = app.deployment
    root = deployment.root.id
    with engine.connect() as conn:
        busiest = conn.execute(select(cases.c.cell_id, func.count()).group_by(cases.c.cell_id)
                               .order_by(func.count().desc()).limit(1)).one()[0]
    chain = [busiest]
    while (parent := deployment.cells[chain[-1]].parent) is not None:
        chain.append(parent)
    # the cell below the root holding the busiest cell, and the cell above the busiest one (its village)
    township, village = chain[-2] if len(chain) > 1 else root, chain[1] if len(chain) > 2 else busiest
    grants = {"district": ("supervisor", root), "township": ("supervisor", township),
              "village": ("worker", village)}
    tokens = {}
    for who, (role, cell) in grants.items():
        username = f"bench.scale.{who}"
        try:
            app.account(username)  # made by an earlier run
        except UnknownActor:
            app.open_account(actor=SYSTEM, username=username, display_name=username)
            app.grant_role(actor=SYSTEM, username=username, role=role, cell_id=cell)
        tokens[who] = auth.issue_token(app, actor=SYSTEM, username=username, label="bench.scale")[1]
    log(f"people: district {root}, township {township}, village {village}")
    return tokens


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - started) * 1000

    def json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return orjson.loads(body)


def calls(client: Client, word: str) -> list[Call]:
    """The calls measured, for one person (ids and cursors taken from what they may read)."""
    first = client.json("/api/v1/demands?limit=50")
    case = first["items"][0]["id"] if first["items"] else None
    cursor = None
    page = first
    for _ in range(20):  # the 21st page of the list, reached by cursors
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
        page = client.json("/api/v1/demands?" + urlencode({"limit": 50, "cursor": cursor}))
    found = [
        Call("case list, first page", "/api/v1/demands?limit=50"),
        Call("case list, page 21 by cursor", "/api/v1/demands?" + urlencode({"limit": 50, "cursor": cursor})
             if cursor else "/api/v1/demands?limit=50"),
        Call("queue: open, by urgency", "/api/v1/demands?open=true&sort=urgency&limit=25"),
        Call("overdue=true", "/api/v1/demands?overdue=true&limit=50"),
        Call("unresolved", "/api/v1/views/unresolved?limit=50"),
        Call(f"q={word}", "/api/v1/demands?" + urlencode({"q": word, "limit": 50})),
        Call("satisfaction by category", "/api/v1/views/satisfaction?by=category"),
        Call("satisfaction by month", "/api/v1/views/satisfaction?by=month"),
        Call("response times by category", "/api/v1/views/response-times?by=category"),
        Call("response times by cell", "/api/v1/views/response-times?by=cell"),
        Call("response times by month", "/api/v1/views/response-times?by=month"),
        Call("satisfaction by cell", "/api/v1/views/satisfaction?by=cell"),
        Call("satisfaction by worker", "/api/v1/views/satisfaction?by=worker"),
        Call("response times by worker", "/api/v1/views/response-times?by=worker"),
        Call("step times", "/api/v1/views/response-times?steps=true"),
        Call("visit coverage by cell", "/api/v1/views/visit-coverage?by=cell"),
        Call("households overdue", "/api/v1/households?overdue=true&limit=50"),
        Call("notice board", "/api/v1/notices?limit=50"),
    ]
    if case:
        found += [Call("one case", f"/api/v1/demands/{case}", CASE_TARGET_MS),
                  Call("its history", f"/api/v1/demands/{case}/history", CASE_TARGET_MS),
                  Call("its trace", f"/api/v1/demands/{case}/trace", CASE_TARGET_MS)]
    return found


def measured(client: Client, call: Call, requests: int) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    for _ in range(5):
        statuses[client.get(call.path)[0]] += 1
    latencies = []
    for _ in range(requests):
        status, _, ms = client.get(call.path)
        statuses[status] += 1
        latencies.append(ms)
    return {"call": call.name, "path": call.path, "target_ms": call.target_ms, **percentiles(latencies),
            "statuses": dict(statuses)}


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of the process and its children (uvicorn's), in MB."""
    total = 0.0
    for proc in [pid, *_children(pid)]:
        for line in Path(f"/proc/{proc}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total = max(total, int(line.split()[1]) / 1024)
    return total


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in found.read_text().split()] if found.exists() else []


def frequent_word(engine: Engine) -> str:
    """Two characters that begin many titles: a search that matches a large share of the store."""
    with engine.connect() as conn:
        titles = conn.execute(select(cases.c.title).order_by(cases.c.raised_at.desc()).limit(2000)).scalars()
        counts = Counter(title[:2] for title in titles if len(title) >= 2 and title[:2].isalpha())
    return counts.most_common(1)[0][0] if counts else "路灯"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demands", type=int, default=100_000)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help="a store that already holds a history (made otherwise)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--deployment", default="district",
                        help="the store's deployment (MINQING_DEPLOYMENT)")
    parser.add_argument("--rebuild", action="store_true", help="empty the views and build them again, timed")
    parser.add_argument("--as-is", action="store_true",
                        help="ask the views as they stand, not brought up to date first (a catch-up cut "
                             "short: the district as it was at that point of its log)")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    url = store_url(args)
    os.environ["MINQING_DEPLOYMENT"] = args.deployment  # for this process, `demo --scale` and the API
    # the public notice board is rate limited per address: this one client asks it hundreds of times
    os.environ["MINQING_PUBLIC_REQUESTS_PER_MINUTE"] = "1000000"
    log(f"load average {load_average()} at start")
    if not args.url:
        made(url, args.demands)
    settings = Settings(database_url=url)
    initialise(settings)  # an upgrade's new view tables
    app = settings.open_application()
    engine = make_engine(url)
    if args.as_is:
        analyze_store(app, engine)  # which a catch-up does at its end
        catch_up = {"events": 0, "seconds": 0.0, "rate": 0.0}
    else:
        catch_up = views_current(app, engine, args.rebuild)
    log(f"views: {catch_up['events']:,} events in {catch_up['seconds']:,.0f} s ({catch_up['rate']:,.0f}/s)")
    with engine.connect() as conn:
        demands = conn.execute(select(func.count()).select_from(cases)).scalar_one()
    tokens = people(app, engine)
    word = frequent_word(engine)
    app.close()
    results: list[dict[str, Any]] = []
    logdir = ROOT / "build" / "bench"
    logdir.mkdir(parents=True, exist_ok=True)
    with server(url, 1, logdir) as (port, pid):
        for who in PEOPLE:
            client = Client(port, tokens[who])
            for call in calls(client, word):
                results.append({"person": who, **measured(client, call, args.requests)})
        rss = peak_rss_mb(pid)
    print(table(args, demands, catch_up, results, rss))
    met = rss < RSS_TARGET_MB and all(r["p95"] < r["target_ms"] and set(r["statuses"]) == {200}
                                      for r in results)
    if args.json:
        args.json.write_text(json.dumps({"store": args.store, "demands": demands, "catch_up": catch_up,
                                         "rss_mb": rss, "results": results}, indent=2))
    log(f"load average {load_average()} at end")
    return 0 if met else 1


def table(args: argparse.Namespace, demands: int, catch_up: dict[str, float], results: list[dict[str, Any]],
          rss: float) -> str:
    lines = [f"{args.store}, {demands:,} demands; views caught up: {catch_up['events']:,} events in "
             f"{catch_up['seconds']:,.0f} s ({catch_up['rate']:,.0f} events/s); API peak RSS {rss:,.0f} MB",
             "", "| call | " + " | ".join(f"{who} p50 / p95 (ms)" for who in PEOPLE) + " | target |",
             "|---|" + "---:|" * (len(PEOPLE) + 1)]
    names = list(dict.fromkeys(r["call"] for r in results))
    for name in names:
        row = {r["person"]: r for r in results if r["call"] == name}
        cells = []
        for who in PEOPLE:
            r = row.get(who)
            if r is None:
                cells.append("—")
                continue
            mark = "" if r["p95"] < r["target_ms"] and set(r["statuses"]) == {200} else " ✗"
            failed = "" if set(r["statuses"]) == {200} else f" {r['statuses']}"
            cells.append(f"{r['p50']:.0f} / {r['p95']:.0f}{mark}{failed}")
        target = next(iter(row.values()))["target_ms"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | < {target:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
