"""What one API process holds: the Application, database engines, the idempotency store, the
public rate limiter and, in embedded mode, the workers running as threads."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy import Engine

from api.errors import Problem
from api.idempotency import IdempotencyStore
from api.idempotency import metadata as idempotency_metadata
from api.settings import Settings
from domain.application import Minqing
from projections.db import make_engine
from projections.processor import Processor
from workers import deadlines as deadline_worker
from workers import projections as projection_worker

log = structlog.get_logger("minqing.api")
T = TypeVar("T")


class RateLimiter:
    """At most `per_minute` requests per client per rolling minute (per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            hits = self.seen[client]
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry = max(1, int(60 - (now - hits[0])))
                raise Problem(429, "rate-limited", f"at most {self.per_minute} public requests a minute",
                              {"Retry-After": str(retry)})
            hits.append(now)


@dataclass
class Runtime:
    settings: Settings
    app: Minqing
    writer: Engine
    reader: Engine
    idempotency: IdempotencyStore
    limiter: RateLimiter
    commands: ThreadPoolExecutor
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, settings: Settings, *, embedded_workers: bool) -> Runtime:
        app = settings.open_application()
        writer = make_engine(settings.database_url)
        reader = make_engine(settings.database_url, writer=False)
        runtime = cls(settings, app, writer, reader, IdempotencyStore(writer),
                      RateLimiter(settings.public_requests_per_minute),
                      ThreadPoolExecutor(settings.threads_for_commands, thread_name_prefix="minqing-command"))
        if embedded_workers:
            runtime._start_workers()
        return runtime

    def _start_workers(self) -> None:
        views = list(Processor(self.app, self.writer).views)
        self.threads = [
            threading.Thread(target=projection_worker.run, args=(self.app, self.writer, views, self.stop),
                             name="minqing-projections", daemon=True),
            threading.Thread(target=deadline_worker.run, args=(self.app, self.reader, self.stop),
                             name="minqing-deadlines", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    async def run_command(self, command: Callable[..., T], *args: Any) -> T:
        """Run a blocking command on a case in the command threads, off the event loop."""
        context = contextvars.copy_context()  # the request's log context goes along, as in run_in_threadpool
        return await asyncio.get_running_loop().run_in_executor(self.commands, context.run, command, *args)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.commands.shutdown()
        self.writer.dispose()
        self.reader.dispose()
        self.app.close()

    def positions(self) -> dict[str, int]:
        return Processor(self.app, self.reader).positions()

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
                    raise Problem(422, "position-not-recorded",
                                  f"nothing is recorded at position {position}: the log ends at {head}")
            if time.monotonic() > deadline:
                raise Problem(504, "views-behind",
                              f"the views reached position {min(relevant)}, not {position}, within {seconds:g} s",
                              {"Retry-After": "1"})
            time.sleep(0.02)


def create_api_tables(engine: Engine) -> None:
    idempotency_metadata.create_all(engine)
