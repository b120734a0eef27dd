"""Every event changes each view exactly once: replays, concurrent processors and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from api.demo.history import History, copy_events, generate
from domain.application import Minqing
from domain.deployment import Deployment
from projections import all_views
from projections.db import make_engine
from projections.processor import Processor
from tests.support.views import fresh_rebuild, rows_of


@pytest.fixture(scope="module")
def small_history(deployment: Deployment) -> History:
    return generate(deployment, demands=300, households=40, seed=11)


@pytest.fixture(scope="module")
def large_history(deployment: Deployment) -> History:
    """About 50,000 events."""
    return generate(deployment, demands=5600, households=300, seed=12)


@pytest.fixture
def stored_history(open_app: Callable[[], Minqing], small_history: History) -> Minqing:
    app = open_app()
    copy_events(small_history.app, app)
    return app


def test_processing_the_same_notifications_twice_changes_nothing(stored_history: Minqing,
                                                                 views_engine: Engine) -> None:
    processor = Processor(stored_history, views_engine)
    page = stored_history.recorder.select_notifications(1, 500)
    numbered = list(zip([n.id for n in page], [stored_history.mapper.to_domain_event(n) for n in page],
                        strict=True))
    for view in processor.views:
        assert processor.apply(view, 0, numbered) == len(numbered)
    before = {v.name: rows_of(views_engine, v) for v in processor.views}
    for view in processor.views:
        assert processor.apply(view, 0, numbered) == 0
    assert {v.name: rows_of(views_engine, v) for v in processor.views} == before
    assert set(processor.positions().values()) == {page[-1].id}


def test_two_processors_of_the_same_views_at_once_count_nothing_twice(stored_history: Minqing,
                                                                      views_engine: Engine,
                                                                      database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(2)]
    processors = [Processor(stored_history, engine, batch_size=50) for engine in engines]
    threads = [threading.Thread(target=p.catch_up) for p in processors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    for view in all_views().values():
        assert rows_of(views_engine, view) == fresh_rebuild(stored_history, views_engine, view), view.name


def _worker(database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MINQING_DATABASE_URL": database_url}
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "projections", "--batch-size", "200"],
                            env=env, stderr=subprocess.DEVNULL)


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_worker_killed_while_catching_up_fifty_thousand_events_resumes_and_matches_a_rebuild(
        open_app: Callable[[], Minqing], large_history: History, views_engine: Engine,
        database_url: str) -> None:
    app = open_app()
    total = copy_events(large_history.app, app)
    assert total >= 50_000
    processor = Processor(app, views_engine)
    worker = _worker(database_url)
    _wait_for(lambda: min(processor.positions().values()) > total // 5, seconds=240)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert min(processor.positions().values()) < total, "the worker finished before it could be killed"
    restarted = _worker(database_url)
    _wait_for(lambda: min(processor.positions().values()) == total, seconds=300)
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=30) == 0
    for view in all_views().values():
        assert rows_of(views_engine, view) == fresh_rebuild(app, views_engine, view), view.name
