"""Fixtures for the HTTP API tests: the FastAPI app on each store (SQLite and PostgreSQL), started
through its lifespan with the embedded projection workers, and staff with bearer tokens.

The API runs on the real clock, so cases are put into a state through the Application (as a
worker would, with `occurred_at` in the past where a deadline must have passed) and then driven
over HTTP. The deadline watcher is kept quiet here: it would escalate such cases in the middle of
a test; its own tests are in tests/integration/test_workers.py.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import auth
from api.compose import initialise
from api.settings import Settings
from api.web.app import create_app
from domain.application import SYSTEM, Minqing
from tests.conftest import POSTGRES_URL, STAFF, _postgres_reachable, add_staff
from tests.e2e.support import Api
from workers import deadlines as deadline_worker


def _with_staff(client: TestClient) -> Api:
    app: Minqing = client.app.state.runtime.app  # type: ignore[attr-defined]
    add_staff(app)
    return Api(client, app, {username: auth.issue_token(app, actor=SYSTEM, username=username)[1]
                               for username in STAFF})


def _quiet_deadline_watcher(app: Any, engine: Any, stop: threading.Event, **_: Any) -> None:
    stop.wait()


@pytest.fixture
def start_api(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Api]]:
    """Starts the API on the test's database with these settings; stops every one started."""
    monkeypatch.setattr(deadline_worker, "run", _quiet_deadline_watcher)
    initialise(Settings(database_url=database_url))
    started: list[TestClient] = []

    def _start(*, embedded_workers: bool = True, **settings: Any) -> Api:
        client = TestClient(create_app(Settings(database_url=database_url, **settings),
                                       embedded_workers=embedded_workers))
        client.__enter__()  # runs the lifespan: the runtime and its workers
        started.append(client)
        return _with_staff(client)

    yield _start
    for client in reversed(started):
        client.__exit__(None, None, None)


@pytest.fixture
def api(start_api: Callable[..., Api]) -> Api:
    """The API with its projection workers running, and every member of staff holding a token."""
    return start_api()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One API per store for a whole module of table-driven tests, each acting on cases of its own
    (starting the API is most of a test's time, and the role table has hundreds of rows)."""
    if request.param == "sqlite":
        database_url, schema = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'minqing.db'}", None
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        if not _postgres_reachable():
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable in CI")
            pytest.skip(f"PostgreSQL at {POSTGRES_URL} is not reachable")
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        database_url = f"{POSTGRES_URL}?schema={schema}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deadline_worker, "run", _quiet_deadline_watcher)
        initialise(Settings(database_url=database_url))
        with TestClient(create_app(Settings(database_url=database_url), embedded_workers=True)) as client:
            yield _with_staff(client)
    if schema is not None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
