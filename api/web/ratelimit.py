"""The public routes' rate limit: at most so many requests per client in any minute, counted in the
database, so that every API process on it shares one count.

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

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from api.i18n import gettext
from api.web.errors import Problem
from api.web.idempotency import digest

WINDOW = 60  # seconds

metadata = MetaData()

counts = Table(
    "api_rate_limit", metadata,
    Column("client", String(64), primary_key=True),    # SHA-256 of the client's address, never the address
    Column("window", BigInteger, primary_key=True),    # the minute counted: its start, in seconds since 1970
    Column("requests", Integer, nullable=False),       # the requests accepted in it
)


class RateLimiter:
    """At most `per_minute` requests per client in any minute, across every API process on the
    database."""

    def __init__(self, writer: Engine, reader: Engine, per_minute: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.writer, self.reader, self.limit, self.clock = writer, reader, per_minute, clock
        self.insert = postgresql.insert if writer.dialect.name == "postgresql" else sqlite.insert
        self.swept = 0  # the minute in which this process last deleted old rows

    def check(self, client: str) -> None:
        """Count a request of `client`; a 429 problem, with Retry-After, when it is one too many."""
        now = self.clock()
        window = int(now // WINDOW) * WINDOW
        if window > self.swept:
            self.sweep(window)
        key = digest(client)
        previous, current = self.counted(key, window)
        # how many requests this minute may hold by now: the limit, less the previous minute's
        # requests still inside the last 60 s
        room = math.floor((self.limit * WINDOW - previous * (window + WINDOW - now)) / WINDOW)
        if current >= room or not self.accepted(key, window, room):
            raise Problem(429, "rate-limited", gettext("Too many requests"),
                          gettext("at most {limit} public requests a minute").format(limit=self.limit),
                          {"Retry-After": str(self.retry_after(now, window, previous, max(current, room)))})

    def counted(self, client: str, window: int) -> tuple[int, int]:
        """The client's requests accepted in the previous minute and in this one."""
        with self.reader.connect() as conn:
            rows = dict(conn.execute(select(counts.c.window, counts.c.requests).where(
                counts.c.client == client, counts.c.window.in_([window - WINDOW, window]))).all())
        return rows.get(window - WINDOW, 0), rows.get(window, 0)

    def accepted(self, client: str, window: int, room: int) -> bool:
        """Add the request to the minute's count if the count is still below `room`, atomically."""
        upsert = self.insert(counts).values(client=client, window=window, requests=1)
        upsert = upsert.on_conflict_do_update(index_elements=[counts.c.client, counts.c.window],
                                              set_={"requests": counts.c.requests + 1},
                                              where=counts.c.requests < room)
        with self.writer.begin() as conn:
            return conn.execute(upsert.returning(counts.c.requests)).first() is not None

    def retry_after(self, now: float, window: int, previous: int, current: int) -> int:
        """Whole seconds until one more request fits: later in this minute, as the previous one's
        weight falls, or (when this minute alone is full) some way into the next."""
        if current < self.limit:
            fits = window + WINDOW - WINDOW * (self.limit - current - 1) / previous
        else:
            fits = window + WINDOW + WINDOW * (1 - (self.limit - 1) / max(current, 1))
        return max(1, math.ceil(fits - now))

    def sweep(self, window: int) -> None:
        """Delete the counts older than the previous minute, in a transaction of its own (a count
        then never holds the locks of a sweep)."""
        with self.writer.begin() as conn:
            conn.execute(delete(counts).where(counts.c.window < window - WINDOW))
        self.swept = window
