"""What encrypting events at rest costs, measured paired in one process so a busy machine's drift falls on
both sides alike.

    python -m bench.encryption [--store sqlite|postgres] [--events 20000] [--repeat 5]

One lawful random history (`api.demo.history.generate`) is copied into two fresh stores of the same kind,
one written unencrypted (`MINQING_ENCRYPT=false`) and one encrypted as the server stores events by default
(the library's AESCipher, AES-256-GCM, with a key file in a temporary key folder). Per repeat, taking turns
and flipping the order every repeat: encode every event for storing (`mapper.to_stored_event`: what each
save adds), read and decode the whole log in pages of 500 (what every load, catch-up and rebuild does), and
take a `minqing backup` of it (to memory). Reported: the median per event of each, both ways, and the
difference — the cost of encryption per event.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from api.backup import backup
from api.demo.history import copy_events, generate
from api.settings import Settings
from bench.support import POSTGRES_URL, fresh_database, load_average, median
from domain.application import Minqing
from domain.deployment import load
from projections.db import make_engine


def read_all(app: Minqing) -> int:
    start, count = 1, 0
    while page := app.recorder.select_notifications(start, 500):
        for notification in page:
            app.mapper.to_domain_event(notification)
        count += len(page)
        start = page[-1].id + 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encryption")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    deployment = load("village_township")
    history = generate(deployment, demands=max(1, args.events // 12), seed=2026)
    events = [history.app.mapper.to_domain_event(n)
              for n in history.app.recorder.select_notifications(1, 10 ** 9)]
    with ExitStack() as stack:
        tmpdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        apps: dict[str, tuple[Minqing, Settings]] = {}
        for way, encrypt in (("unencrypted", False), ("encrypted", True)):
            url = stack.enter_context(fresh_database(args.store, tmpdir, way, POSTGRES_URL))
            settings = Settings(database_url=url, cipher_key=None, encrypt=encrypt, key_dir=tmpdir / "keys")
            Minqing(deployment, env=settings.event_store_env(create_tables=True)).close()
            app = Minqing(deployment, env=settings.event_store_env())
            stack.callback(app.close)
            copy_events(history.app, app)
            apps[way] = app, settings
        engines = {way: make_engine(settings.database_url) for way, (_, settings) in apps.items()}
        for engine in engines.values():
            stack.callback(engine.dispose)

        def encode(app: Minqing) -> int:
            for event in events:
                app.mapper.to_stored_event(event)
            return len(events)

        def take_backup(way: str) -> Callable[[Minqing], int]:
            def run(app: Minqing) -> int:
                return backup(app, engines[way], apps[way][1].cipher_key_text(), io.StringIO()).events
            return run

        timings: dict[tuple[str, str], list[float]] = {}
        for r in range(args.repeat):
            ways = ["unencrypted", "encrypted"] if r % 2 == 0 else ["encrypted", "unencrypted"]
            for name in ("encode", "read + decode", "backup"):
                for way in ways:
                    app = apps[way][0]
                    work = {"encode": encode, "read + decode": read_all, "backup": take_backup(way)}[name]
                    started = time.perf_counter()
                    count = work(app)
                    timings.setdefault((name, way), []).append((time.perf_counter() - started) / count * 1e6)
    print(f"{args.store}, {len(events):,} events, {args.repeat} repeats, load {load_average()}")
    print("| per event | unencrypted µs | encrypted µs | encryption adds µs |")
    print("|---|---:|---:|---:|")
    for name in ("encode", "read + decode", "backup"):
        plain, encrypted = median(timings[name, "unencrypted"]), median(timings[name, "encrypted"])
        print(f"| {name} | {plain:.1f} | {encrypted:.1f} | {encrypted - plain:+.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
