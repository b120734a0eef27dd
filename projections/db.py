"""SQLAlchemy engines for the views, in the same database (and schema) as the events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import orjson
from sqlalchemy import Connection, Engine, create_engine, event


def make_engine(database_url: str, *, writer: bool = True, wait_seconds: float = 1.0,
                statement_timeout: float = 0.0, **kwargs: Any) -> Engine:
    """An engine for MINQING_DATABASE_URL, writing and reading JSON columns with orjson.

    On SQLite a writer's transactions take the write lock up front (BEGIN IMMEDIATE), so two
    processors never both read a position and then race to write; readers do not block writers.

    On PostgreSQL no wait is unbounded, so a database that does not answer is an error soon (the API
    answers 503): a pooled connection is waited for `wait_seconds`, a new one for libpq's least connect
    timeout (2 s; refused at once when the server is down), a statement `statement_timeout` seconds (0:
    for ever); connections broken by a restart are found and replaced before they are used (pre-ping).
    """
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        engine = create_engine(database_url, connect_args={"timeout": 30}, json_serializer=_json_text,
                               json_deserializer=orjson.loads, **kwargs)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        return engine
    schema = parse_qs(url.query).get("schema", [""])[0]
    plain = urlunsplit(("postgresql+psycopg", url.netloc, url.path, "", ""))
    # Every statement planned for its own values (a scope of one cell or a thousand, one bucket or another):
    # psycopg prepares a statement run five times, and PostgreSQL then settles on a generic plan, which read
    # a summary's rank in 7-15 ms instead of 1 (100,000 demands; docs/performance.md, issue 12 fourth round).
    options = [f"-c statement_timeout={int(statement_timeout * 1000)}",
               "-c plan_cache_mode=force_custom_plan"]
    if schema:
        options.append(f"-c search_path={schema}")
    return create_engine(plain, connect_args={"connect_timeout": 2, "options": " ".join(options)},
                         pool_pre_ping=True, pool_timeout=wait_seconds, json_serializer=_json_text,
                         json_deserializer=orjson.loads, **kwargs)


def _json_text(value: Any) -> str:
    """JSON as text (orjson gives UTF-8 bytes, which SQLite would keep as a blob)."""
    return orjson.dumps(value).decode()


def analyze(conn: Connection, tables: Iterable[str]) -> None:
    """Gather the planner's statistics on `tables` (after `db init`, a rebuild or a large load): without
    them SQLite cannot tell a township's cases from a village's, and sorts every row of a list to show 50.
    SQLite reads each index whole: a sample (`analysis_limit=1000`) saw the first cells of an index by cell
    only and put every cell at 1,001 cases, so a township's open cases were counted by reading the whole
    view (116,454 demands: 72 ms, 7 ms through the indexes); every table of that store analysed whole
    takes 5 s."""
    for table in tables:
        conn.exec_driver_sql(f"ANALYZE {table}")
