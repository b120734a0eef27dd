"""The composition root: settings, stores and the Application, built once for every way in.

REST (and the pages and Open311 to come), the CLI, the demo loader and the workers' entry points all
open a `Runtime`; embedded `serve` also runs the workers on it, as threads (`workers.start_embedded`).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import click
from sqlalchemy import Engine
from sqlalchemy.schema import CreateSchema

from api import keys
from api.auth import CachedAccounts
from api.eventstore import events_table
from api.i18n import gettext
from api.settings import Settings
from api.web.backoff import SignInBackoff
from api.web.backoff import metadata as backoff_metadata
from api.web.errors import Problem
from api.web.idempotency import IdempotencyStore
from api.web.idempotency import metadata as idempotency_metadata
from api.web.ratelimit import ObjectionLimits, RateLimiter
from api.web.ratelimit import metadata as rate_limit_metadata
from api.web.sessions import Sessions
from api.web.sessions import metadata as sessions_metadata
from domain.application import Minqing, Recorded, retried
from domain.seal import Signer
from projections import all_views
from projections.db import analyze, make_engine
from projections.processor import Processor
from projections.processor import create_tables as create_view_tables
from projections.sealed_log import HEADS_FILE, HeadsFile, SealedLog, Sealer
from projections.sealed_log import create_tables as create_sealed_log_tables


def initialise(settings: Settings) -> list[str]:
    """Create the event store's, the views' and the API's tables (idempotent). Returns the views
    whose table changed in this version: they are emptied, to be built again from the log. A PostgreSQL
    schema named in the URL (`?schema=`) is created when it is not there yet."""
    engine = make_engine(settings.database_url)
    schema = parse_qs(urlsplit(settings.database_url).query).get("schema", [""])[0]
    try:
        if schema and engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(CreateSchema(schema, if_not_exists=True))
        deployment = settings.load_deployment()
        Minqing(deployment, env=settings.event_store_env(create_tables=True)).close()
        emptied = create_view_tables(engine, deployment.timezone, deployment.grid)
        with engine.begin() as conn:
            analyze(conn, [table.name for view in all_views().values() for table in view.tables])
        idempotency_metadata.create_all(engine)
        rate_limit_metadata.create_all(engine)
        sessions_metadata.create_all(engine)
        backoff_metadata.create_all(engine)
        create_sealed_log_tables(engine)
    finally:
        engine.dispose()
    if settings.signing_key is None:
        keys.create_signing_key(settings.key_dir)
    return emptied


def signer(settings: Settings) -> Signer | None:
    """What signs the log's tree heads (None when no key is configured: nothing is sealed then)."""
    configured = settings.signing_key.get_secret_value() if settings.signing_key else None
    try:
        key = keys.signing_key(configured, settings.key_dir)
    except ValueError as error:
        raise click.ClickException(f"MINQING_SIGNING_KEY or {settings.key_dir / keys.SIGNING_KEY_FILE}: "
                                   f"{error}") from None
    return None if key is None else Signer(key)


def analyze_store(app: Minqing, engine: Engine) -> None:
    """Gather the planner's statistics on the event store's table and every view's and rollup's, after a
    large load: PostgreSQL's autovacuum had not yet analysed 16.6M fresh events and read one case's events
    by a parallel scan (45 ms instead of 0.05)."""
    with engine.begin() as conn:
        analyze(conn, [*events_table(app), *(t.name for view in all_views().values() for t in view.tables)])


