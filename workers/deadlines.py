"""The deadline watcher: records missed deadlines (with automatic escalation), feedback expiry and
the end of notice periods. It finds candidates in the views and lets the domain decide, so two
watchers at once record nothing twice: the loser of a race reloads and finds nothing left to do."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import Engine, select

from domain.demand import CLOSED
from domain.errors import ConcurrentUpdate, DomainError
from projections.cases import cases
from projections.queries import notices_to_take_down

log = structlog.get_logger("minqing.worker.deadlines")
SWEEP_SECONDS = 30.0
RETRIES = 3


def _attempt(action: Callable[[], Any]) -> bool:
    """Run a command, reloading after conflicts; False when the domain says there is nothing to do."""
    for _ in range(RETRIES):
        try:
            return action() is not None
        except ConcurrentUpdate:
            continue
        except DomainError:
            return False
    return False


def sweep(app: Any, engine: Engine) -> Counter[str]:
    """One pass over everything due now; returns what was recorded."""
    now = app.clock()
    c = cases.c
    with engine.connect() as conn:
        overdue = conn.execute(select(c.id).where(c.status != CLOSED, c.due_at <= now)).scalars().all()
        silent = conn.execute(select(c.id).where(c.feedback_state == "asked", c.feedback_due < now)).scalars().all()
        notices = notices_to_take_down(conn, now=now)
    done: Counter[str] = Counter()
    for case_id in overdue:
        done["deadline_missed"] += _attempt(lambda i=case_id: app.record_missed_deadlines(UUID(i), occurred_at=now))
    for case_id in silent:
        done["feedback_expired"] += _attempt(lambda i=case_id: app.expire_feedback(UUID(i), occurred_at=now))
    for case_id, notice_id in notices:
        done["notice_ended"] += _attempt(
            lambda i=case_id, n=notice_id: app.end_notice(UUID(i), notice_id=n, occurred_at=now))
    return done


def run(app: Any, engine: Engine, stop: threading.Event, *, every: float = SWEEP_SECONDS) -> None:
    """Sweep every `every` seconds until `stop` is set."""
    log.info("deadline_worker_started", every_seconds=every)
    while not stop.is_set():
        try:
            done = sweep(app, engine)
            if sum(done.values()):
                log.info("deadlines_swept", **done)
        except Exception:  # noqa: BLE001 — a database hiccup must not end the watcher; the next sweep retries
            log.exception("sweep_failed")
        stop.wait(every)
    log.info("deadline_worker_stopped")
