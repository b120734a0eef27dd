"""Fixtures shared by every test: a clock, a deployment, and applications on each store.

`store` is parametrised over SQLite (a file per test) and PostgreSQL (a schema per test, at
MINQING_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test). With CI=true a
PostgreSQL that cannot be reached fails the run instead of skipping.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from api.settings import Settings
from domain.application import SYSTEM, Minqing
from domain.deployment import Deployment, load

# Every test, and every process a test starts, keeps its key files in a folder of this run's, never in the
# checkout (api/keys.py); a test that needs its own keys sets MINQING_KEY_DIR or Settings.key_dir itself.
os.environ.setdefault("MINQING_KEY_DIR", tempfile.mkdtemp(prefix="minqing-keys-"))
# Its cipher key, as `db init` would create it: stores are encrypted by default, and a test that opens one
# before any test created tables finds the key there (`event_store_env(create_tables=True)` creates it too).
Settings().cipher_key_text(create=True)
POSTGRES_URL = os.environ.get("MINQING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A settable clock, so tests decide what 'now' is."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return load("village_township")


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL, dropped afterwards. Skips when PostgreSQL cannot be
    reached, except under CI, where that fails."""
    if not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable in CI")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    with fresh_schema() as schema:
        yield schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A database URL for a clean, initialised store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'minqing.db'}"
    schema = request.getfixturevalue("postgres_schema")
    return f"{POSTGRES_URL}?schema={schema}"


@pytest.fixture
def other_database_url(database_url: str, tmp_path) -> Iterator[str]:
    """A second, empty database of the same kind as `database_url` (to restore or copy into)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    with fresh_schema() as schema:
        yield f"{POSTGRES_URL}?schema={schema}"


@pytest.fixture
def open_app(database_url: str, deployment: Deployment, clock: Clock) -> Iterator[Callable[[], Minqing]]:
    """Opens Applications on the test's database (tables created once), closing them afterwards."""
    settings = Settings(database_url=database_url)
    Minqing(deployment, env=settings.event_store_env(create_tables=True)).close()
    opened: list[Minqing] = []

    def _open() -> Minqing:
        app = Minqing(deployment, env=settings.event_store_env(), clock=clock)
        opened.append(app)
        return app

    yield _open
    for app in opened:
        app.close()


@pytest.fixture
def stored_app(open_app: Callable[[], Minqing]) -> Minqing:
    """An Application on a real database, with staff accounts."""
    app = open_app()
    add_staff(app)
    return app


@pytest.fixture
def app(deployment: Deployment, clock: Clock) -> Iterator[Minqing]:
    """An in-memory Application with staff accounts, for rule tests."""
    application = Minqing(deployment, env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    add_staff(application)
    yield application
    application.close()


STAFF = {
    # user name: (role, cell)
    "wang.worker": ("worker", "qingshui.dongcun"),
    "zhao.worker": ("worker", "qingshui.xicun"),
    "liu.community": ("worker", "qingshui.community"),
    "chen.supervisor": ("supervisor", "qingshui"),
    "sun.reviewer": ("reviewer", "qingshui"),
    "admin": ("admin", "qingshui"),
}


def add_staff(app: Minqing) -> None:
    when = START - timedelta(days=30)
    for username, (role, cell) in STAFF.items():
        app.open_account(actor=SYSTEM, username=username, occurred_at=when)
        app.grant_role(actor=SYSTEM, username=username, role=role, cell_id=cell, occurred_at=when)


@pytest.fixture
def views_engine(database_url: str, open_app: Callable[[], Minqing]):
    """A SQLAlchemy engine on the test's database with the view tables created."""
    from projections.db import make_engine
    from projections.processor import create_tables

    engine = make_engine(database_url)
    create_tables(engine)
    yield engine
    engine.dispose()
