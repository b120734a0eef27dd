"""How fast the sealer seals a log it has not seen: events a second of a first `minqing seal`.

    python -m bench.sealer [--store sqlite|postgres] [--events 50000]

One lawful random history (`api.demo.history.generate`) is copied into a fresh store, encrypted as the
server stores events by default; then one Sealer seals all of it (every event decoded, a leaf computed and
written, with the complete subtrees it closes; one signed head) and is timed; `--repeat` times, each into
a fresh store. Only the sealer's public
methods are used, so the same file measures an older version of the code (run it with that checkout first
on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.demo.history import copy_events, generate
from api.settings import Settings
from bench.support import POSTGRES_URL, fresh_database, load_average, median
from domain.application import Minqing
from domain.deployment import load
from domain.seal import Signer
from projections.db import make_engine
from projections.sealed_log import HEADS_FILE, HeadsFile, Sealer, create_tables


def seal_once(history: Minqing, store: str, tmp: Path) -> tuple[int, float]:
    """Copy the history into a fresh store and seal all of it: the events sealed and the seconds it took."""
    with fresh_database(store, tmp, "seal", POSTGRES_URL) as url:
        keys = tmp / "keys"
        settings = Settings(database_url=url, cipher_key=None, key_dir=keys)
        Minqing(history.deployment, env=settings.event_store_env(create_tables=True)).close()
        app = Minqing(history.deployment, env=settings.event_store_env())
        engine = make_engine(url)
        try:
            events = copy_events(history, app)
            create_tables(engine)
            signer = Signer(Ed25519PrivateKey.generate())
            sealer = Sealer(app, engine, signer, HeadsFile(keys / HEADS_FILE, url))
            started = time.perf_counter()
            [head] = sealer.seal()
            took = time.perf_counter() - started
        finally:
            engine.dispose()
            app.close()
    assert head.tree_size == events
    return events, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sealer")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    history = generate(load("village_township"), demands=max(1, args.events // 12), seed=2026)
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            events, took = seal_once(history.app, args.store, Path(tmp))
            rates.append(events / took)
    print(f"{args.store}: {events:,} events sealed at {median(rates):,.0f} events/s (median; each "
          f"{', '.join(f'{rate:,.0f}' for rate in rates)}; load {load_average()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
