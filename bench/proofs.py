"""What one proof of the sealed log costs at a district's size: built from every leaf hash (before issue 12's
fourth round) and from the stored complete subtrees (after).

    python -m bench.proofs [--store sqlite|postgres] [--leaves 100000 1000000] [--repeat 5]

A sealed log of N synthetic leaves (leaf hashes of their index; rows as the sealer writes them, with every
complete subtree in log_nodes) is written into a fresh store. Then, per size: one inclusion proof (leaf N/3
under the head of N leaves) and one consistency proof (from N/2 + 1 to N), each built as the API built them
before — every leaf hash below the head read in one query, the proof computed from them — and as it builds
them now, from O(log N) stored subtrees (`SealedLog.subtrees`, two queries). Both answers are checked equal.
Reported: the median wall time of each, and the time to write the log.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select

from bench.support import POSTGRES_URL, fresh_database, load_average, machine, median
from domain import merkle
from projections.db import make_engine
from projections.sealed_log import (
    HEADS_FILE,
    HeadsFile,
    SealedLog,
    create_tables,
    log_leaves,
    log_nodes,
    node_row,
)

CHUNK = 20_000


def write_log(engine: Engine, size: int) -> None:
    """Leaves 0..size-1 and their complete subtrees, as the sealer writes them (a transaction a chunk)."""
    frontier = merkle.Frontier()
    for start in range(0, size, CHUNK):
        leaves: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        for index in range(start, min(size, start + CHUNK)):
            leaf = merkle.leaf_hash(index.to_bytes(8, "big"))
            leaves.append({"leaf_index": index, "notification_id": index + 1,
                           "originator_id": f"{index:036d}", "originator_version": 1, "salt": bytes(16),
                           "leaf_hash": leaf})
            nodes.extend(node_row(node, hash_) for node, hash_ in frontier.add(leaf))
        with engine.begin() as conn:
            conn.execute(insert(log_leaves), leaves)
            conn.execute(insert(log_nodes), nodes)


def every_leaf_hash(engine: Engine, tree_size: int) -> list[bytes]:
    """What the proofs read before: every leaf hash below the head, in one query."""
    with engine.connect() as conn:
        rows = conn.execute(select(log_leaves.c.leaf_hash).where(log_leaves.c.leaf_index < tree_size)
                            .order_by(log_leaves.c.leaf_index)).scalars().all()
    return [bytes(h) for h in rows]


def timed(work: Callable[[], list[bytes]], repeat: int) -> tuple[float, list[bytes]]:
    times, answer = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = work()
        times.append(time.perf_counter() - started)
    return median(times), answer


def measure(url: str, size: int, heads: Path, repeat: int, repeat_before: int) -> str:
    """Write a log of `size` leaves into the store at `url`, time its proofs both ways: a row of the table."""
    engine = make_engine(url)
    try:
        create_tables(engine)
        started = time.perf_counter()
        write_log(engine, size)
        written = time.perf_counter() - started
        sealed = SealedLog(engine, HeadsFile(heads, url), Ed25519PrivateKey.generate().public_key())
        index, first = size // 3, size // 2 + 1
        inclusion = (
            timed(lambda: merkle.inclusion_proof(index, every_leaf_hash(engine, size)), repeat_before),
            timed(lambda: merkle.stored_inclusion_proofs([index], size, sealed.subtrees)[index], repeat))
        consistency = (
            timed(lambda: merkle.consistency_proof(first, every_leaf_hash(engine, size)), repeat_before),
            timed(lambda: merkle.stored_consistency_proof(first, size, sealed.subtrees), repeat))
    finally:
        engine.dispose()
    for (_, before), (_, after) in (inclusion, consistency):
        assert before == after, "the stored subtrees gave another proof"
    return (f"| {size:,} | {written:.0f} | {inclusion[0][0] * 1e3:,.0f} | {inclusion[1][0] * 1e3:.1f} "
            f"| {consistency[0][0] * 1e3:,.0f} | {consistency[1][0] * 1e3:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.proofs")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--leaves", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repeat-before", type=int, default=2)
    args = parser.parse_args(argv)
    print(" ".join(f"{k}={v}" for k, v in machine([args.store]).items()))
    print(f"{args.store}, load {load_average()}")
    print("| leaves | write the log s | inclusion before ms | after ms | consistency before ms | after ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.leaves:
            with fresh_database(args.store, Path(tmp), "proofs", POSTGRES_URL) as url:
                print(measure(url, size, Path(tmp) / HEADS_FILE, args.repeat, args.repeat_before), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
