"""A worker's rounds: its work done every few seconds until it is told to stop."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from api.web.errors import UNAVAILABLE


def repeat(work: Callable[[], None], stop: threading.Event, *, every: float, name: str,
           log: structlog.stdlib.BoundLogger) -> None:
    """Do `work` every `every` seconds until `stop` is set. What a round did stays done: a database that
    does not answer is logged and the next round does the rest; any other failure is logged with its
    traceback, and the worker goes on."""
    log.info(f"{name}_worker_started", every_seconds=every)
    while not stop.is_set():
        try:
            work()
        except UNAVAILABLE as error:
            log.warning("database_unavailable", error=str(error).splitlines()[0], retry_in_seconds=every)
        except Exception:
            log.exception(f"{name}_failed")
        stop.wait(every)
    log.info(f"{name}_worker_stopped")
