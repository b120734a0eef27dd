"""Every wait on PostgreSQL is bounded (issue 10, item 1): the event store and the engines give up on a
database that does not answer with an error the API answers as 503, instead of retrying or waiting for ever.
The whole outage, with real processes, is tests/fault/test_outage.py."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from api.eventstore import DatabaseUnavailable, FailFastDatastore
from api.settings import Settings
from domain.application import Minqing
from domain.deployment import Deployment
from projections.db import make_engine
from tests.conftest import POSTGRES_URL
from tests.e2e.support import free_port

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(postgres_schema: str) -> str:
    return f"{POSTGRES_URL}?schema={postgres_schema}"


def test_the_event_store_keeps_the_librarys_settings_and_bounds_its_waits(url: str, postgres_schema: str,
                                                                          deployment: Deployment) -> None:
    settings = Settings(database_url=url, lock_timeout_seconds=3, connect_timeout_seconds=2)
    app = Minqing(deployment, env=settings.event_store_env(create_tables=True))
    try:
        datastore = app.recorder.datastore  # type: ignore[attr-defined]
        assert isinstance(datastore, FailFastDatastore)
        assert (datastore.schema, datastore.lock_timeout) == (postgres_schema, 3)
        assert (datastore.pool.timeout, datastore.pre_ping, datastore.statement_timeout) == (2, True, 15.0)
    finally:
        app.close()


def test_a_database_that_cannot_be_reached_is_unavailable_without_the_librarys_retries(
        deployment: Deployment) -> None:
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    with pytest.raises(DatabaseUnavailable):  # after its retries the library raises its OperationalError
        Minqing(deployment, env=Settings(database_url=nobody).event_store_env())  # it reads the database


def test_an_event_store_statement_beyond_the_statement_timeout_is_cancelled_as_unavailable(
        url: str, deployment: Deployment) -> None:
    settings = Settings(database_url=url, statement_timeout_seconds=0.1)
    app = Minqing(deployment, env=settings.event_store_env(create_tables=True))
    try:
        datastore = app.recorder.datastore  # type: ignore[attr-defined]
        with pytest.raises(DatabaseUnavailable, match="statement timeout"), datastore.transaction() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
    finally:
        app.close()


def test_a_view_statement_beyond_the_statement_timeout_is_cancelled(url: str) -> None:
    engine = make_engine(url, statement_timeout=0.1)
    try:
        with pytest.raises(exc.OperationalError, match="statement timeout"), engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()
