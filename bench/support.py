"""What the views benchmarks share: fresh databases of each kind and a description of the machine."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import psycopg

POSTGRES_URL = os.environ.get("MINQING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_database(kind: str, tmpdir: Path, label: str, postgres_url: str = POSTGRES_URL) -> Iterator[str]:
    """A database URL for an empty store (a SQLite file, or a PostgreSQL schema), removed on exit."""
    if kind == "sqlite":
        path = tmpdir / f"{label}-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres_url}?schema={schema}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def machine(kinds: Sequence[str], postgres_url: str = POSTGRES_URL) -> dict[str, str]:
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": _first("/proc/cpuinfo", "model name", lambda v: v) or platform.processor() or "?",
        "memory": _first("/proc/meminfo", "MemTotal",
                         lambda v: f"{int(v.split()[0]) / 1024 / 1024:.1f} GiB") or "?",
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "SQLAlchemy": version("SQLAlchemy"),
        "psycopg": version("psycopg"),
        "sqlite": sqlite3.sqlite_version,
    }
    if "postgres" in kinds:
        with psycopg.connect(postgres_url) as conn:
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                        for name in ("server_version", "fsync", "synchronous_commit")}
        info["postgresql"] = (f"{settings['server_version']} (fsync {settings['fsync']}, "
                              f"synchronous_commit {settings['synchronous_commit']})")
    return info


def _first(path: str, key: str, parse) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return str(parse(line.split(":", 1)[1].strip()))
    except (OSError, ValueError):
        pass
    return None


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe(info: dict[str, str]) -> str:
    return "; ".join(f"{k} {v}" for k, v in info.items())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def log(line: str) -> None:
    """Progress goes to stderr, so stdout keeps only the results table."""
    print(line, file=sys.stderr, flush=True)


def start_run(store: str, postgres_url: str = POSTGRES_URL) -> tuple[list[str], dict[str, str]]:
    """The stores a run covers ("both" means SQLite and PostgreSQL) and the machine details, logged."""
    kinds = ["sqlite", "postgres"] if store == "both" else [store]
    info = machine(kinds, postgres_url)
    info["load average at start"] = load_average()
    log(describe(info))
    return kinds, info
