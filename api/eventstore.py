"""The event store on PostgreSQL, failing fast when the database does not answer.

The library retries a recorder call that meets a database error ten times, 0.2 s apart, each attempt
waiting for a pooled connection: during an outage a request blocked for 10-14 s (issue 10, item 1).
Here a connection that cannot be had, or that breaks, ends the call at once with `DatabaseUnavailable`
(the API answers 503 with Retry-After, a worker backs off and tries again); other errors, such as a lock
timeout, keep the library's retries. The pool checks each connection before lending it (pre-ping), so
connections broken by a restart are replaced without one and nothing needs restarting afterwards.

Selected by `Settings.event_store_env` (PERSISTENCE_MODULE=api.eventstore:Factory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing import persistence
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL

RECONNECT_SECONDS = 3.0  # how long the pool retries a lost connection before the next request tries afresh
STATEMENT_TIMEOUT = "POSTGRES_STATEMENT_TIMEOUT"  # seconds, as Settings.event_store_env gives it; 0: none


class DatabaseUnavailable(persistence.PersistenceError):
    """The database does not answer: down, restarting, unreachable, or too slow to answer in time."""


def unavailable(error: BaseException | None) -> bool:
    """Whether a psycopg error says the database cannot be reached or used now, rather than refusing this
    statement: no connection to be had (the client found none, or the pool none in time), a connection
    broken or closed, the server shutting down or starting up (SQLSTATE class 57, which also holds a
    statement cancelled by its timeout), or a connection exception (class 08)."""
    if isinstance(error, psycopg.InterfaceError):
        return True
    if not isinstance(error, psycopg.OperationalError):
        return False
    return error.sqlstate is None or error.sqlstate[:2] in ("08", "57")


class FailFastDatastore(PostgresDatastore):
    """A PostgreSQL datastore whose calls end with `DatabaseUnavailable` when the database does not answer,
    and whose statements are cancelled after `statement_timeout` seconds (0: never)."""

    def __init__(self, *args: Any, statement_timeout: float = 0, **kwargs: Any) -> None:
        self.statement_timeout = statement_timeout
        super().__init__(*args, **kwargs)
        # The pool tries to replace a lost connection at growing intervals (1, 2, 4 ... s) for this long
        # before it gives up; the next request then has it try at once. With its default of five minutes
        # the API kept failing after the database was back, the longer the outage the longer (3.3 s after
        # a 10 s outage, tests/fault/test_outage.py; 0.4-0.5 s with this).
        self.pool.reconnect_timeout = RECONNECT_SECONDS

    def after_connect_func(self) -> Callable[[Connection[Any]], None]:
        configure = super().after_connect_func()
        milliseconds = int(self.statement_timeout * 1000)
        set_statement_timeout = SQL("SET statement_timeout = '{0}ms'").format(milliseconds)

        def after_connect(conn: Connection[Any]) -> None:
            configure(conn)
            conn.cursor().execute(set_statement_timeout)

        return after_connect

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        try:
            with super().get_connection() as conn:
                yield conn
        except (persistence.OperationalError, persistence.InterfaceError) as error:
            if unavailable(error.__cause__):
                raise DatabaseUnavailable(str(error)) from error
            raise


class Factory(PostgresFactory):
    """The library's PostgreSQL factory with the datastore above, configured from the same environment."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        built = self.datastore  # configured from the environment by the library, never opened
        connect = built.pool.kwargs
        assert isinstance(connect, dict)  # the library gives the pool its connection arguments as a dict
        self.datastore = FailFastDatastore(
            dbname=connect["dbname"], host=connect["host"], port=connect["port"], user=connect["user"],
            password=connect["password"], connect_timeout=built.pool.timeout,
            idle_in_transaction_session_timeout=built.idle_in_transaction_session_timeout,
            pool_size=built.pool.min_size, max_overflow=built.pool.max_size - built.pool.min_size,
            max_waiting=built.pool.max_waiting, conn_max_age=built.pool.max_lifetime,
            pre_ping=built.pre_ping, lock_timeout=built.lock_timeout, schema=built.schema,
            single_row_tracking=built.single_row_tracking,
            originator_id_type="text" if built.originator_id_type == "text" else "uuid",
            enable_db_functions=built.enable_db_functions,
            statement_timeout=float(self.env.get(STATEMENT_TIMEOUT) or 0),
        )
        built.close()


def events_table(app: Application[Any]) -> list[str]:
    """The table the application's events are stored in (none in memory): for `projections.db.analyze`."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder | PostgresApplicationRecorder):
        return [recorder.events_table_name]
    return []