@dataclass
class Runtime:
    """What one process holds: the Application, database engines (one to write views and API tables,
    one to read), the staff accounts (checked against the store on every request), the idempotency
    store, the public rate limiter, the limits on residents' objections, the pages' sessions and the
    sign-in back-off (all four kept in the database), the threads that run commands and, in embedded
    mode, the workers' threads (stopped by `stop`, joined on close)."""

    settings: Settings
    app: Minqing
    writer: Engine
    reader: Engine
    accounts: CachedAccounts
    idempotency: IdempotencyStore
    limiter: RateLimiter
    objection_limits: ObjectionLimits
    sessions: Sessions
    sign_ins: SignInBackoff
    commands: ThreadPoolExecutor
    signer: Signer | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    # One audit verify at a time in this process: it reads every chain in the caller's scope.
    verifying: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings | None = None) -> Runtime:
        """Build everything from the settings (the environment by default); refuses with
        `NotInitialised` when the database has no Minqing tables."""
        settings = settings or Settings()
        app = settings.open_application()
        app.accounts = accounts = CachedAccounts(app.account, app.account_version)
        url, wait, statement = (settings.database_url, settings.connect_timeout_seconds,
                                 settings.statement_timeout_seconds)
        writer = make_engine(url, wait_seconds=wait, statement_timeout=statement)
        reader = make_engine(url, writer=False, wait_seconds=wait, statement_timeout=statement)
        return cls(settings, app, writer, reader, accounts,
                   IdempotencyStore(writer, settings.idempotency_lease),
                   RateLimiter(writer, reader, settings.public_requests_per_minute),
                   ObjectionLimits.open(writer, reader,
                                        per_phone_a_day=settings.objections_per_phone_per_day,
                                        per_address_an_hour=settings.objections_per_address_per_hour),
                   Sessions(writer, reader, idle=settings.session_idle, lifetime=settings.session_lifetime),
                   SignInBackoff(writer, reader),
                   ThreadPoolExecutor(settings.threads_for_commands, thread_name_prefix="minqing-command"),
                   signer(settings))

    @property
    def sealed(self) -> SealedLog | None:
        """The sealed log, read through the reading engine (None without a signing key)."""
        if self.signer is None:
            return None
        try:
            retired = keys.retired_signing_keys(self.settings.key_dir, self.signer.public_key)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        return SealedLog(self.reader, self.heads_file, self.signer.public_key, retired)

    def sealer(self) -> Sealer | None:
        """A sealing step on this runtime (None without a signing key)."""
        if self.signer is None:
            return None
        return Sealer(self.app, self.writer, self.signer, self.heads_file)

    @property
    def heads_file(self) -> HeadsFile:
        return HeadsFile(self.settings.key_dir / HEADS_FILE, self.settings.database_name)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    async def command(self, use_case: Callable[[], Recorded], expected_version: int | None,
                      once: UUID | None) -> Recorded:
        """Run a use case of the Application in the command threads, off the event loop. Without
        If-Match a conflict is retried on a fresh load; with it, the conflict goes to the caller.
        A request sent with an Idempotency-Key names its record (`once`, from `api.web.deps`): its
        use case is recorded at most once however often it is sent (`Minqing.once`).

        The command threads are few (`Settings.threads_for_commands`): more only queue on the event
        table's lock (docs/performance.md, "HTTP API")."""
        attempt = use_case if expected_version is not None else lambda: retried(use_case)
        run = attempt if once is None else partial(self.app.once, once, attempt)
        context = contextvars.copy_context()  # the request's log context goes along
        return await asyncio.get_running_loop().run_in_executor(self.commands, context.run, run)

    def close(self) -> None:
        """Stop the workers, then close the stores (closing with a query in flight crashed SQLite)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.commands.shutdown()
        self.writer.dispose()
        self.reader.dispose()
        self.app.close()

    def positions(self) -> dict[str, int]:
        return Processor(self.app, self.reader).positions()

    def outdated_views(self) -> list[str]:
        """The views stored by another version than the code's, until `minqing db init` (reads the store)."""
        return Processor(self.app, self.reader).outdated()

    def lagging_views(self) -> list[str]:
        """The views further behind the log than `Settings.ready_lag_seconds` (reads the database)."""
        return [lag.view for lag in Processor(self.app, self.reader).lag()
                if lag.seconds > self.settings.ready_lag_seconds]

    def wait_for_views(self, position: int | None, views: list[str] | None = None,
                       seconds: float = 5.0) -> None:
        """Read your writes: wait until the views have processed `position` (bounded).

        A position beyond the end of the log was never returned by a command: waiting cannot
        reach it, so it is the caller's mistake (422), not views that lag (504)."""
        if position is None:
            return
        deadline = time.monotonic() + seconds
        head: int | None = None
        while True:
            current = self.positions()
            relevant = [current[v] for v in views] if views else list(current.values())
            if min(relevant) >= position:
                return
            if head is None:
                head = self.app.recorder.max_notification_id() or 0
                if position > head:
                    detail = gettext("nothing is recorded at position {position}: the log ends at {head}")
                    raise Problem(422, "position-not-recorded", gettext("No such position in the log"),
                                  detail.format(position=position, head=head))
            if time.monotonic() > deadline:
                detail = gettext("the views reached position {reached}, not {position}, within {seconds} s")
                raise Problem(504, "views-behind", gettext("The views are behind"),
                              detail.format(reached=min(relevant), position=position, seconds=f"{seconds:g}"),
                              {"Retry-After": "1"})
            time.sleep(0.02)
