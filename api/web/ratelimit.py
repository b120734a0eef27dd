"""The public routes' rate limit: at most so many requests per client in any minute, counted in the
database, so that every API process on it shares one count. The same limiter, over a window of its own
and a table of its own, limits residents' objections per phone number and per address (`objection_limits`).

A sliding window counter (as `limits` and Cloudflare have it): each client has one row per minute of
the clock (a hash of its address, the minute, the requests accepted in it). The requests of the last
60 s are taken as this minute's count plus the previous minute's, weighed by how much of it those
60 s still cover; a request is accepted when that stays within the limit, by one upsert that adds it
only while the minute's count is below what the limit leaves (so two processes never both take the
last place). A refused request writes nothing, so a flood costs one read a request.

When a process first counts in a new minute it deletes the rows older than the previous minute, so
the table holds at most two rows per client seen in the last two minutes, and the process holds
nothing per client. Processes are assumed to agree on the time within a few seconds (NTP).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from api.i18n import gettext
from api.web.errors import Problem
from api.web.idempotency import digest

WINDOW = 60  # seconds

metadata = MetaData()



def counts_table(name: str) -> Table:
    """A limiter's counts: one row per client and window (each limiter its own table, as each sweeps its
    own windows)."""
    return Table(
        name, metadata,
        Column("client", String(64), primary_key=True),  # SHA-256 of the address (or phone), never it
        Column("window", BigInteger, primary_key=True),  # the window counted: its start, seconds since 1970
        Column("requests", Integer, nullable=False),     # the requests accepted in it
    )


counts = counts_table("api_rate_limit")
objections_by_phone = counts_table("api_objection_limit_phone")
objections_by_address = counts_table("api_objection_limit_address")


def requests_a_minute(limit: int) -> str:
    return gettext("at most {limit} public requests a minute").format(limit=limit)


class RateLimiter:
    """At most `per_minute` requests per client in any minute (or, given `window` in seconds and a table
    of its own, in any such window), across every API process on the database. `refusal` words the
    limit for the person refused, in the request's language."""

    def __init__(self, writer: Engine, reader: Engine, per_minute: int,
                 clock: Callable[[], float] = time.time, *, window: int = WINDOW, table: Table = counts,
                 refusal: Callable[[int], str] = requests_a_minute) -> None:
        self.writer, self.reader, self.limit, self.clock = writer, reader, per_minute, clock
        self.window, self.counts, self.refusal = window, table, refusal
        self.insert = postgresql.insert if writer.dialect.name == "postgresql" else sqlite.insert
        self.swept = 0  # the window in which this process last deleted old rows

    def check(self, client: str) -> None:
        """Count a request of `client`; a 429 problem, with Retry-After, when it is one too many."""
        now = self.clock()
        window = int(now // self.window) * self.window
        if window > self.swept:
            self.sweep(window)
        key = digest(client)
        previous, current = self.counted(key, window)
        # how many requests this window may hold by now: the limit, less the previous window's
        # requests still inside the last `self.window` seconds
        room = math.floor((self.limit * self.window - previous * (window + self.window - now))
                          / self.window)
        if current >= room or not self.accepted(key, window, room):
            raise Problem(429, "rate-limited", gettext("Too many requests"),
                          self.refusal(self.limit),
                          {"Retry-After": str(self.retry_after(now, window, previous, max(current, room)))})

    def counted(self, client: str, window: int) -> tuple[int, int]:
        """The client's requests accepted in the previous minute and in this one."""
        with self.reader.connect() as conn:
            c = self.counts.c
            rows = dict(conn.execute(select(c.window, c.requests).where(
                c.client == client, c.window.in_([window - self.window, window]))).all())
        return rows.get(window - self.window, 0), rows.get(window, 0)

    def accepted(self, client: str, window: int, room: int) -> bool:
        """Add the request to the minute's count if the count is still below `room`, atomically."""
        upsert = self.insert(self.counts).values(client=client, window=window, requests=1)
        upsert = upsert.on_conflict_do_update(index_elements=[self.counts.c.client, self.counts.c.window],
                                              set_={"requests": self.counts.c.requests + 1},
                                              where=self.counts.c.requests < room)
        with self.writer.begin() as conn:
            return conn.execute(upsert.returning(self.counts.c.requests)).first() is not None

    def retry_after(self, now: float, window: int, previous: int, current: int) -> int:
        """Whole seconds until one more request fits: later in this minute, as the previous one's
        weight falls, or (when this minute alone is full) some way into the next."""
        if current < self.limit:
            fits = window + self.window - self.window * (self.limit - current - 1) / previous
        else:
            fits = window + self.window + self.window * (1 - (self.limit - 1) / max(current, 1))
        return max(1, math.ceil(fits - now))

    def sweep(self, window: int) -> None:
        """Delete the counts older than the previous minute, in a transaction of its own (a count
        then never holds the locks of a sweep)."""
        with self.writer.begin() as conn:
            conn.execute(delete(self.counts).where(self.counts.c.window < window - self.window))
        self.swept = window


def objections_a_day_from_a_phone(limit: int) -> str:
    return gettext("at most {limit} objections a day from one phone number").format(limit=limit)


def objections_an_hour_from_an_address(limit: int) -> str:
    return gettext("at most {limit} objections an hour from one address").format(limit=limit)


@dataclass(frozen=True)
class ObjectionLimits:
    """Residents' objections to notices, lodged without an account: at most so many a day from one
    phone number (the phone that is left to be called back) and so many an hour from one address."""

    by_phone: RateLimiter
    by_address: RateLimiter

    @classmethod
    def open(cls, writer: Engine, reader: Engine, *, per_phone_a_day: int,
             per_address_an_hour: int) -> ObjectionLimits:
        return cls(RateLimiter(writer, reader, per_phone_a_day, window=24 * 3600, table=objections_by_phone,
                               refusal=objections_a_day_from_a_phone),
                   RateLimiter(writer, reader, per_address_an_hour, window=3600, table=objections_by_address,
                               refusal=objections_an_hour_from_an_address))

    def check(self, phone: str, address: str) -> None:
        """Count an objection from `phone` at `address`; a 429 problem when either has had its share."""
        self.by_address.check(address)
        self.by_phone.check(phone)
