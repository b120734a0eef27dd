"""The projection worker: keeps the views current, exactly once, one writer per view.

On PostgreSQL each view is held by one worker at a time through an advisory lock (others wait on
standby), and the library's LISTEN/NOTIFY subscription wakes the loop when events are recorded.
On SQLite, where the library has no subscription, the loop polls; transactions that begin with
the write lock and the compare-and-set position keep two writers from counting anything twice.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence

import click
import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from api.compose import Runtime
from api.web.errors import UNAVAILABLE
from domain.application import Minqing
from domain.deployment import Deployment
from projections import views_of
from projections.core import View
from projections.processor import Processor
from workers.logs import configure as configure_logs
from workers.signals import stop_on_signals

log = structlog.get_logger("minqing.worker.projections")
POLL_SECONDS = 0.2
STANDBY_SECONDS = 2.0
RETRY_SECONDS = 5.0        # the longest wait before trying again after a failure
FIRST_RETRY_SECONDS = 0.5  # the first; each failure in a row doubles it


class Backoff:
    """How long to wait after each failure in a row: doubling from FIRST_RETRY_SECONDS to RETRY_SECONDS."""

    def __init__(self) -> None:
        self.failures = 0

    def next(self) -> float:
        seconds = min(RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** self.failures)
        self.failures += 1
        return seconds

    def reset(self) -> None:
        self.failures = 0


class ViewLocks:
    """Advisory locks (PostgreSQL) naming which views this worker may write."""

    def __init__(self, engine: Engine, views: Sequence[View]) -> None:
        self.engine, self.views = engine, list(views)
        self.held: list[View] = []
        self.conn: Connection | None = None
        self.schema = ""

    def acquire(self) -> list[View]:
        """The views this worker may write now: those whose locks its session still holds, and any free
        ones it takes. A session that was lost (the database restarted, the connection was cut) lost its
        locks with it: then it holds nothing until it takes them again, perhaps after another worker."""
        if self.engine.dialect.name != "postgresql":
            self.held = self.views
            return self.held
        if self.conn is not None and not self._alive():
            log.warning("view_locks_lost", views=[v.name for v in self.held])
            self.conn.invalidate()
            self.conn.close()
            self.conn, self.held = None, []
        if self.conn is None:
            self.conn = self.engine.connect()
            # Advisory locks are per database: the schema keeps deployments sharing one database apart.
            self.schema = self.conn.execute(text("SELECT current_schema()")).scalar() or ""
        for view in self.views:
            if view in self.held:
                continue
            key = zlib.crc32(f"minqing.view.{self.schema}.{view.name}".encode())
            if self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                self.conn.commit()
                self.held.append(view)
                log.info("view_lock_acquired", view=view.name)
        return self.held

    def _alive(self) -> bool:
        assert self.conn is not None
        try:
            self.conn.execute(text("SELECT 1"))
            self.conn.commit()
        except DBAPIError:
            return False
        return True

    def release(self) -> None:
        if self.conn is not None and self._alive():
            self.conn.execute(text("SELECT pg_advisory_unlock_all()"))  # the pool keeps the session open
            self.conn.commit()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.held = []


class Wakeup:
    """Wakes the loop when events are recorded (PostgreSQL subscription) or after a short poll."""

    def __init__(self, app: Minqing) -> None:
        self.event = threading.Event()
        self.subscription = None
        self.thread: threading.Thread | None = None
        try:
            self.subscription = app.recorder.subscribe(gt=app.recorder.max_notification_id())
        except NotImplementedError:  # SQLite: no subscription in the library
            return
        self.thread = threading.Thread(target=self._listen, name="minqing-subscription", daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        assert self.subscription is not None
        try:
            for _ in self.subscription:
                self.event.set()
        except Exception as error:  # noqa: BLE001 — polling still works; say so and carry on
            log.warning("subscription_stopped", error=repr(error))

    def wait(self, seconds: float) -> None:
        self.event.wait(seconds)
        self.event.clear()

    def close(self) -> None:
        if self.subscription is not None:
            self.subscription.stop()
        if self.thread is not None:
            self.thread.join(timeout=5)


def run(app: Minqing, engine: Engine, views: Sequence[View], stop: threading.Event, *,
        batch_size: int = 500) -> None:
    """Keep `views` current until `stop` is set."""
    locks, wakeup = ViewLocks(engine, views), Wakeup(app)
    log.info("projection_worker_started", views=[v.name for v in views], database=engine.dialect.name)
    processor: Processor | None = None
    backoff = Backoff()
    try:
        while not stop.is_set():
            try:
                held = locks.acquire()
            except DBAPIError as error:  # the database does not answer: nothing is held, try again soon
                wait = backoff.next()
                log.warning("view_locks_unavailable", error=str(error).splitlines()[0], retry_in_seconds=wait)
                processor = None
                stop.wait(wait)
                continue
            if not held:
                stop.wait(STANDBY_SECONDS)
                continue
            if processor is None or processor.views != held:
                # one processor while the held views stay the same: it keeps the rows it wrote
                processor = Processor(app, engine, list(held), batch_size)
            try:
                applied = processor.run_once()
            except UNAVAILABLE as error:  # nothing was committed for the batch; the locks are checked next
                processor, wait = None, backoff.next()
                log.warning("database_unavailable", error=str(error).splitlines()[0], retry_in_seconds=wait)
                stop.wait(wait)
                continue
            except Exception:
                processor, wait = None, backoff.next()
                # Nothing was committed for the failed batch; say so loudly, back off, and try again.
                # A poison event keeps failing here and shows as lag in `projections status`.
                log.exception("projection_batch_failed", retry_in_seconds=wait)
                stop.wait(wait)
                continue
            backoff.reset()
            if applied:
                log.debug("events_applied", events=applied)
            else:
                wakeup.wait(POLL_SECONDS if len(held) == len(views) else STANDBY_SECONDS)
    finally:
        wakeup.close()
        locks.release()
        log.info("projection_worker_stopped")


def chosen(names: tuple[str, ...], deployment: Deployment) -> list[View]:
    """The views named (all of them when none is), as the deployment cuts them, or a usage error naming
    the views there are."""
    views = views_of(deployment)
    unknown = set(names) - set(views)
    if unknown:
        raise click.BadParameter(f"unknown views {sorted(unknown)}; views are {sorted(views)}")
    return [views[n] for n in names] if names else list(views.values())


@click.command("projections")
@click.option("--only", "only", multiple=True, help="Keep only this view current (repeatable).")
@click.option("--batch-size", default=500, show_default=True, help="Events per transaction.")
def main(only: tuple[str, ...], batch_size: int) -> None:
    """Keep the views current from the event log (one writer per view; SIGTERM stops it)."""
    configure_logs()
    stop = stop_on_signals()
    with Runtime.open() as rt:
        run(rt.app, rt.writer, chosen(only, rt.app.deployment), stop, batch_size=batch_size)


if __name__ == "__main__":
    main()
