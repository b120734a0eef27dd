"""The public rate limit is counted in the database: it holds across API processes on one database,
lets a client in again as its requests slide out of the last minute, and keeps only the last two
minutes' counts, with no client's address."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from api.compose import Runtime, initialise
from api.settings import Settings
from api.web.errors import Problem
from api.web.idempotency import digest
from api.web.ratelimit import RateLimiter, counts
from tests.conftest import Clock

CLIENT = "203.0.113.7"
PER_MINUTE = 3


@pytest.fixture
def runtimes(database_url: str) -> Iterator[Callable[[], Runtime]]:
    """Opens Runtimes, as API processes do, on one initialised database."""
    initialise(Settings(database_url=database_url))
    opened: list[Runtime] = []

    def _open() -> Runtime:
        opened.append(Runtime.open(Settings(database_url=database_url)))
        return opened[-1]

    yield _open
    for runtime in opened:
        runtime.close()


@pytest.fixture
def limiter(runtimes: Callable[[], Runtime], clock: Clock) -> RateLimiter:
    """One API process's limit, on the test's clock (which starts on a whole minute)."""
    runtime = runtimes()
    return RateLimiter(runtime.writer, runtime.reader, PER_MINUTE, clock=lambda: clock.now.timestamp())


def answer(limiter: RateLimiter, client: str = CLIENT) -> int:
    try:
        limiter.check(client)
    except Problem as problem:
        return problem.status
    return 200


def test_the_limit_holds_across_two_api_processes_on_one_database(
        runtimes: Callable[[], Runtime], clock: Clock) -> None:
    first, second = runtimes(), runtimes()
    limiters = [RateLimiter(runtime.writer, runtime.reader, PER_MINUTE, clock=lambda: clock.now.timestamp())
                for runtime in (first, second)]
    assert [answer(limiters[n % 2]) for n in range(6)] == [200, 200, 200, 429, 429, 429]


def test_a_refused_client_is_told_when_a_request_will_fit_again(limiter: RateLimiter, clock: Clock) -> None:
    clock.advance(seconds=15)
    for _ in range(PER_MINUTE):
        limiter.check(CLIENT)
    with pytest.raises(Problem) as refused:
        limiter.check(CLIENT)
    # three requests at 0:15: a fourth fits once a third of them has slid out of the last minute, at 1:20
    assert refused.value.headers["Retry-After"] == "65"


def test_a_client_is_let_in_again_as_its_requests_slide_out_of_the_last_minute(
        limiter: RateLimiter, clock: Clock) -> None:
    clock.advance(seconds=15)
    for _ in range(PER_MINUTE):
        limiter.check(CLIENT)
    clock.advance(seconds=64)
    assert answer(limiter) == 429
    clock.advance(seconds=1)
    assert answer(limiter) == 200


def test_refused_requests_are_not_counted(limiter: RateLimiter, clock: Clock) -> None:
    clock.advance(seconds=15)
    assert [answer(limiter) for _ in range(10)] == [200] * PER_MINUTE + [429] * 7
    clock.advance(seconds=65)
    assert answer(limiter) == 200


def test_counts_older_than_the_previous_minute_are_deleted(limiter: RateLimiter, clock: Clock) -> None:
    start = int(clock.now.timestamp())
    for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        limiter.check(client)
        clock.advance(minutes=1)
    with limiter.reader.connect() as conn:
        windows = conn.execute(select(counts.c.window)).scalars().all()
    assert sorted(windows) == [start + 60, start + 120]


def test_the_counts_keep_a_hash_of_the_client_address_never_the_address(limiter: RateLimiter) -> None:
    limiter.check(CLIENT)
    with limiter.reader.connect() as conn:
        assert conn.execute(select(counts.c.client)).scalars().all() == [digest(CLIENT)]
