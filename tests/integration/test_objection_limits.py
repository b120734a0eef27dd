"""Residents' objections are limited per phone number (a day) and per address (an hour), counted in the
database like the public rate limit but in tables of their own, keeping neither the phone nor the address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from api.compose import Runtime, initialise
from api.i18n import speaking
from api.settings import Settings
from api.web.errors import Problem
from api.web.idempotency import digest
from api.web.ratelimit import ObjectionLimits, RateLimiter, objections_by_address, objections_by_phone
from tests.conftest import Clock

PHONE, ADDRESS = "13712345678", "203.0.113.7"


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    initialise(Settings(database_url=database_url))
    with Runtime.open(Settings(database_url=database_url)) as opened:
        yield opened


@pytest.fixture
def limits(runtime: Runtime, clock: Clock) -> ObjectionLimits:
    """Two objections a day per phone, three an hour per address, on the test's clock."""
    limits = ObjectionLimits.open(runtime.writer, runtime.reader, per_phone_a_day=2, per_address_an_hour=3)
    for limiter in (limits.by_phone, limits.by_address):
        limiter.clock = lambda: clock.now.timestamp()
    return limits


def answer(limits: ObjectionLimits, phone: str = PHONE, address: str = ADDRESS) -> int | str:
    try:
        with speaking("en"):
            limits.check(phone, address)
    except Problem as problem:
        return problem.detail
    return 200


def test_a_phone_has_its_share_of_objections_for_a_day(limits: ObjectionLimits, clock: Clock) -> None:
    assert [answer(limits, address=f"203.0.113.{n}") for n in range(3)] == [
        200, 200, "at most 2 objections a day from one phone number"]
    clock.advance(hours=23)
    assert answer(limits, address="203.0.113.9") != 200
    clock.advance(days=2)
    assert answer(limits, address="203.0.113.9") == 200


def test_an_address_has_its_share_of_objections_for_an_hour_whatever_the_phones(
        limits: ObjectionLimits, clock: Clock) -> None:
    assert [answer(limits, phone=f"1370000000{n}") for n in range(4)] == [
        200, 200, 200, "at most 3 objections an hour from one address"]
    clock.advance(hours=2)
    assert answer(limits, phone="13700000009") == 200


def test_the_public_rate_limit_sweeping_its_minutes_leaves_the_objection_counts(
        runtime: Runtime, limits: ObjectionLimits, clock: Clock) -> None:
    limits.check(PHONE, ADDRESS)
    public = RateLimiter(runtime.writer, runtime.reader, 30, clock=lambda: clock.now.timestamp())
    clock.advance(minutes=10)
    public.check(ADDRESS)   # deletes the public counts older than the previous minute
    with runtime.reader.connect() as conn:
        kept = {table.name: conn.execute(select(table.c.client)).scalars().all()
                for table in (objections_by_phone, objections_by_address)}
    assert kept == {objections_by_phone.name: [digest(PHONE)], objections_by_address.name: [digest(ADDRESS)]}
