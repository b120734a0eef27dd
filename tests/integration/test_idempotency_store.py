"""The Idempotency-Key claims on SQLite and PostgreSQL: a claim left with no response is taken over
after its lease by one retry only, and the request that lost it can no longer answer under the key."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from api.web.idempotency import Claim, IdempotencyStore, Stored, metadata, requests
from projections.db import make_engine

LEASE = timedelta(seconds=30)
SCOPE, KEY, FINGERPRINT = "caller", "note-1", "fingerprint of the request"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> IdempotencyStore:
    return IdempotencyStore(engine, LEASE)


def left_claim(engine: Engine, claimed_ago: timedelta) -> None:
    """A claim as a request killed mid-flight leaves it: no response."""
    with engine.begin() as conn:
        conn.execute(insert(requests).values(scope=SCOPE, key=KEY, fingerprint=FINGERPRINT,
                                             created_at=datetime.now(UTC) - claimed_ago))


def stored_status(engine: Engine) -> int | None:
    with engine.connect() as conn:
        status: int | None = conn.execute(select(requests.c.status)).scalar_one()
        return status


def test_a_claim_older_than_the_lease_is_taken_over(engine: Engine, store: IdempotencyStore) -> None:
    left_claim(engine, LEASE + timedelta(seconds=1))
    claim = store.claim(SCOPE, KEY, FINGERPRINT)
    assert isinstance(claim, Claim) and claim.taken_over


def test_a_claim_younger_than_the_lease_is_not_taken_over(engine: Engine, store: IdempotencyStore) -> None:
    left_claim(engine, LEASE - timedelta(seconds=5))
    assert store.claim(SCOPE, KEY, FINGERPRINT) == Stored(FINGERPRINT, None, {}, "")


def test_an_old_claim_of_another_request_under_the_key_is_not_taken_over(engine: Engine,
                                                                         store: IdempotencyStore) -> None:
    left_claim(engine, LEASE + timedelta(seconds=1))
    stored = store.claim(SCOPE, KEY, "fingerprint of another request")
    assert isinstance(stored, Stored) and stored.fingerprint == FINGERPRINT


def test_of_retries_taking_over_one_dead_claim_at_once_only_one_gets_it(engine: Engine,
                                                                        store: IdempotencyStore) -> None:
    left_claim(engine, LEASE + timedelta(seconds=1))
    retries = 8
    together = threading.Barrier(retries)

    def take_over(_: int) -> Claim | Stored:
        together.wait(timeout=10)
        return store.claim(SCOPE, KEY, FINGERPRINT)

    with ThreadPoolExecutor(retries) as pool:
        outcomes = list(pool.map(take_over, range(retries)))
    assert sum(isinstance(outcome, Claim) for outcome in outcomes) == 1
    in_progress = Stored(FINGERPRINT, None, {}, "")
    assert [o for o in outcomes if isinstance(o, Stored)] == [in_progress] * (retries - 1)


def test_a_request_that_outlived_its_lease_cannot_release_the_claim_taken_from_it(
        engine: Engine, store: IdempotencyStore) -> None:
    slow = store.claim(SCOPE, KEY, FINGERPRINT)
    assert isinstance(slow, Claim)
    with engine.begin() as conn:  # the lease runs out while the slow request still runs
        conn.execute(requests.update().values(created_at=slow.held_since - LEASE - timedelta(seconds=1)))
    retry = store.claim(SCOPE, KEY, FINGERPRINT)
    assert isinstance(retry, Claim)
    store.release(SCOPE, KEY, slow)
    store.complete(SCOPE, KEY, slow, 200, {}, b"the slow request's answer")
    assert stored_status(engine) is None  # still the retry's
    store.complete(SCOPE, KEY, retry, 200, {}, b"the retry's answer")
    assert store.claim(SCOPE, KEY, FINGERPRINT) == Stored(FINGERPRINT, 200, {}, "the retry's answer")
