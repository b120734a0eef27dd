"""The deadline watcher: records missed deadlines (with automatic escalation), feedback expiry and
the end of notice periods. It finds candidates in the views and lets the domain decide, so two
watchers at once record nothing twice: the loser of a race reloads and finds nothing left to do."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from uuid import UUID

import click
import structlog
from sqlalchemy import Engine, select

from api.compose import Runtime
from domain.application import Minqing, Recorded, retried
from domain.demand import CLOSED
from domain.errors import DomainError
from projections.cases import cases
from projections.queries import notices_to_take_down
from workers.logs import configure as configure_logs
from workers.rounds import repeat
from workers.signals import stop_on_signals

log = structlog.get_logger("minqing.worker.deadlines")
SWEEP_SECONDS = 30.0


def _attempt(action: Callable[[], Recorded | None]) -> bool:
    """Run a command, reloading after conflicts; False when the domain says there is nothing to do."""
    try:
        return retried(action) is not None
    except DomainError:  # a conflict every time counts as nothing done: the next sweep tries again
        return False


def sweep(app: Minqing, engine: Engine) -> Counter[str]:
    """One pass over everything due now; returns what was recorded."""
    now = app.clock()
    c = cases.c
    with engine.connect() as conn:
        overdue = conn.execute(select(c.id).where(c.status != CLOSED, c.due_at <= now)).scalars().all()
        silent = conn.execute(select(c.id).where(c.feedback_state == "asked",
                                                 c.feedback_due < now)).scalars().all()
        notices = notices_to_take_down(conn, now=now)
    done: Counter[str] = Counter()
    for case_id in overdue:
        done["deadline_missed"] += _attempt(
            partial(app.record_missed_deadlines, UUID(case_id), occurred_at=now))
    for case_id in silent:
        done["feedback_expired"] += _attempt(partial(app.expire_feedback, UUID(case_id), occurred_at=now))
    for case_id, notice_id in notices:
        done["notice_ended"] += _attempt(
            partial(app.end_notice, UUID(case_id), notice_id=notice_id, occurred_at=now))
    return done


def run(app: Minqing, engine: Engine, stop: threading.Event, *, every: float = SWEEP_SECONDS) -> None:
    """Sweep every `every` seconds until `stop` is set."""

    def sweep_round() -> None:
        done = sweep(app, engine)
        if sum(done.values()):
            log.info("deadlines_swept", **done)

    repeat(sweep_round, stop, every=every, name="deadline", log=log)


@click.command("deadlines")
@click.option("--every", default=SWEEP_SECONDS, show_default=True, help="Seconds between sweeps.")
def main(every: float) -> None:
    """Record missed deadlines (escalating automatically), feedback expiry and notice ends."""
    configure_logs()
    stop = stop_on_signals()
    with Runtime.open() as rt:
        run(rt.app, rt.reader, stop, every=every)


if __name__ == "__main__":
    main()
